"""`adminctl --json <cmd>` prints exactly the `data` object of its HTTP twin (SPEC §7).

Each case builds two identical embedded containers (in-memory database, the same fixed
clock, sequential ids, the demo data set), runs the command through the CLI on one and the
same request through the real app on the other, and compares the CLI's JSON with the
envelope's `data`. The two runs differ only in who acts: the CLI is the operator
`cli:<user>` with a `cli-<uuid>` request id, the HTTP caller a platform super-admin with the
app's request id. Those two values reach only the audit entries a write records, which no
case reads back (the `audit query` cases read the demo seed's entries, which exist before the
command and are identical in both containers; the commands they run write nothing).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from adapters.memory.runtime import FixedClock, SequentialIds
from admin_core.graph import use_cases as graph_use_cases
from entrypoints.cli.main import build_parser, execute
from entrypoints.container import Container, aclose, build_container
from entrypoints.demo.seed import seed_demo
from entrypoints.http.app import create_app
from entrypoints.http.presenters.flags import FlagOverrideOut
from entrypoints.http.presenters.users import RoleChangeOut
from entrypoints.settings import Settings

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ADMIN = "/api/v1/admin"

#: CLI commands with no HTTP endpoint: they run the server, touch the schema or the local
#: key, seed, read the environment, or stream a file (the API pages the log instead).
CLI_ONLY: frozenset[str] = frozenset(
    {
        "serve",
        "db upgrade",
        "token",
        "demo seed",
        "config check",
        "audit export",
        "audit checkpoint",  # written by `serve` periodically; no admin route writes one
        "audit public-key",  # GET /.well-known/audit-checkpoint-keys: a key set, no envelope
        "audit verify-export",  # offline: no server at all
        "reconcile",
        "sessions reconcile",
        "matching check",
    }
)

Normalise = Callable[[dict[str, Any]], dict[str, Any]]


def _without_duration(data: dict[str, Any]) -> dict[str, Any]:
    """A rebuild's wall-clock time differs between any two runs (`run_id` does not: both
    containers draw it from the same sequence of ids)."""
    assert isinstance(data.get("duration_ms"), int)
    assert data["duration_ms"] >= 0
    return {k: v for k, v in data.items() if k != "duration_ms"}


def _latency_normalised(data: dict[str, Any]) -> dict[str, Any]:
    """A probe's latency is wall-clock time; everything else of the answer is determined (the
    fixed clock gives `checked_at`; only the in-memory database is configured)."""
    dependencies = {}
    for name, dependency in data["dependencies"].items():
        latency = dependency["latency_ms"]
        assert latency is None or (isinstance(latency, int) and latency >= 0)
        dependencies[name] = {**dependency, "latency_ms": None if latency is None else 0}
    return {**data, "dependencies": dependencies}


@dataclass(frozen=True)
class Twin:
    """One CLI command and its HTTP twin, for the same request."""

    name: str  # the case id
    command: str  # the CLI command's words, e.g. "tenants list"
    args: tuple[str, ...]  # the CLI arguments after the command
    method: str
    path: str
    params: Mapping[str, str | int] = field(default_factory=dict)
    body: Any = None  # JSON body, None: no body
    status: int = 200
    normalise: Normalise | None = None  # applied to both sides, for by-nature differences
    xfail: str | None = None  # a known CLI/HTTP mismatch (reported, not fixed here)

    @property
    def argv(self) -> list[str]:
        return ["--json", *self.command.split(), *self.args]


TWINS: tuple[Twin, ...] = (
    # tenants list ↔ GET /tenants
    Twin("tenants list", "tenants list", (), "GET", f"{ADMIN}/tenants"),
    Twin(
        "tenants list --status suspended",
        "tenants list",
        ("--status", "suspended"),
        "GET",
        f"{ADMIN}/tenants",
        params={"status": "suspended"},
    ),
    Twin(
        "tenants list --status active --limit 2 --offset 1",
        "tenants list",
        ("--status", "active", "--limit", "2", "--offset", "1"),
        "GET",
        f"{ADMIN}/tenants",
        params={"status": "active", "limit": 2, "offset": 1},
    ),
    Twin(
        "tenants list --offset past the end",
        "tenants list",
        ("--limit", "3", "--offset", "10"),
        "GET",
        f"{ADMIN}/tenants",
        params={"limit": 3, "offset": 10},
    ),
    Twin(
        "tenants list --tenant-id",
        "tenants list",
        ("--tenant-id", "bumrungrad-bangkok"),
        "GET",
        f"{ADMIN}/tenants",
        params={"tenant_id": "bumrungrad-bangkok"},
    ),
    # tenants create ↔ POST /tenants
    Twin(
        "tenants create (defaults)",
        "tenants create",
        ("--provider-id", "prv_fortis_gurugram"),
        "POST",
        f"{ADMIN}/tenants",
        body={"provider_id": "prv_fortis_gurugram"},
        status=201,
    ),
    Twin(
        "tenants create (id, name, org, settings)",
        "tenants create",
        (
            "--provider-id",
            "prv_max_saket",
            "--tenant-id",
            "max-saket",
            "--name",
            "Max Saket",
            "--org",
            "org_max_saket",
            "--set",
            "default_currency=INR",
            "--set",
            "timezone=Asia/Kolkata",
            "--set",
            "payments_provider=razorpay",
        ),
        "POST",
        f"{ADMIN}/tenants",
        body={
            "provider_id": "prv_max_saket",
            "tenant_id": "max-saket",
            "name": "Max Saket",
            "clerk_org_id": "org_max_saket",
            "settings": {
                "default_currency": "INR",
                "timezone": "Asia/Kolkata",
                "payments_provider": "razorpay",
            },
        },
        status=201,
    ),
    # tenants update ↔ PATCH /tenants/{id}
    Twin(
        "tenants update (name, status, set, clear)",
        "tenants update",
        (
            "apollo-chennai",
            "--name",
            "Apollo Chennai",
            "--status",
            "suspended",
            "--set",
            "timezone=Asia/Calcutta",
            "--clear",
            "data_residency_region",
        ),
        "PATCH",
        f"{ADMIN}/tenants/apollo-chennai",
        body={
            "name": "Apollo Chennai",
            "status": "suspended",
            "settings": {"timezone": "Asia/Calcutta", "data_residency_region": None},
        },
    ),
    Twin(
        "tenants update (reactivate)",
        "tenants update",
        ("medanta-gurugram", "--status", "active"),
        "PATCH",
        f"{ADMIN}/tenants/medanta-gurugram",
        body={"status": "active"},
    ),
    # tenants map-org ↔ PUT /tenants/{id}/org-mapping
    Twin(
        "tenants map-org",
        "tenants map-org",
        ("acibadem-istanbul", "org_acibadem_new"),
        "PUT",
        f"{ADMIN}/tenants/acibadem-istanbul/org-mapping",
        body={"clerk_org_id": "org_acibadem_new"},
    ),
    # providers create ↔ POST /providers
    Twin(
        "providers create (name only)",
        "providers create",
        ("--name", "Global Care Clinic"),
        "POST",
        f"{ADMIN}/providers",
        body={"provider": {"name": "Global Care Clinic"}},
        status=201,
    ),
    Twin(
        "providers create (everything)",
        "providers create",
        (
            "--name",
            "Fortis Hospital Mohali",
            "--country",
            "IN",
            "--city",
            "Mohali",
            "--specialty",
            "cardiology",
            "--specialty",
            "oncology",
            "--language",
            "en",
            "--language",
            "hi",
            "--accreditation",
            "JCI",
            "--tenant-id",
            "fortis-mohali",
            "--tenant-name",
            "Fortis Mohali",
            "--org",
            "org_fortis_mohali",
            "--set",
            "default_currency=INR",
            "--set",
            "data_residency_region=ap-south-1",
        ),
        "POST",
        f"{ADMIN}/providers",
        body={
            "provider": {
                "name": "Fortis Hospital Mohali",
                "country": "IN",
                "city": "Mohali",
                "specialties": ["cardiology", "oncology"],
                "languages": ["en", "hi"],
                "accreditations": ["JCI"],
            },
            "tenant": {
                "id": "fortis-mohali",
                "name": "Fortis Mohali",
                "settings": {"default_currency": "INR", "data_residency_region": "ap-south-1"},
            },
            "clerk_org_id": "org_fortis_mohali",
        },
        status=201,
    ),
    # users list ↔ GET /tenants/{id}/users
    Twin(
        "users list (tenant)",
        "users list",
        ("apollo-chennai",),
        "GET",
        f"{ADMIN}/tenants/apollo-chennai/users",
    ),
    Twin(
        "users list (platform)",
        "users list",
        ("platform",),
        "GET",
        f"{ADMIN}/tenants/platform/users",
    ),
    # users grant ↔ POST /tenants/{id}/users/{user}/roles
    Twin(
        "users grant (new role)",
        "users grant",
        ("apollo-chennai", "user_new_hire", "org:provider:staff"),
        "POST",
        f"{ADMIN}/tenants/apollo-chennai/users/user_new_hire/roles",
        body={"role": "org:provider:staff"},
        status=201,
    ),
    Twin(
        "users grant (already held)",
        "users grant",
        ("apollo-chennai", "user_apollo_staff", "org:provider:staff"),
        "POST",
        f"{ADMIN}/tenants/apollo-chennai/users/user_apollo_staff/roles",
        body={"role": "org:provider:staff"},
        status=200,
    ),
    # graph rebuild ↔ POST /graph/rebuild
    Twin(
        "graph rebuild",
        "graph rebuild",
        (),
        "POST",
        f"{ADMIN}/graph/rebuild",
        normalise=_without_duration,
    ),
    *(
        Twin(
            f"graph rebuild --scope {scope}",
            "graph rebuild",
            ("--scope", scope),
            "POST",
            f"{ADMIN}/graph/rebuild",
            body={"scope": scope},
            normalise=_without_duration,
        )
        for scope in ("all", "providers", "doctors", "procedures")
    ),
    # graph status ↔ GET /graph/status
    Twin("graph status", "graph status", (), "GET", f"{ADMIN}/graph/status"),
    # health ↔ GET /health/external-deps (the database in memory, nothing else configured)
    Twin(
        "health",
        "health",
        (),
        "GET",
        f"{ADMIN}/health/external-deps",
        normalise=_latency_normalised,
    ),
    # audit query ↔ GET /audit-log (the demo seed's entries only: see the module docstring)
    Twin("audit query", "audit query", (), "GET", f"{ADMIN}/audit-log"),
    Twin(
        "audit query --limit",
        "audit query",
        ("--limit", "3"),
        "GET",
        f"{ADMIN}/audit-log",
        params={"limit": 3},
    ),
    Twin(
        "audit query --tenant-id --action prefix",
        "audit query",
        ("--tenant-id", "apollo-chennai", "--action", "tenant.", "--limit", "5"),
        "GET",
        f"{ADMIN}/audit-log",
        params={"tenant_id": "apollo-chennai", "action": "tenant.", "limit": 5},
    ),
    Twin(
        "audit query --actor-id --action exact",
        "audit query",
        ("--actor-id", "demo:seed", "--action", "user.role_granted"),
        "GET",
        f"{ADMIN}/audit-log",
        params={"actor_id": "demo:seed", "action": "user.role_granted"},
    ),
    Twin(
        "audit query --from-date --to-date",
        "audit query",
        ("--from-date", "2026-03-02", "--to-date", "2026-03-02T23:59:59Z", "--limit", "4"),
        "GET",
        f"{ADMIN}/audit-log",
        params={"from_date": "2026-03-02", "to_date": "2026-03-02T23:59:59Z", "limit": 4},
    ),
    Twin(
        "audit query (no match)",
        "audit query",
        ("--case-id", "case_none", "--patient-id", "pat_none"),
        "GET",
        f"{ADMIN}/audit-log",
        params={"case_id": "case_none", "patient_id": "pat_none"},
    ),
    # audit verify ↔ GET /audit-log/verify
    Twin("audit verify (platform chain)", "audit verify", (), "GET", f"{ADMIN}/audit-log/verify"),
    Twin(
        "audit verify --tenant-id",
        "audit verify",
        ("--tenant-id", "apollo-chennai"),
        "GET",
        f"{ADMIN}/audit-log/verify",
        params={"tenant_id": "apollo-chennai"},
    ),
    # flags effective ↔ GET /flags/effective
    Twin(
        "flags effective",
        "flags effective",
        ("apollo-chennai",),
        "GET",
        f"{ADMIN}/flags/effective",
        params={"tenant_id": "apollo-chennai"},
    ),
    # flags override ↔ POST /flags/identity-override
    Twin(
        "flags override (a number)",
        "flags override",
        ("apollo-chennai", "triage_risk_threshold", "0.5", "--reason", "pilot"),
        "POST",
        f"{ADMIN}/flags/identity-override",
        body={
            "tenant_id": "apollo-chennai",
            "flag": "triage_risk_threshold",
            "value": 0.5,
            "reason": "pilot",
        },
    ),
    Twin(
        "flags override (text that is not JSON is a string)",
        "flags override",
        ("bumrungrad-bangkok", "matching_strategy_version", "v2.0", "--reason", "rollback"),
        "POST",
        f"{ADMIN}/flags/identity-override",
        body={
            "tenant_id": "bumrungrad-bangkok",
            "flag": "matching_strategy_version",
            "value": "v2.0",
            "reason": "rollback",
        },
    ),
    # sessions list ↔ GET /mso/sessions
    Twin("sessions list", "sessions list", (), "GET", f"{ADMIN}/mso/sessions"),
    Twin(
        "sessions list --tenant-id --status --from-date --to-date --limit --offset",
        "sessions list",
        (
            "--tenant-id",
            "apollo-chennai",
            "--status",
            "completed",
            "--from-date",
            "2026-01-01",
            "--to-date",
            "2026-03-02T09:30:00Z",
            "--limit",
            "2",
            "--offset",
            "1",
        ),
        "GET",
        f"{ADMIN}/mso/sessions",
        params={
            "tenant_id": "apollo-chennai",
            "status": "completed",
            "from_date": "2026-01-01",
            "to_date": "2026-03-02T09:30:00Z",
            "limit": 2,
            "offset": 1,
        },
    ),
    # sessions refund ↔ POST /mso/sessions/{id}/refund (the sandbox, in the embedded mode)
    Twin(
        "sessions refund",
        "sessions refund",
        ("mso_apollo_041", "--reason", "patient cancelled"),
        "POST",
        f"{ADMIN}/mso/sessions/mso_apollo_041/refund",
        body={"reason": "patient cancelled"},
    ),
    # doctors list ↔ GET /mso/doctors
    Twin("doctors list", "doctors list", (), "GET", f"{ADMIN}/mso/doctors"),
    Twin(
        "doctors list --tenant-id --language --limit --offset",
        "doctors list",
        ("--tenant-id", "apollo-chennai", "--language", "en", "--limit", "1", "--offset", "1"),
        "GET",
        f"{ADMIN}/mso/doctors",
        params={"tenant_id": "apollo-chennai", "language": "en", "limit": 1, "offset": 1},
    ),
    Twin(
        "doctors list --specialty --available-from",
        "doctors list",
        ("--specialty", "neurology", "--available-from", "2026-03-02"),
        "GET",
        f"{ADMIN}/mso/doctors",
        params={"specialty": "neurology", "available_from": "2026-03-02"},
    ),
    # doctors onboard ↔ POST /mso/doctors
    Twin(
        "doctors onboard",
        "doctors onboard",
        (
            "--tenant-id",
            "apollo-chennai",
            "--full-name",
            "Dr. Kavitha Rajan",
            "--email",
            "K.Rajan@Apollo.example",
            "--specialty",
            "nephrology",
            "--language",
            "en",
            "--language",
            "ta",
            "--country",
            "IN",
            "--license-number",
            "TNMC-60321",
            "--consultation-fee-minor",
            "275000",
            "--currency",
            "INR",
            "--available-from",
            "2026-05-04",
            "--timezone",
            "Asia/Kolkata",
        ),
        "POST",
        f"{ADMIN}/mso/doctors",
        body={
            "tenant_id": "apollo-chennai",
            "full_name": "Dr. Kavitha Rajan",
            "email": "K.Rajan@Apollo.example",
            "specialty": "nephrology",
            "languages": ["en", "ta"],
            "countries": ["IN"],
            "license_number": "TNMC-60321",
            "consultation_fee_minor": 275000,
            "currency": "INR",
            "available_from": "2026-05-04",
            "timezone": "Asia/Kolkata",
        },
        status=201,
    ),
    Twin(
        "doctors onboard (inactive, Clerk user)",
        "doctors onboard",
        (
            "--tenant-id",
            "bumrungrad-bangkok",
            "--full-name",
            "Dr. Ananda Wong",
            "--email",
            "ananda.w@bumrungrad.example",
            "--specialty",
            "cardiology",
            "--language",
            "th",
            "--country",
            "TH",
            "--country",
            "MM",
            "--license-number",
            "TMC-40017",
            "--consultation-fee-minor",
            "0",
            "--currency",
            "THB",
            "--available-from",
            "2026-03-02",
            "--timezone",
            "Asia/Bangkok",
            "--no-active",
            "--clerk-user-id",
            "user_2ananda",
        ),
        "POST",
        f"{ADMIN}/mso/doctors",
        body={
            "tenant_id": "bumrungrad-bangkok",
            "full_name": "Dr. Ananda Wong",
            "email": "ananda.w@bumrungrad.example",
            "specialty": "cardiology",
            "languages": ["th"],
            "countries": ["TH", "MM"],
            "license_number": "TMC-40017",
            "consultation_fee_minor": 0,
            "currency": "THB",
            "available_from": "2026-03-02",
            "timezone": "Asia/Bangkok",
            "active": False,
            "clerk_user_id": "user_2ananda",
        },
        status=201,
    ),
    # triage show ↔ GET /triage/thresholds
    Twin(
        "triage show",
        "triage show",
        ("apollo-chennai",),
        "GET",
        f"{ADMIN}/triage/thresholds",
        params={"tenant_id": "apollo-chennai"},
    ),
    # triage set ↔ PUT /triage/thresholds
    Twin(
        "triage set (two values, one clear)",
        "triage set",
        (
            "apollo-chennai",
            "mso_max_offers_per_case=5",
            'mso_eligible_decision_stages=["booked"]',
            "triage_risk_threshold=null",
            "--reason",
            "tune",
        ),
        "PUT",
        f"{ADMIN}/triage/thresholds",
        body={
            "tenant_id": "apollo-chennai",
            "values": {
                "mso_max_offers_per_case": 5,
                "mso_eligible_decision_stages": ["booked"],
                "triage_risk_threshold": None,
            },
            "reason": "tune",
        },
    ),
    # matching parameters ↔ GET /matching/parameters (both clocks fixed: same last_refresh)
    Twin("matching parameters", "matching parameters", (), "GET", f"{ADMIN}/matching/parameters"),
    Twin(
        "matching parameters --domain --status --refresh",
        "matching parameters",
        ("--domain", "cost_financial", "--status", "active", "--refresh"),
        "GET",
        f"{ADMIN}/matching/parameters",
        params={"domain": "cost_financial", "status": "active", "refresh": "true"},
    ),
    # matching weights ↔ GET /matching/domain-weights
    Twin(
        "matching weights",
        "matching weights",
        ("apollo-chennai",),
        "GET",
        f"{ADMIN}/matching/domain-weights",
        params={"tenant_id": "apollo-chennai"},
    ),
)

#: `users revoke` ↔ `DELETE /tenants/{id}/users/{user}/roles/{role}` is the one twin without
#: a `data` object: the API answers 204 with no body (SPEC §4, deletes are 204), while the
#: CLI prints the RoleChange. It is checked on its own below (the shape, the empty answer,
#: and the same state afterwards).
REVOKE = "users revoke"
#: `flags clear` ↔ `DELETE /flags/identity-override` likewise: 204, while the CLI prints the
#: outcome (the shape of an override's `data`).
CLEAR = "flags clear"
#: `doctors update` ↔ `PATCH /mso/doctors/{id}` names a doctor by the id the seed's id
#: generator gave it, which no static twin can know: checked on its own below, on a demo
#: doctor found by email (the same id in both containers).
DOCTORS_UPDATE = "doctors update"


# --- two identical embedded containers --------------------------------------------------


@pytest.fixture(autouse=True)
def quiet_http_client(caplog: pytest.LogCaptureFixture) -> None:
    """No INFO line per request from httpx: Litestar's logging queue would write it from its
    own thread, at times after pytest has closed the test's captured stderr."""
    caplog.set_level(logging.WARNING, logger="httpx")


