"""A database out of reach is an answer, not a crash: 503 DATABASE_UNAVAILABLE in the envelope
(`/ready` 503) within the connect timeout, and exit 6 with the code from the CLI — whether
nothing listens on its port or something listens and never answers."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from litestar.testing import AsyncTestClient

from adapters.memory.health import InMemoryDatabaseSchema
from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryTransactions
from adapters.sql.engine import create_engine
from adapters.sql.migrate import head_revision, upgrade
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.health.errors import NotReady
from admin_core.health.use_cases import CheckReadiness
from admin_core.kernel.errors import DatabaseUnavailable
from entrypoints.cli.main import _commands, build_parser, main
from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.logs import RequestIdFilter
from entrypoints.settings import Settings
from tests.support.doctors import doctor_body
from tests.support.services import service_url


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def url(port: int) -> str:
    return f"postgresql+asyncpg://admin_app:pw@127.0.0.1:{port}/admin_core"


@pytest.mark.parametrize("silent", [False, True], ids=["refused", "silent"])
async def test_a_transaction_on_an_unreachable_database_is_database_unavailable(
    silent: bool,
) -> None:
    with silent_server() as quiet:
        port = quiet if silent else closed_port()
        engine = create_engine(url(port), connect_timeout=0.5)
        transactions = SqlTransactions(engine, SystemClock(), UlidGenerator())
        started = time.monotonic()
        try:
            with pytest.raises(DatabaseUnavailable):
                async with transactions():
                    pass
        finally:
            await engine.dispose()
        assert time.monotonic() - started < 5


async def test_the_api_answers_503_in_the_envelope_and_ready_says_not_ready(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=url(closed_port()), local_key_path=tmp_path / "key.pem")
    container = build_container(settings)
    token = container.auth.token_issuer().mint(
        user_id="user_ops", org_id=settings.platform_org, role="org:admin"
    )
    caplog.handler.addFilter(RequestIdFilter())  # as the server's handlers have it
    async with AsyncTestClient(create_app(container)) as client:
        tenants = await client.get(
            "/api/v1/admin/tenants",
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-outage-1"},
        )
        ready = await client.get("/ready")
    assert tenants.status_code == 503, tenants.text
    assert [e["code"] for e in tenants.json()["errors"]] == ["DATABASE_UNAVAILABLE"]
    # A probe is answered in the error envelope, saying why in words that name no host.
    assert ready.status_code == 503
    assert ready.json()["success"] is False
    [not_ready] = ready.json()["errors"]
    assert not_ready["code"] == "NOT_READY"
    assert "127.0.0.1" not in not_ready["message"]
    # The operator's log says it too, with the request and the cause.
    [line] = [r for r in caplog.records if "answered 503 DATABASE_UNAVAILABLE" in r.message]
    assert line.levelname == "WARNING"
    assert "/api/v1/admin/tenants" in line.message
    assert "cause: " in line.message
    assert line.request_id == "req-outage-1"


async def test_a_probe_that_finds_the_database_down_is_logged_with_its_request_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A load balancer's probe carries no token: its "not ready" line still names the
    request, as the line of an authenticated request does."""
    settings = Settings(database_url=url(closed_port()), local_key_path=tmp_path / "key.pem")
    caplog.handler.addFilter(RequestIdFilter())  # as the server's handlers have it
    async with AsyncTestClient(create_app(build_container(settings))) as client:
        ready = await client.get("/ready", headers={"X-Request-ID": "probe-7"})
    assert ready.status_code == 503
    [line] = [r for r in caplog.records if r.message.startswith("not ready")]
    assert line.request_id == "probe-7"


@pytest.mark.parametrize("command", [["tenants", "list"], ["demo", "seed"]])
def test_the_cli_exits_6_with_the_code_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    command: list[str],
) -> None:
    monkeypatch.setenv("ADMIN_DATABASE_URL", url(closed_port()))
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "key.pem"))
    assert main(["--json", *command]) == 6
    [error] = json.loads(capsys.readouterr().err)["errors"]
    assert error["code"] == "DATABASE_UNAVAILABLE"


