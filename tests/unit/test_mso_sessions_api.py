"""The MSO session routes (SPEC §6.4) on the embedded mode: lists with every filter, refunds
through the sandbox exactly once, who may do what, and bad input refused with nothing
changed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from admin_core.payments.model import REFUNDABLE, SessionStatus
from tests.support.http import ApiClient, api

SESSIONS = "/api/v1/admin/mso/sessions"
APOLLO = "apollo-chennai"


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[ApiClient]:
    async with api(tmp_path) as client:
        yield client


async def listed(http: ApiClient, **params: Any) -> dict[str, Any]:
    response = await http.client.get(SESSIONS, params=params, headers=http.auth())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["meta"]["total"] == body["data"]["total"]
    return dict(body["data"])


async def a_session(
    http: ApiClient, status: SessionStatus, provider: str = "stripe"
) -> dict[str, Any]:
    page = await listed(http, status=status.value, tenant_id=APOLLO, limit=200)
    return next(s for s in page["sessions"] if s["payment_provider"] == provider)


async def refund(http: ApiClient, session_id: str, **auth: Any) -> Any:
    return await http.client.post(
        f"{SESSIONS}/{session_id}/refund",
        json={"reason": "patient asked"},
        headers=http.auth(**auth),
    )


async def test_the_list_is_newest_first_with_its_total_and_pages(http: ApiClient) -> None:
    everything = await listed(http, limit=200)
    times = [s["scheduled_at"] for s in everything["sessions"]]
    assert times == sorted(times, reverse=True)
    assert everything["total"] == len(everything["sessions"])
    page = await listed(http, limit=5, offset=5)
    assert [s["id"] for s in page["sessions"]] == [s["id"] for s in everything["sessions"][5:10]]
    assert (page["total"], page["limit"], page["offset"]) == (everything["total"], 5, 5)


async def test_filters_narrow_the_list(http: ApiClient) -> None:
    pending = await listed(http, status="refund_pending", limit=200)
    assert pending["sessions"]
    assert {s["status"] for s in pending["sessions"]} == {"refund_pending"}
    apollo = await listed(http, tenant_id=APOLLO, limit=200)
    assert {s["tenant_id"] for s in apollo["sessions"]} == {APOLLO}
    day = apollo["sessions"][0]["scheduled_at"][:10]
    that_day = await listed(http, from_date=day, to_date=day, limit=200)
    assert that_day["sessions"]
    assert all(s["scheduled_at"].startswith(day) for s in that_day["sessions"])


@pytest.mark.parametrize(
    "params",
    [
        {"status": "lost"},
        {"limit": 0},
        {"limit": 201},
        {"offset": -1},
        {"from_date": "yesterday"},
        {"tenant_id": "Bad Tenant"},
        {"sort": "asc"},
    ],
)
async def test_bad_filters_are_a_422(http: ApiClient, params: dict[str, Any]) -> None:
    response = await http.client.get(SESSIONS, params=params, headers=http.auth())
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["code"] == "VALIDATION_ERROR"


async def test_a_tenant_admin_sees_only_its_own_sessions(http: ApiClient) -> None:
    own = await http.client.get(SESSIONS, headers=http.auth(org="org_apollo_chennai"))
    assert own.status_code == 200, own.text
    assert {s["tenant_id"] for s in own.json()["data"]["sessions"]} == {APOLLO}
    other = await http.client.get(
        SESSIONS,
        params={"tenant_id": "bumrungrad-bangkok"},
        headers=http.auth(org="org_apollo_chennai"),
    )
    assert other.status_code == 403


async def test_a_refund_goes_through_the_sandbox_once_and_is_audited(http: ApiClient) -> None:
    session = await a_session(http, SessionStatus.COMPLETED)
    first = await refund(http, session["id"])
    assert first.status_code == 200, first.text
    data = first.json()["data"]
    assert data["status"] == "refunded"
    assert data["refund"]["provider"] == "sandbox"
    assert data["refund"]["status"] == "succeeded"
    assert data["refund"]["amount_minor"] == session["amount_minor"]
    again = await refund(http, session["id"])
    assert again.status_code == 200
    assert again.json()["data"]["refund"] == data["refund"]
    entries = (
        await http.client.get(
            "/api/v1/admin/audit-log",
            params={"tenant_id": APOLLO, "action": "mso_session.refund"},
            headers=http.auth(),
        )
    ).json()["data"]["entries"]
    assert [e["resource_id"] for e in entries] == [session["id"]]
    assert entries[0]["before"] == {"status": "completed"}
    assert entries[0]["after"]["status"] == "refunded"


@pytest.mark.parametrize(
    "status", sorted(set(SessionStatus) - REFUNDABLE - {SessionStatus.REFUNDED})
)
async def test_statuses_that_cannot_be_refunded_are_a_409(
    http: ApiClient, status: SessionStatus
) -> None:
    session = await a_session(http, status)
    response = await refund(http, session["id"])
    assert response.status_code == 409, response.text
    assert response.json()["errors"][0]["code"] == "MSO_REFUND_NOT_ALLOWED"
    assert (await a_session(http, status))["status"] == status.value


@pytest.mark.parametrize("status", sorted(REFUNDABLE))
async def test_every_refundable_status_can_be_refunded(
    http: ApiClient, status: SessionStatus
) -> None:
    session = await a_session(http, status, provider="razorpay")
    response = await refund(http, session["id"])
    assert response.status_code == 200, response.text
    assert response.json()["data"]["status"] == "refunded"


async def test_unknown_sessions_are_a_404(http: ApiClient) -> None:
    response = await refund(http, "mso_nobody")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "MSO_SESSION_NOT_FOUND"


async def test_refunds_need_platform_scope(http: ApiClient) -> None:
    session = await a_session(http, SessionStatus.PAID)
    response = await refund(http, session["id"], org="org_apollo_chennai")
    assert response.status_code == 403
    # The tenant's admin holds `tenant:manage`; what it lacks is the platform scope.
    assert response.json()["errors"][0]["details"] == {
        "permission": "tenant:manage",
        "scope": "platform",
    }
    coordinator = await refund(http, session["id"], role="org:coordinator")
    assert coordinator.status_code == 403
    assert (await a_session(http, SessionStatus.PAID))["status"] == "paid"


async def test_a_tenant_admin_learns_it_lacks_the_scope_before_anything_about_its_body(
    http: ApiClient,
) -> None:
    session = await a_session(http, SessionStatus.PAID)
    response = await http.client.post(
        f"{SESSIONS}/{session['id']}/refund",
        json={"reason": "", "amount": 5},
        headers=http.auth(org="org_apollo_chennai"),
    )
    assert response.status_code == 403, response.text


@pytest.mark.parametrize(
    "body", [{}, {"reason": ""}, {"reason": "x" * 501}, {"reason": "ok", "amount": 5}]
)
async def test_bad_refund_bodies_are_a_422_and_change_nothing(
    http: ApiClient, body: dict[str, Any]
) -> None:
    session = await a_session(http, SessionStatus.PAID)
    response = await http.client.post(
        f"{SESSIONS}/{session['id']}/refund", json=body, headers=http.auth()
    )
    assert response.status_code == 422, response.text
    assert (await a_session(http, SessionStatus.PAID))["status"] == "paid"
