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
from admin_core.health.use_cases import CheckReadiness
from admin_core.kernel.errors import DatabaseUnavailable
from entrypoints.cli.main import main
from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.logs import RequestIdFilter
from entrypoints.settings import Settings
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
    assert ready.status_code == 503
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
@pytest.mark.parametrize("command", [["tenants", "list"], ["db", "upgrade"]])
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
    answers = await asyncio.gather(*(readiness.execute() for _ in range(5)))
    assert answers == [False] * 5
    assert time.monotonic() - started < 2
    assert stalled.opened == 1
    stalled.answer.set()
    assert await readiness.execute() is True


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
        assert (older.status_code, older.json()["data"]) == (503, {"status": "not_ready"})
        stamp("9999_a_later_release")
        assert (await client.get("/ready")).status_code == 200
        stamp(head_revision())
        assert (await client.get("/ready")).status_code == 200