def test_serve_on_an_unreachable_database_exits_6_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("ADMIN_DATABASE_URL", url(closed_port()))
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "key.pem"))
    assert main(["serve", "--port", str(closed_port())]) == 6
    err = capsys.readouterr().err
    assert "DATABASE_UNAVAILABLE" in err
    assert "Traceback" not in err


@pytest.mark.postgres
@pytest.mark.parametrize(
    "command",
    [
        ["tenants", "list"],
        ["db", "upgrade"],
        ["audit", "verify"],
        ["audit", "checkpoint"],
        ["graph", "status"],
        ["graph", "rebuild", "--no-progress"],
    ],
    ids=" ".join,
)
def test_credentials_the_database_refuses_are_named_not_called_an_outage(
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    real = urlsplit(service_url("POSTGRES"))
    wrong = real._replace(netloc=f"{real.username}:not-the-password@{real.hostname}:{real.port}")
    monkeypatch.setenv("ADMIN_DATABASE_URL", urlunsplit(wrong))
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "key.pem"))
    assert main(["--json", *command]) == 6
    [error] = json.loads(capsys.readouterr().err)["errors"]
    assert error["code"] == "DATABASE_UNAVAILABLE"
    assert "refused the credentials" in error["message"]
    assert error["details"]["sqlstate"].startswith("28")


@pytest.mark.postgres
@pytest.mark.parametrize(
    "command", [["tenants", "list"], ["audit", "verify"], ["graph", "status"]], ids=" ".join
)
def test_a_database_name_the_server_does_not_have_is_named_not_called_an_outage(
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """A mistyped database name in the URL is the operator's to fix: "try again shortly"
    would send them waiting for an outage that is not there (`db upgrade` says so too, as a
    database that refused the upgrade, exit 78)."""
    real = urlsplit(service_url("POSTGRES"))
    mistyped = real._replace(path=f"{real.path}_no_such_database")
    monkeypatch.setenv("ADMIN_DATABASE_URL", urlunsplit(mistyped))
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "key.pem"))
    assert main(["--json", *command]) == 6
    [error] = json.loads(capsys.readouterr().err)["errors"]
    assert error["code"] == "DATABASE_UNAVAILABLE"
    assert "no database of the name" in error["message"]
    assert error["details"] == {"sqlstate": "3D000"}


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v1/admin/graph/status"), ("POST", "/api/v1/admin/graph/rebuild")],
)
async def test_the_graph_routes_answer_503_when_the_source_database_is_out_of_reach(
    method: str, path: str, tmp_path: Path
) -> None:
    """The source's rows and the rebuild lock live in the database: out of reach, that is
    DATABASE_UNAVAILABLE as on every other route, never a 500."""
    settings = Settings(database_url=url(closed_port()), local_key_path=tmp_path / "key.pem")
    container = build_container(settings)
    token = container.auth.token_issuer().mint(
        user_id="user_ops", org_id=settings.platform_org, role="org:super_admin"
    )
    async with AsyncTestClient(create_app(container)) as client:
        answer = await client.request(
            method,
            path,
            headers={"Authorization": f"Bearer {token}"},
            json={"scope": "all"} if method == "POST" else None,
        )
    assert answer.status_code == 503, answer.text
    assert [e["code"] for e in answer.json()["errors"]] == ["DATABASE_UNAVAILABLE"]