@pytest.fixture(scope="module")
def key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One signing key for every container (RSA generation is the slow part)."""
    return tmp_path_factory.mktemp("twins-key") / "signing.pem"


async def seeded(key_path: Path) -> Container:
    """A fresh embedded container on the demo data set, identical to every other one."""
    container = build_container(Settings(database_url="memory://", local_key_path=key_path))
    container.runtime.clock.override(providers.Object(FixedClock(T0)))
    container.runtime.ids.override(providers.Object(SequentialIds()))
    # The seed ends with a graph rebuild, audited on the platform chain with its wall-clock
    # `duration_ms`: the one value of the seeded state that two runs would not share, and it
    # feeds the hash of that entry (the platform chain's head). Seeding with the rebuild's
    # timer stopped makes the two states equal, hashes included; the commands under test
    # run with the real timer.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(graph_use_cases, "time", SimpleNamespace(monotonic=lambda: 0.0))
        await seed_demo(container)
    return container


async def run_cli(container: Container, argv: list[str], capsys: pytest.CaptureFixture[str]) -> Any:
    args = build_parser().parse_args(argv)
    capsys.readouterr()
    status = await execute(args, container)
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return json.loads(captured.out)


@asynccontextmanager
async def http_client(container: Container) -> AsyncIterator[AsyncTestClient[Any]]:
    """The real app on `container`, as a platform super-admin (the app closes the container
    when the client stops)."""
    token = container.auth.token_issuer().mint(
        user_id="user_platform_owner", org_id="org_platform", role="org:super_admin"
    )
    async with AsyncTestClient(create_app(container)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


async def run_http(container: Container, twin: Twin) -> Any:
    kwargs: dict[str, Any] = {"params": dict(twin.params)} if twin.params else {}
    if twin.body is not None:
        kwargs["json"] = twin.body
    async with http_client(container) as client:
        return await client.request(twin.method, twin.path, **kwargs)


# --- the twins -----------------------------------------------------------------------------


def _cases() -> Iterator[Any]:
    for twin in TWINS:
        marks = [pytest.mark.xfail(strict=True, reason=twin.xfail)] if twin.xfail else []
        yield pytest.param(twin, id=twin.name, marks=marks)


@pytest.mark.parametrize("twin", list(_cases()))
async def test_cli_json_is_the_http_data(
    twin: Twin, key_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_side, http_side = await seeded(key_path), await seeded(key_path)
    try:
        printed = await run_cli(cli_side, twin.argv, capsys)
        response = await run_http(http_side, twin)
    finally:
        await aclose(cli_side)
    assert response.status_code == twin.status, response.text
    envelope = response.json()
    assert envelope["success"] is True
    data = envelope["data"]
    assert isinstance(data, dict)
    assert data
    if twin.normalise is not None:
        printed, data = twin.normalise(printed), twin.normalise(data)
    assert printed == data
    # ... and field for field in the same order (both are the one presenter's Struct).
    assert json.dumps(printed) == json.dumps(data)


async def test_users_revoke_prints_the_role_change_where_the_api_answers_204(
    key_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    revoke = ("apollo-chennai", "user_apollo_staff", "org:provider:staff")
    cli_side, http_side = await seeded(key_path), await seeded(key_path)
    try:
        printed = await run_cli(cli_side, ["--json", *REVOKE.split(), *revoke], capsys)
        after_cli = await run_cli(cli_side, ["--json", "users", "list", revoke[0]], capsys)
    finally:
        await aclose(cli_side)
    async with http_client(http_side) as client:
        response = await client.delete(
            f"{ADMIN}/tenants/{revoke[0]}/users/{revoke[1]}/roles/{revoke[2]}"
        )
        after_http = await client.get(f"{ADMIN}/tenants/{revoke[0]}/users")
    # The CLI prints the RoleChange, field for field what a grant's `data` holds.
    assert list(printed) == list(RoleChangeOut.__struct_fields__)
    assert printed == {
        "tenant_id": "apollo-chennai",
        "user_id": "user_apollo_staff",
        "role": "org:provider:staff",
        "changed": True,
        "roles": [],
        "org_role": None,
    }
    # The API answers 204 with no body at all (no envelope, so no `data` to compare).
    assert response.status_code == 204
    assert response.content == b""
    # The same change, whichever entrypoint made it.
    assert after_http.status_code == 200
    assert after_cli == after_http.json()["data"]


async def test_flags_clear_prints_the_outcome_where_the_api_answers_204(
    key_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("apollo-chennai", "enable_mso_booking")
    override = ["--json", "flags", "override", *args, "false", "--reason", "pause"]
    cli_side, http_side = await seeded(key_path), await seeded(key_path)
    try:
        await run_cli(cli_side, override, capsys)
        printed = await run_cli(cli_side, ["--json", *CLEAR.split(), *args], capsys)
        after_cli = await run_cli(cli_side, ["--json", "flags", "effective", args[0]], capsys)
    finally:
        await aclose(cli_side)
    async with http_client(http_side) as client:
        await client.post(
            f"{ADMIN}/flags/identity-override",
            json={"tenant_id": args[0], "flag": args[1], "value": False, "reason": "pause"},
        )
        response = await client.delete(
            f"{ADMIN}/flags/identity-override", params={"tenant_id": args[0], "flag": args[1]}
        )
        after_http = await client.get(f"{ADMIN}/flags/effective", params={"tenant_id": args[0]})
    assert list(printed) == list(FlagOverrideOut.__struct_fields__)
    assert printed["previous_value"] is False
    assert printed["value"] is True
    assert response.status_code == 204
    assert response.content == b""
    assert after_cli == after_http.json()["data"]


def demo_doctor_id(container: Container, email: str) -> str:
    doctors = container.database.store().mso_doctors.values()
    return next(d.id for d in doctors if d.email == email)


@pytest.mark.parametrize(
    ("email", "args", "body"),
    [
        pytest.param(
            "l.ramanathan@apollo.example",
            (
                "--specialty",
                "interventional cardiology",
                "--language",
                "en",
                "--language",
                "hi",
                "--consultation-fee-minor",
                "320000",
                "--available-from",
                "2026-04-01",
                "--no-active",
            ),
            {
                "specialty": "interventional cardiology",
                "languages": ["en", "hi"],
                "consultation_fee_minor": 320000,
                "available_from": "2026-04-01",
                "active": False,
            },
            id="fields",
        ),
        pytest.param(
            "dr.yilmaz@acibadem.example",
            ("--unlink-clerk-user", "--email", "Elif.Yilmaz@Acibadem.example"),
            {"clerk_user_id": None, "email": "Elif.Yilmaz@Acibadem.example"},
            id="unlink the Clerk user, new email",
        ),
        pytest.param(
            "niran.c@bumrungrad.example",
            ("--timezone", "Asia/Bangkok"),
            {"timezone": "Asia/Bangkok"},
            id="no change",
        ),
    ],
)
async def test_doctors_update_prints_the_http_data(
    email: str,
    args: tuple[str, ...],
    body: dict[str, Any],
    key_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli_side, http_side = await seeded(key_path), await seeded(key_path)
    doctor_id = demo_doctor_id(cli_side, email)
    assert demo_doctor_id(http_side, email) == doctor_id
    try:
        printed = await run_cli(
            cli_side, ["--json", *DOCTORS_UPDATE.split(), doctor_id, *args], capsys
        )
    finally:
        await aclose(cli_side)
    twin = Twin(
        DOCTORS_UPDATE, DOCTORS_UPDATE, args, "PATCH", f"{ADMIN}/mso/doctors/{doctor_id}", body=body
    )
    response = await run_http(http_side, twin)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["id"] == doctor_id
    assert printed == data
    assert json.dumps(printed) == json.dumps(data)


# --- the list of twins is complete ------------------------------------------------------


def cli_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> set[str]:
    """Every leaf command of the parser, as its words ("tenants list", "serve")."""
    found: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= cli_commands(sub, (*prefix, name))
    return found or {" ".join(prefix)}


def test_every_cli_command_with_an_http_route_has_a_twin() -> None:
    commands = cli_commands(build_parser())
    twinned = {t.command for t in TWINS} | {REVOKE, CLEAR, DOCTORS_UPDATE}
    assert not twinned & CLI_ONLY
    assert twinned | CLI_ONLY == commands, (
        f"without a twin case nor a CLI-only entry: {sorted(commands - twinned - CLI_ONLY)}; "
        f"listed but not a CLI command: {sorted((twinned | CLI_ONLY) - commands)}"
    )


def test_the_twins_have_distinct_readable_ids() -> None:
    names = [t.name for t in TWINS]
    assert len(names) == len(set(names))
    assert all(t.name.startswith(t.command) for t in TWINS)
    requests = [(t.command, t.args) for t in TWINS]
    assert len(requests) == len(set(requests))
