"""An update that changes nothing writes nothing, in every area: no audit entry, no
`updated_at`, no change planned for a vendor (no intent) — whether it names no field or
gives every field its current value. The API answers the state as it is; the CLI says that
nothing changed instead of "updated" (docs/adr/0042)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from admin_core.mso_doctors.rules import UPDATABLE_FIELDS
from entrypoints.cli.main import main
from tests.support.http import ApiClient, api

ADMIN = "/api/v1/admin"
TENANT = "apollo-chennai"
ORG = "org_apollo_chennai_test"
FLAG = "enable_mso_booking"


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[ApiClient]:
    async with api(tmp_path) as client:
        yield client


async def _doctor(http: ApiClient) -> dict[str, Any]:
    answer = await http.client.get(
        f"{ADMIN}/mso/doctors", params={"tenant_id": TENANT, "limit": 1}, headers=http.auth()
    )
    doctor: dict[str, Any] = answer.json()["data"]["doctors"][0]
    return doctor


async def _tenant(http: ApiClient) -> dict[str, Any]:
    answer = await http.client.get(
        f"{ADMIN}/tenants", params={"tenant_id": TENANT}, headers=http.auth()
    )
    tenant: dict[str, Any] = answer.json()["data"]["tenants"][0]
    return tenant


async def _send(http: ApiClient, method: str, path: str, **kwargs: Any) -> Any:
    response = await http.client.request(
        method, f"{ADMIN}{path}", headers=http.auth("org:super_admin"), **kwargs
    )
    assert response.status_code in (200, 201, 204), response.text
    return response


def _written(http: ApiClient) -> Any:
    """Everything an update may write."""
    store = http.container.database.store()
    return (
        len(store.audit_entries),
        dict(store.tenants),
        dict(store.mso_doctors),
        dict(store.org_mappings),
        dict(store.user_roles),
        dict(store.intents),
    )


async def _doctor_as_it_is(http: ApiClient) -> tuple[str, str, dict[str, Any]]:
    doctor = await _doctor(http)
    return "PATCH", f"/mso/doctors/{doctor['id']}", {f: doctor[f] for f in UPDATABLE_FIELDS}


async def _doctor_nothing(http: ApiClient) -> tuple[str, str, dict[str, Any]]:
    doctor = await _doctor(http)
    return "PATCH", f"/mso/doctors/{doctor['id']}", {}


async def _tenant_as_it_is(http: ApiClient) -> tuple[str, str, dict[str, Any]]:
    tenant = await _tenant(http)
    body = {"name": tenant["name"], "status": tenant["status"], "settings": tenant["settings"]}
    return "PATCH", f"/tenants/{TENANT}", body


async def _tenant_nothing(http: ApiClient) -> tuple[str, str, dict[str, Any]]:
    return "PATCH", f"/tenants/{TENANT}", {}


async def _org_again(http: ApiClient) -> tuple[str, str, dict[str, Any]]:
    body = {"clerk_org_id": ORG}
    await _send(http, "PUT", f"/tenants/{TENANT}/org-mapping", json=body)
    return "PUT", f"/tenants/{TENANT}/org-mapping", body


async def _flag_again(http: ApiClient) -> tuple[str, str, dict[str, Any]]:
    body = {"tenant_id": TENANT, "flag": FLAG, "value": False, "reason": "pause bookings"}
    await _send(http, "POST", "/flags/identity-override", json=body)
    return "POST", "/flags/identity-override", body


async def _threshold_again(http: ApiClient) -> tuple[str, str, dict[str, Any]]:
    body = {"tenant_id": TENANT, "values": {"mso_max_offers_per_case": 5}, "reason": "more"}
    await _send(http, "PUT", "/triage/thresholds", json=body)
    return "PUT", "/triage/thresholds", body


async def _threshold_cleared_without_override(
    http: ApiClient,
) -> tuple[str, str, dict[str, Any]]:
    body = {"tenant_id": TENANT, "values": {"mso_max_offers_per_case": None}, "reason": "r"}
    return "PUT", "/triage/thresholds", body


async def _role_held(http: ApiClient) -> tuple[str, str, dict[str, Any]]:
    return "POST", f"/tenants/{TENANT}/users/user_apollo_admin/roles", {"role": "org:admin"}


NO_OPS = {
    "doctor: every field as it is": _doctor_as_it_is,
    "doctor: no field": _doctor_nothing,
    "tenant: every field as it is": _tenant_as_it_is,
    "tenant: no field": _tenant_nothing,
    "tenant: the organisation it has": _org_again,
    "flag: the override it has": _flag_again,
    "triage: the value it has": _threshold_again,
    "triage: clearing what is not set": _threshold_cleared_without_override,
    "role: one the user holds": _role_held,
}


@pytest.mark.parametrize("case", list(NO_OPS))
async def test_an_update_that_changes_nothing_writes_nothing(http: ApiClient, case: str) -> None:
    method, path, body = await NO_OPS[case](http)
    before = _written(http)
    await _send(http, method, path, json=body)
    assert _written(http) == before


async def test_clearing_an_override_the_tenant_does_not_have_writes_nothing(
    http: ApiClient,
) -> None:
    before = _written(http)
    await _send(
        http, "DELETE", "/flags/identity-override", params={"tenant_id": TENANT, "flag": FLAG}
    )
    assert _written(http) == before


async def test_revoking_a_role_the_user_does_not_hold_writes_nothing(http: ApiClient) -> None:
    before = _written(http)
    await _send(http, "DELETE", f"/tenants/{TENANT}/users/user_apollo_staff/roles/org:admin")
    assert _written(http) == before


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("ADMIN_MODE", "ADMIN_NEO4J_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ADMIN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}")
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "keys" / "signing.pem"))
    assert main(["db", "upgrade"]) == 0
    assert main(["demo", "seed"]) == 0
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def _audit_entries(capsys: pytest.CaptureFixture[str]) -> list[Any]:
    entries: list[Any] = json.loads(_run(capsys, "--json", "audit", "query", "--limit", "500"))[
        "entries"
    ]
    return entries


@pytest.mark.parametrize(
    ("setup", "argv", "says"),
    [
        ([], ["doctors", "update", "{doctor}"], "unchanged"),
        ([], ["doctors", "update", "{doctor}", "--active"], "unchanged"),
        ([], ["tenants", "update", TENANT], "unchanged"),
        ([], ["tenants", "update", TENANT, "--name", "Apollo Hospitals Chennai"], "unchanged"),
        (
            ["tenants", "map-org", TENANT, ORG],
            ["tenants", "map-org", TENANT, ORG],
            "already mapped",
        ),
        (
            ["flags", "override", TENANT, FLAG, "false", "--reason", "r"],
            ["flags", "override", TENANT, FLAG, "false", "--reason", "r"],
            "already set",
        ),
        ([], ["flags", "clear", TENANT, FLAG], "had no override"),
        ([], ["users", "grant", TENANT, "user_apollo_admin", "org:admin"], "already held"),
        ([], ["users", "revoke", TENANT, "user_apollo_staff", "org:admin"], "was not held"),
    ],
    ids=[
        "doctors update: no option",
        "doctors update: as it is",
        "tenants update: no option",
        "tenants update: as it is",
        "tenants map-org: the same",
        "flags override: the same",
        "flags clear: none held",
        "users grant: held",
        "users revoke: not held",
    ],
)
def test_the_cli_says_an_update_changed_nothing_and_writes_nothing(
    embedded: Path,
    capsys: pytest.CaptureFixture[str],
    setup: list[str],
    argv: list[str],
    says: str,
) -> None:
    doctors = json.loads(_run(capsys, "--json", "doctors", "list", "--tenant-id", TENANT))
    doctor = next(d["id"] for d in doctors["doctors"] if d["active"])
    if setup:
        _run(capsys, *setup)
    before = _audit_entries(capsys)
    output = _run(capsys, *(word.replace("{doctor}", doctor) for word in argv))
    assert says in output.splitlines()[0]
    assert _audit_entries(capsys) == before