@pytest.mark.parametrize("file_made", [True, False], ids=["empty-file", "no-file"])
async def test_a_database_never_migrated_answers_503_saying_so(
    tmp_path: Path, file_made: bool
) -> None:
    """A host serving the app on a database it never migrated (an empty SQLite file, or none
    yet) gets the reason, not a 500 nor "try again shortly"."""
    database = tmp_path / "never-migrated.db"
    if file_made:
        sqlite3.connect(database).close()
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{database}", local_key_path=tmp_path / "key.pem"
    )
    container = build_container(settings)
    token = container.auth.token_issuer().mint(
        user_id="user_ops", org_id=settings.platform_org, role="org:admin"
    )
    async with AsyncTestClient(create_app(container)) as client:
        answer = await client.get(
            "/api/v1/admin/tenants", headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 503, answer.text
    [error] = answer.json()["errors"]
    assert error["code"] == "DATABASE_UNAVAILABLE"
    assert "adminctl db upgrade" in error["message"]


class StalledTransactions:
    """Real in-memory transactions behind a database that has stopped answering: opening one
    waits until `answer` is set (a pooled connection whose server went quiet)."""

    def __init__(self) -> None:
        self._inner = InMemoryTransactions(InMemoryStore(), SystemClock(), UlidGenerator())
        self.answer = asyncio.Event()
        self.opened = 0

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[Any]:
        self.opened += 1
        await self.answer.wait()
        async with self._inner() as tx:
            yield tx


async def test_ready_answers_not_ready_in_time_when_the_database_stalls() -> None:
    """Probes of a stalled database are answered within the timeout, share one check (not a
    pooled connection each), and see it ready again once it answers."""
    stalled = StalledTransactions()
    readiness = CheckReadiness(  # type: ignore[arg-type]
        stalled, timeout_seconds=0.2, schema=InMemoryDatabaseSchema()
    )
    started = time.monotonic()
    answers = await asyncio.gather(*(readiness.execute() for _ in range(5)), return_exceptions=True)
    assert [(type(a), str(a)) for a in answers] == [
        (NotReady, "The database did not answer within 0.2 s.")
    ] * 5
    assert time.monotonic() - started < 2
    assert stalled.opened == 1
    stalled.answer.set()
    await readiness.execute()  # ready: returns


@pytest.mark.parametrize("file_made", [True, False], ids=["empty-file", "no-file"])
async def test_a_process_using_the_core_on_a_database_never_migrated_gets_the_error(
    tmp_path: Path, file_made: bool
) -> None:
    """Not only the API and the CLI: any caller of a transaction (a process embedding the
    core) is told DATABASE_UNAVAILABLE naming `db upgrade`, not handed a driver's error nor
    told to try again — also where no SQLite file exists yet (`Settings()` in a fresh working
    directory)."""
    empty = tmp_path / "empty.db"
    if file_made:
        sqlite3.connect(empty).close()
    container = build_container(
        Settings(database_url=f"sqlite+aiosqlite:///{empty}", local_key_path=tmp_path / "k.pem")
    )
    transactions = container.database.transactions()
    try:
        with pytest.raises(DatabaseUnavailable, match="adminctl db upgrade"):
            async with transactions() as tx:
                await tx.tenants.list(limit=10, offset=0)
    finally:
        await container.database.engine().dispose()


async def test_ready_follows_the_schema_revision_while_the_process_runs(tmp_path: Path) -> None:
    """A schema older than this code's (a restore from before an upgrade) is not ready; one a
    later release made (a rolling upgrade's middle) still is."""
    database = tmp_path / "admin.db"
    url = f"sqlite+aiosqlite:///{database}"
    await upgrade(url)
    container = build_container(Settings(database_url=url, local_key_path=tmp_path / "k.pem"))

    def stamp(revision: str) -> None:
        with sqlite3.connect(database) as connection:
            connection.execute("UPDATE alembic_version SET version_num = ?", (revision,))

    async with AsyncTestClient(create_app(container)) as client:
        assert (await client.get("/ready")).status_code == 200
        stamp("0011")
        older = await client.get("/ready")
        assert older.status_code == 503
        assert older.json()["errors"] == [
            {
                "code": "NOT_READY",
                "message": "The database's schema is older than this release's:"
                " it must be upgraded.",
            }
        ]
        stamp("9999_a_later_release")
        assert (await client.get("/ready")).status_code == 200
        stamp(head_revision())
        assert (await client.get("/ready")).status_code == 200


#: One request per admin operation of the OpenAPI document, valid in every other respect:
#: each declares 503, and a database out of reach is that 503, never a 500.
_TENANT = "apollo-chennai"
_DOCTOR_BODY = doctor_body(_TENANT)
OPERATIONS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "listTenants": ("GET", "/api/v1/admin/tenants", None),
    "createTenant": ("POST", "/api/v1/admin/tenants", {"provider_id": "prv_x"}),
    "updateTenant": ("PATCH", f"/api/v1/admin/tenants/{_TENANT}", {"name": "Apollo"}),
    "mapTenantOrganization": (
        "PUT",
        f"/api/v1/admin/tenants/{_TENANT}/org-mapping",
        {"clerk_org_id": "org_new"},
    ),
    "createProvider": ("POST", "/api/v1/admin/providers", {"provider": {"name": "New"}}),
    "listTenantUsers": ("GET", f"/api/v1/admin/tenants/{_TENANT}/users", None),
    "grantRole": (
        "POST",
        f"/api/v1/admin/tenants/{_TENANT}/users/user_x/roles",
        {"role": "org:admin"},
    ),
    "revokeRole": ("DELETE", f"/api/v1/admin/tenants/{_TENANT}/users/user_x/roles/org:admin", None),
    "rebuildGraph": ("POST", "/api/v1/admin/graph/rebuild", {"scope": "all"}),
    "graphStatus": ("GET", "/api/v1/admin/graph/status", None),
    "queryAuditLog": ("GET", "/api/v1/admin/audit-log", None),
    "verifyAuditChain": ("GET", "/api/v1/admin/audit-log/verify", None),
    "showEffectiveFlags": ("GET", f"/api/v1/admin/flags/effective?tenant_id={_TENANT}", None),
    "overrideFlag": (
        "POST",
        "/api/v1/admin/flags/identity-override",
        {"tenant_id": _TENANT, "flag": "enable_mso_booking", "value": False, "reason": "r"},
    ),
    "clearFlagOverride": (
        "DELETE",
        f"/api/v1/admin/flags/identity-override?tenant_id={_TENANT}&flag=enable_mso_booking",
        None,
    ),
    "showTriageThresholds": (
        "GET",
        f"/api/v1/admin/triage/thresholds?tenant_id={_TENANT}",
        None,
    ),
    "updateTriageThresholds": (
        "PUT",
        "/api/v1/admin/triage/thresholds",
        {"tenant_id": _TENANT, "values": {"mso_max_offers_per_case": 4}, "reason": "r"},
    ),
    "showDomainWeights": (
        "GET",
        f"/api/v1/admin/matching/domain-weights?tenant_id={_TENANT}",
        None,
    ),
    "listMatchingParameters": ("GET", "/api/v1/admin/matching/parameters", None),
    "listMsoDoctors": ("GET", "/api/v1/admin/mso/doctors", None),
    "onboardMsoDoctor": ("POST", "/api/v1/admin/mso/doctors", _DOCTOR_BODY),
    "updateMsoDoctor": ("PATCH", "/api/v1/admin/mso/doctors/msd_x", {"active": False}),
    "listMsoSessions": ("GET", "/api/v1/admin/mso/sessions", None),
    "refundMsoSession": ("POST", "/api/v1/admin/mso/sessions/mso_x/refund", {"reason": "r"}),
    "externalDependencyHealth": ("GET", "/api/v1/admin/health/external-deps", None),
}
#: Operations whose answer is a report that says what could not be read (200).
REPORTING = {"externalDependencyHealth", "listMatchingParameters"}


