"""The flag and triage routes (SPEC §6.2, §6.6): what each answers, who may call them, and
bad values refused in the envelope with nothing written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.http import ApiClient, api

FLAGS = "/api/v1/admin/flags"
OVERRIDE = f"{FLAGS}/identity-override"
TRIAGE = "/api/v1/admin/triage/thresholds"
APOLLO = "apollo-chennai"


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[ApiClient]:
    async with api(tmp_path) as client:
        yield client


def override(flag: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {"tenant_id": APOLLO, "flag": flag, "value": value, "reason": "pilot", **extra}


async def effective(http: ApiClient, tenant_id: str = APOLLO) -> dict[str, Any]:
    response = await http.client.get(
        f"{FLAGS}/effective", params={"tenant_id": tenant_id}, headers=http.auth()
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def audited(http: ApiClient, action: str) -> list[dict[str, Any]]:
    response = await http.client.get(
        "/api/v1/admin/audit-log",
        params={"tenant_id": APOLLO, "action": action},
        headers=http.auth(),
    )
    entries: list[dict[str, Any]] = response.json()["data"]["entries"]
    return entries


async def test_an_override_answers_previous_and_new_value_and_shows_as_applied(
    http: ApiClient,
) -> None:
    response = await http.client.post(
        OVERRIDE, json=override("mso_max_offers_per_case", 6), headers=http.auth()
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {
        "tenant_id": APOLLO,
        "flag": "mso_max_offers_per_case",
        "previous_value": 3,
        "value": 6,
        "overrides_applied": ["mso_max_offers_per_case"],
    }
    data = await effective(http)
    assert data["flags"]["mso_max_offers_per_case"] == 6
    assert data["overrides_applied"] == ["mso_max_offers_per_case"]
    [entry] = await audited(http, "flag.identity_override")
    assert entry["after"] == {"value": 6, "overridden": True, "reason": "pilot"}
    deleted = await http.client.delete(
        OVERRIDE,
        params={"tenant_id": APOLLO, "flag": "mso_max_offers_per_case"},
        headers=http.auth(),
    )
    assert deleted.status_code == 204
    assert (await effective(http))["flags"]["mso_max_offers_per_case"] == 3
    assert len(await audited(http, "flag.identity_override_removed")) == 1


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (override("no_such_flag", 1), "FLAG_UNKNOWN", "flag"),
        (override("enable_mso_booking", "true"), "FLAG_VALUE_INVALID", "value"),
        (override("mso_max_offers_per_case", 3.5), "FLAG_VALUE_INVALID", "value"),
        (override("mso_max_offers_per_case", 21), "FLAG_VALUE_INVALID", "value"),
        (override("triage_layer_advance_threshold", 0.72), "FLAG_VALUE_INVALID", "value"),
        (
            override("matching_domain_weights", {"clinical_context": 0.5, "data_quality": 0.5}),
            "FLAG_VALUE_INVALID",
            "value",
        ),
        (override("matching_strategy_version", None), "FLAG_VALUE_INVALID", "value"),
        (override("enable_mso_booking", False, colour="red"), "VALIDATION_ERROR", "colour"),
        (override("enable_mso_booking", False, reason=" "), "VALIDATION_ERROR", "reason"),
        (
            {"tenant_id": APOLLO, "flag": "enable_mso_booking", "reason": "r"},
            "VALIDATION_ERROR",
            "value",
        ),
    ],
)
async def test_a_bad_override_is_422_naming_the_field_and_writes_nothing(
    http: ApiClient, body: dict[str, Any], code: str, field: str
) -> None:
    response = await http.client.post(OVERRIDE, json=body, headers=http.auth())
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert (error["code"], error["field"]) == (code, field)
    assert (await effective(http))["overrides_applied"] == []
    assert await audited(http, "flag.*") == []


async def test_a_triage_update_names_every_bad_value_at_once_and_writes_nothing(
    http: ApiClient,
) -> None:
    body = {
        "tenant_id": APOLLO,
        "values": {
            "mso_max_offers_per_case": 5,  # fine, but not written: all or nothing
            "triage_risk_threshold": 1.5,
            "mso_completion_threshold": 0.83,
            "enable_mso_booking": False,  # a flag, not a threshold
        },
        "reason": "tune",
    }
    response = await http.client.put(TRIAGE, json=body, headers=http.auth())
    assert response.status_code == 422
    errors = {e["field"]: e["code"] for e in response.json()["errors"]}
    assert errors == {
        "values.triage_risk_threshold": "FLAG_VALUE_INVALID",
        "values.mso_completion_threshold": "FLAG_VALUE_INVALID",
        "values.enable_mso_booking": "FLAG_UNKNOWN",
    }
    shown = await http.client.get(TRIAGE, params={"tenant_id": APOLLO}, headers=http.auth())
    assert not any(t["overridden"] for t in shown.json()["data"]["thresholds"])
    assert await audited(http, "triage_threshold.update") == []


async def test_thresholds_show_value_default_range_and_override(http: ApiClient) -> None:
    body = {"tenant_id": APOLLO, "values": {"mso_pfs_skip_threshold": 90}, "reason": "tune"}
    response = await http.client.put(TRIAGE, json=body, headers=http.auth())
    assert response.status_code == 200, response.text
    thresholds = {t["name"]: t for t in response.json()["data"]["thresholds"]}
    assert list(thresholds) == [
        "triage_risk_threshold",
        "triage_layer_advance_threshold",
        "mso_completion_threshold",
        "mso_pfs_skip_threshold",
        "mso_max_offers_per_case",
        "mso_eligible_decision_stages",
    ]
    assert thresholds["mso_pfs_skip_threshold"] | {"description": ""} == {
        "name": "mso_pfs_skip_threshold",
        "type": "int",
        "value": 90,
        "default": 60,
        "overridden": True,
        "min": 0,
        "max": 365,
        "step": None,
        "allowed": [],
        "unit": "days",
        "description": "",
    }
    assert thresholds["triage_layer_advance_threshold"]["step"] == 0.05
    [entry] = await audited(http, "triage_threshold.update")
    assert entry["event_type"] == "ADMIN_FLAG_IDENTITY_OVERRIDE"
    assert entry["before"] == {"value": 60, "overridden": False}


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", f"{FLAGS}/effective", {"params": {"tenant_id": "bumrungrad-bangkok"}}),
        (
            "POST",
            OVERRIDE,
            {"json": override("enable_mso_booking", False) | {"tenant_id": "bumrungrad-bangkok"}},
        ),
        (
            "DELETE",
            OVERRIDE,
            {"params": {"tenant_id": "bumrungrad-bangkok", "flag": "enable_mso_booking"}},
        ),
        ("GET", TRIAGE, {"params": {"tenant_id": "bumrungrad-bangkok"}}),
        (
            "PUT",
            TRIAGE,
            {
                "json": {
                    "tenant_id": "bumrungrad-bangkok",
                    "values": {"mso_max_offers_per_case": 4},
                    "reason": "r",
                }
            },
        ),
    ],
)
async def test_a_tenant_admin_reaches_only_its_own_tenant(
    http: ApiClient, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    apollo_admin = http.auth(role="org:admin", org="org_apollo_chennai")
    response = await http.client.request(method, path, headers=apollo_admin, **kwargs)
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "AUTH_INSUFFICIENT_PERMISSION"
    own = await http.client.get(
        f"{FLAGS}/effective", params={"tenant_id": APOLLO}, headers=apollo_admin
    )
    assert own.status_code == 200


async def test_a_coordinator_may_not_read_or_change_flags(http: ApiClient) -> None:
    coordinator = http.auth(role="org:coordinator")
    read = await http.client.get(TRIAGE, params={"tenant_id": APOLLO}, headers=coordinator)
    write = await http.client.post(
        OVERRIDE, json=override("enable_mso_booking", False), headers=coordinator
    )
    assert (read.status_code, write.status_code) == (403, 403)


async def test_an_unknown_tenant_is_404(http: ApiClient) -> None:
    response = await http.client.get(
        f"{FLAGS}/effective", params={"tenant_id": "nowhere"}, headers=http.auth()
    )
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "TENANT_NOT_FOUND"


async def test_thresholds_read_before_another_operators_change_are_not_saved_over_it(
    http: ApiClient,
) -> None:
    """Two operators read 60; one saves 90. The other's save of 75, made with what it read
    (`expected`), is 409 TRIAGE_THRESHOLDS_CHANGED naming the value now, and writes nothing;
    with what is there now, it goes through."""
    name = "mso_pfs_skip_threshold"

    async def save(value: int, seen: int | None) -> Any:
        body: dict[str, Any] = {"tenant_id": APOLLO, "values": {name: value}, "reason": "r"}
        if seen is not None:
            body["expected"] = {name: seen}
        return await http.client.put(TRIAGE, json=body, headers=http.auth())

    assert (await save(90, seen=60)).status_code == 200
    stale = await save(75, seen=60)
    assert stale.status_code == 409, stale.text
    [error] = stale.json()["errors"]
    assert error["code"] == "TRIAGE_THRESHOLDS_CHANGED"
    assert error["details"] == {"changed": {name: 90}}
    assert "mso_pfs_skip_threshold is now 90" in error["message"]
    shown = await http.client.get(TRIAGE, params={"tenant_id": APOLLO}, headers=http.auth())
    values = {t["name"]: t["value"] for t in shown.json()["data"]["thresholds"]}
    assert values[name] == 90
    assert len(await audited(http, "triage_threshold.update")) == 1
    assert (await save(75, seen=90)).status_code == 200


@pytest.mark.parametrize(
    ("value", "seen", "now"),
    [(90, 60, 90), (None, 90, 60)],
    ids=["a value set", "an override cleared"],
)
async def test_a_save_repeated_after_its_answer_was_lost_is_no_conflict(
    http: ApiClient, value: int | None, seen: int, now: int
) -> None:
    """The first save went through but its answer never reached the caller, who saves again
    with what it had read: the tenant already has what is asked, so the second is a 200 that
    writes nothing, not a 409 blaming someone else."""
    name = "mso_pfs_skip_threshold"
    if seen != 60:  # an override to clear
        body = {"tenant_id": APOLLO, "values": {name: seen}, "reason": "set"}
        assert (await http.client.put(TRIAGE, json=body, headers=http.auth())).status_code == 200
    audited_before = len(await audited(http, "triage_threshold.update"))
    body = {"tenant_id": APOLLO, "values": {name: value}, "expected": {name: seen}, "reason": "r"}
    first = await http.client.put(TRIAGE, json=body, headers=http.auth())
    again = await http.client.put(TRIAGE, json=body, headers=http.auth())
    assert (first.status_code, again.status_code) == (200, 200), again.text
    assert again.json()["data"] == first.json()["data"]
    [shown] = [t for t in again.json()["data"]["thresholds"] if t["name"] == name]
    assert (shown["value"], shown["overridden"]) == (now, value is not None)
    assert len(await audited(http, "triage_threshold.update")) == audited_before + 1


@pytest.mark.parametrize(
    ("flag", "value", "refused"),
    [
        ("mso_max_offers_per_case", 99, ("FLAG_VALUE_INVALID", "value")),
        ("no_such_flag", 1, ("FLAG_UNKNOWN", "flag")),
    ],
)
async def test_a_refused_reason_does_not_hide_the_override_refused_with_it(
    http: ApiClient, flag: str, value: Any, refused: tuple[str, str]
) -> None:
    body = override(flag, value, reason="")
    response = await http.client.post(OVERRIDE, json=body, headers=http.auth())
    assert response.status_code == 422, response.text
    named = {(e["code"], e["field"]) for e in response.json()["errors"]}
    assert named == {("VALIDATION_ERROR", "reason"), refused}
    assert await audited(http, "flag.identity_override") == []


@pytest.mark.parametrize("reason", ["", "   ", None], ids=["empty", "blank", "missing"])
async def test_a_refused_reason_does_not_hide_the_values_refused_with_it(
    http: ApiClient, reason: str | None
) -> None:
    """One answer names every offending field: the values the catalogue refuses are named
    beside a reason refused for its form, not only once the reason is given."""
    body: dict[str, Any] = {
        "tenant_id": APOLLO,
        "values": {"triage_risk_threshold": 1.5, "mso_pfs_skip_threshold": 61, "nope": 1},
        "expected": {"enable_mso_booking": True},
    }
    if reason is not None:
        body["reason"] = reason
    before = (
        await http.client.get(TRIAGE, params={"tenant_id": APOLLO}, headers=http.auth())
    ).json()
    response = await http.client.put(TRIAGE, json=body, headers=http.auth())
    assert response.status_code == 422, response.text
    named = {(e["code"], e["field"]) for e in response.json()["errors"]}
    assert named == {
        ("VALIDATION_ERROR", "reason"),
        ("FLAG_VALUE_INVALID", "values.triage_risk_threshold"),
        ("FLAG_UNKNOWN", "values.nope"),
        ("FLAG_UNKNOWN", "expected.enable_mso_booking"),
    }
    after = (
        await http.client.get(TRIAGE, params={"tenant_id": APOLLO}, headers=http.auth())
    ).json()
    assert after["data"] == before["data"]
    assert await audited(http, "triage_threshold.update") == []


async def test_an_expected_value_of_something_that_is_no_threshold_is_named(
    http: ApiClient,
) -> None:
    response = await http.client.put(
        TRIAGE,
        json={
            "tenant_id": APOLLO,
            "values": {"mso_pfs_skip_threshold": 75},
            "expected": {"enable_mso_booking": True},
            "reason": "r",
        },
        headers=http.auth(),
    )
    assert response.status_code == 422
    assert [(e["code"], e["field"]) for e in response.json()["errors"]] == [
        ("FLAG_UNKNOWN", "expected.enable_mso_booking")
    ]
