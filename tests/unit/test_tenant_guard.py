"""The permission check finds the reach to every tenant a request names — in the path, the
query, and the JSON body — before the handler runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from litestar.testing import AsyncTestClient

from admin_core.kernel.principal import Permission, Principal
from entrypoints.http.errors import handle_exception
from entrypoints.http.requests import check_request
from entrypoints.http.security import current_principal, requires
from tests.support.http import ApiClient, api

APOLLO, APOLLO_ORG, BUMRUNGRAD = "apollo-chennai", "org_apollo_chennai", "bumrungrad-bangkok"
reached: list[str] = []


@post("/thresholds/{tenant_id:str}", opt=requires(Permission.TENANT_MANAGE))
async def tune(
    principal: NamedDependency[Principal],
    tenant_id: FromPath[str],
    data: JSONBody[dict[str, Any]],
) -> dict[str, str]:
    """A route shaped like the coming PUT/POST bodies that carry a tenant id."""
    reached.append(tenant_id)
    return {"by": principal.user_id}


@post("/overrides", opt=requires(Permission.TENANT_MANAGE))
async def override(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    reached.append(str(data.get("tenant_id")))
    return data


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[AsyncTestClient[Any], ApiClient]]:
    reached.clear()
    async with api(tmp_path) as http:
        app = Litestar(
            [tune, override],
            dependencies={"principal": Provide(current_principal, sync_to_thread=False)},
            exception_handlers={Exception: handle_exception},
            before_request=check_request,
        )
        app.state.container = http.container
        async with AsyncTestClient(app) as test_client:
            yield test_client, http


async def test_a_tenant_in_the_body_is_checked_like_one_in_the_path(
    client: tuple[AsyncTestClient[Any], ApiClient],
) -> None:
    test_client, http = client
    apollo_admin = http.auth(role="org:admin", org=APOLLO_ORG)
    own = await test_client.post("/overrides", json={"tenant_id": APOLLO}, headers=apollo_admin)
    other = await test_client.post(
        "/overrides", json={"tenant_id": BUMRUNGRAD, "flag": "x"}, headers=apollo_admin
    )
    assert own.status_code == 201
    assert other.status_code == 403
    assert other.json()["errors"][0]["code"] == "AUTH_INSUFFICIENT_PERMISSION"
    assert other.json()["errors"][0]["details"]["tenant_id"] == BUMRUNGRAD
    assert reached == [APOLLO]  # the refused request never reached its handler


async def test_every_named_tenant_must_be_reached(
    client: tuple[AsyncTestClient[Any], ApiClient],
) -> None:
    test_client, http = client
    apollo_admin = http.auth(role="org:admin", org=APOLLO_ORG)
    smuggled = await test_client.post(
        f"/thresholds/{APOLLO}", json={"tenant_id": BUMRUNGRAD}, headers=apollo_admin
    )
    consistent = await test_client.post(
        f"/thresholds/{APOLLO}", json={"tenant_id": APOLLO}, headers=apollo_admin
    )
    assert smuggled.status_code == 403
    assert consistent.status_code == 201
    assert reached == [APOLLO]


async def test_platform_callers_reach_every_tenant_named_in_a_body(
    client: tuple[AsyncTestClient[Any], ApiClient],
) -> None:
    test_client, http = client
    response = await test_client.post(
        "/overrides", json={"tenant_id": BUMRUNGRAD}, headers=http.auth(role="org:admin")
    )
    assert response.status_code == 201


@pytest.mark.parametrize("body", [b"{", b"[1, 2]", b'"apollo"', b"null"], ids=repr)
async def test_a_body_the_guard_cannot_read_is_left_to_validation(
    client: tuple[AsyncTestClient[Any], ApiClient], body: bytes
) -> None:
    test_client, http = client
    response = await test_client.post(
        "/overrides",
        content=body,
        headers={**http.auth(role="org:admin", org=APOLLO_ORG), "content-type": "application/json"},
    )
    assert response.status_code in {400, 422}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        # in the path, with a role that is no role
        ("POST", f"/api/v1/admin/tenants/{BUMRUNGRAD}/users/user_x/roles", {"role": "Admin!"}),
        # in the path, with a field the operation does not take
        ("PATCH", f"/api/v1/admin/tenants/{BUMRUNGRAD}", {"name": "x", "owner": "me"}),
        # in the query, beside a parameter the operation does not declare
        ("GET", f"/api/v1/admin/mso/doctors?tenant_id={BUMRUNGRAD}&limit=0&sort=x", None),
        # twice in the query, the second another tenant
        ("GET", f"/api/v1/admin/flags/effective?tenant_id={APOLLO}&tenant_id={BUMRUNGRAD}", None),
        # in the body, with the other fields missing or of the wrong type
        ("POST", "/api/v1/admin/flags/identity-override", {"tenant_id": BUMRUNGRAD}),
        ("PUT", "/api/v1/admin/triage/thresholds", {"tenant_id": BUMRUNGRAD, "values": 1}),
    ],
    ids=["path", "path+unknown field", "query", "query twice", "body", "body+wrong type"],
)
async def test_naming_another_tenant_is_403_whatever_else_the_request_holds(
    tmp_path: Path, method: str, path: str, body: dict[str, Any] | None
) -> None:
    """SPEC §5: a tenant-scoped caller naming another tenant gets 403; the rest of its request
    is not looked at, so its errors tell nothing about what the other tenant would take."""
    async with api(tmp_path) as http:
        response = await http.client.request(
            method,
            path,
            json=body,
            headers=http.auth(role="org:admin", org=APOLLO_ORG, user="user_apollo_admin"),
        )
    assert response.status_code == 403, response.text
    [error] = response.json()["errors"]
    assert error["code"] == "AUTH_INSUFFICIENT_PERMISSION"
    assert error["details"]["tenant_id"] == BUMRUNGRAD