async def test_every_operation_answers_503_on_a_database_out_of_reach(tmp_path: Path) -> None:
    """Generated from the document: an operation added to it without a line here fails."""
    settings = Settings(database_url=url(closed_port()), local_key_path=tmp_path / "key.pem")
    container = build_container(settings)
    token = container.auth.token_issuer().mint(
        user_id="user_ops", org_id=settings.platform_org, role="org:super_admin"
    )
    headers = {"Authorization": f"Bearer {token}"}
    answers: dict[str, tuple[int, list[str]]] = {}
    async with AsyncTestClient(create_app(container)) as client:
        document = (await client.get("/api/v1/admin/schema/openapi.json")).json()
        for operation_id, (method, path, body) in OPERATIONS.items():
            answer = await client.request(method, path, headers=headers, json=body)
            answers[operation_id] = (
                answer.status_code,
                [e["code"] for e in answer.json().get("errors") or []],
            )
            if operation_id == "externalDependencyHealth":
                assert answer.json()["data"]["dependencies"]["postgres"]["status"] == "down"
    declared = {
        op["operationId"]: op["responses"]
        for item in document["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }
    assert set(OPERATIONS) == set(declared)
    assert all("503" in responses for responses in declared.values())
    expected = {
        op: (200, []) if op in REPORTING else (503, ["DATABASE_UNAVAILABLE"]) for op in OPERATIONS
    }
    assert answers == expected


#: Commands that do not read the database: the keys' files, the configuration, the registry
#: files, an export, or the server (which has its own test above).
WITHOUT_DATABASE = {
    "adminctl serve",
    "adminctl token",
    "adminctl config check",
    "adminctl matching check",
    "adminctl audit public-key",
    "adminctl audit verify-export",
}
#: Commands whose output is a report that says what could not be read.
REPORTING_COMMANDS = {"adminctl health": 1, "adminctl matching parameters": 0}
#: The arguments of each command that reads the database.
COMMANDS = {
    "adminctl db upgrade": [],
    "adminctl demo seed": [],
    "adminctl tenants list": [],
    "adminctl tenants create": ["--provider-id", "prv_x"],
    "adminctl tenants update": [_TENANT, "--name", "Apollo"],
    "adminctl tenants map-org": [_TENANT, "org_new"],
    "adminctl providers create": ["--name", "New"],
    "adminctl users list": [_TENANT],
    "adminctl users grant": [_TENANT, "user_x", "org:admin"],
    "adminctl users revoke": [_TENANT, "user_x", "org:admin"],
    "adminctl flags effective": [_TENANT],
    "adminctl flags override": [_TENANT, "enable_mso_booking", "false", "--reason", "r"],
    "adminctl flags clear": [_TENANT, "enable_mso_booking"],
    "adminctl triage show": [_TENANT],
    "adminctl triage set": [_TENANT, "mso_max_offers_per_case=4", "--reason", "r"],
    "adminctl reconcile": [],
    "adminctl matching weights": [_TENANT],
    "adminctl doctors list": [],
    "adminctl doctors onboard": [
        *("--tenant-id", _TENANT, "--full-name", "Dr. X", "--email", "x@apollo.example"),
        *("--specialty", "cardiology", "--language", "en", "--country", "IN"),
        *("--license-number", "L-1", "--consultation-fee-minor", "100", "--currency", "INR"),
        *("--available-from", "2026-01-01", "--timezone", "Asia/Kolkata"),
    ],
    "adminctl doctors update": ["msd_x", "--no-active"],
    "adminctl sessions list": [],
    "adminctl sessions refund": ["mso_x", "--reason", "r"],
    "adminctl sessions reconcile": [],
    "adminctl graph rebuild": ["--no-progress"],
    "adminctl graph status": [],
    "adminctl audit query": [],
    "adminctl audit verify": [],
    "adminctl audit export": ["--no-progress"],
    "adminctl audit checkpoint": [],
}


def _leaf_commands() -> set[str]:
    """Every command `adminctl --help` lists that runs something (not a group of them)."""
    commands = [command for command, _ in _commands(build_parser())]
    return {command.prog for command in commands if not _commands(command)}


def test_every_command_is_classified() -> None:
    """Generated from the parser: a command added without a line here fails."""
    assert _leaf_commands() == set(COMMANDS) | WITHOUT_DATABASE | set(REPORTING_COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_reading_the_database_exits_6_on_one_out_of_reach(
    command: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """`adminctl --help`: 6 an unavailable dependency."""
    monkeypatch.setenv("ADMIN_DATABASE_URL", url(closed_port()))
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "key.pem"))
    monkeypatch.chdir(tmp_path)
    words = command.split()[1:] + COMMANDS[command]
    assert main(["--json", *words]) == 6
    [error] = json.loads(capsys.readouterr().err)["errors"]
    assert error["code"] == "DATABASE_UNAVAILABLE"


async def test_a_checkpoint_pass_on_a_database_out_of_reach_is_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ADR 0043: the background passes log a dependency out of reach as one WARNING line, a
    traceback only for what they did not expect (the pass a stopping server makes here)."""
    settings = Settings(database_url=url(closed_port()), local_key_path=tmp_path / "key.pem")
    async with AsyncTestClient(create_app(build_container(settings), checkpoint_every=3600)):
        pass
    [line] = [r for r in caplog.records if "writing an audit checkpoint failed" in r.message]
    assert line.levelname == "WARNING"
    assert "DATABASE_UNAVAILABLE" in line.message
    assert line.exc_info is None
