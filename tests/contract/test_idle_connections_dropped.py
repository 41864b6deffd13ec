"""Every connection parked in the pool dies while idle — the network between the app and
PostgreSQL forgets them (a firewall's or a NAT's idle timeout, a failover moving the
address), or the server ends them (a restart, `pg_terminate_backend`) before the app has
read its farewell — and the requests that follow are served: the first statement of a
transaction that finds its connection closed runs once more on a fresh one. A connection
lost after the transaction sent a write, or its commit, still answers 503 and is never run
again.

The faults touch only what this test opened: a TCP proxy of the test's own between the app
and the server, and the app role's backends on this test session's database."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import DEFAULT_POOL_SIZE, create_engine
from adapters.sql.projection import SqlProjectionSource
from admin_core.graph.model import NodeLabel
from entrypoints.settings import Settings
from tests.support.databases import APP_ROLE, postgres_urls, truncate_postgres
from tests.support.http import ApiClient, api
from tests.support.proxy import FaultyProxy
from tests.support.services import service_url

pytestmark = pytest.mark.postgres

TENANT = "apollo-chennai"
TENANTS = "/api/v1/admin/tenants"
VERIFY = f"/api/v1/admin/audit-log/verify?tenant_id={TENANT}"

#: A hot read on the driver's connection (the tenants list, the audit page, the sessions
#: page) and a write on SQLAlchemy with its audit entry.
REQUESTS: dict[str, tuple[str, str]] = {
    "tenants": ("GET", TENANTS),
    "audit-log": ("GET", f"/api/v1/admin/audit-log?tenant_id={TENANT}"),
    "sessions": ("GET", "/api/v1/admin/mso/sessions"),
    "tenant-update": ("PATCH", f"{TENANTS}/{TENANT}"),
}


class DroppingProxy(FaultyProxy):
    """`forget()`: the network forgets every connection open now, telling neither end. What
    the server sends on one afterwards (its farewell, if it ends the backend) is held; the
    app learns of it only when it next writes on the connection, which then closes, after
    those held bytes — as a reset from a firewall, or a farewell read late, would tell it.

    `cut_after(marker)`: the app's bytes holding `marker` reach the server, and the
    connection then closes at both ends before the answer comes back."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self._forgotten: set[asyncio.StreamWriter] = set()
        self._held: dict[asyncio.StreamWriter, bytearray] = {}
        self._app_side: dict[asyncio.StreamWriter, asyncio.StreamWriter] = {}
        self._cut_marker: bytes | None = None

    def forget(self) -> None:
        def action() -> None:
            self._forgotten |= self._writers

        self._call(action)

    def cut_after(self, marker: bytes) -> None:
        self._cut_marker = marker

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        self._app_side[up_writer] = writer
        pair = {writer, up_writer}
        self._writers |= pair
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, upstream=True), self._pipe(up_reader, writer)
            )
        except asyncio.CancelledError:
            pass  # the proxy closing with a forgotten connection still open
        finally:
            for each in pair:
                self._writers.discard(each)
                each.transport.abort()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool = False
    ) -> None:
        try:
            while chunk := await reader.read(65536):
                if writer not in self._forgotten:
                    writer.write(chunk)
                    await writer.drain()
                    if upstream and self._cut_marker is not None and self._cut_marker in chunk:
                        self._cut_marker = None
                        writer.close()  # the server reads the bytes, then the end
                        self._app_side[writer].transport.abort()
                        return
                elif upstream:  # the app writes on a connection the network forgot
                    app = self._app_side[writer]
                    app.write(bytes(self._held.pop(app, b"")))
                    await app.drain()
                    app.close()
                    return
                else:
                    self._held.setdefault(writer, bytearray()).extend(chunk)
        except (OSError, ConnectionError):
            pass
        if writer in self._forgotten:
            return  # the end reaches the app when it writes
        writer.transport.abort()


async def _terminate_app_backends() -> int:
    """`pg_terminate_backend` of the app role's backends on this test session's database."""
    app_url, _ = postgres_urls()
    database = urlsplit(app_url).path.lstrip("/")
    url = service_url("POSTGRES_SUPER").replace("postgresql+asyncpg://", "postgresql://")
    super_ = await asyncpg.connect(url)
    try:
        ended = await super_.fetch(
            "select pg_terminate_backend(pid) from pg_stat_activity"
            " where datname = $1 and usename = $2 and pid <> pg_backend_pid()",
            database,
            APP_ROLE,
        )
        for _ in range(100):  # until the server has let them go
            left = await super_.fetchval(
                "select count(*) from pg_stat_activity where datname = $1 and usename = $2",
                database,
                APP_ROLE,
            )
            if left == 0:
                break
            await asyncio.sleep(0.05)
        return len(ended)
    finally:
        await super_.close()


class App:
    def __init__(self, http: ApiClient, proxy: DroppingProxy) -> None:
        self.http = http
        self.proxy = proxy
        self.headers = http.auth("org:super_admin")
        self.writes = 0

    @property
    def engine(self) -> AsyncEngine:
        return self.http.container.database.engine()

    async def request(self, name: str) -> Any:
        method, path = REQUESTS[name]
        body = None
        if method == "PATCH":
            self.writes += 1
            body = {"name": f"Apollo Chennai {self.writes}"}
        return await self.http.client.request(method, path, headers=self.headers, json=body)

    async def get(self, path: str) -> Any:
        return await self.http.client.get(path, headers=self.headers)

    def fill_pool(self) -> None:
        """Every connection of the pool opened and parked, as a burst of requests leaves it
        (on the app's own event loop: the test client serves one request at a time)."""

        async def hold_all() -> None:
            async with AsyncExitStack() as held:
                for _ in range(DEFAULT_POOL_SIZE):
                    connection = await held.enter_async_context(self.engine.connect())
                    await connection.scalar(sa.text("select 1"))

        self.http.client.blocking_portal.call(hold_all)
        assert self.engine.pool.checkedin() == DEFAULT_POOL_SIZE  # type: ignore[attr-defined]

    def checked_out(self) -> int:
        return int(self.engine.pool.checkedout())  # type: ignore[attr-defined]

    async def audited(self) -> tuple[bool, int]:
        verify = (await self.get(VERIFY)).json()["data"]
        return verify["ok"], verify["entries_checked"]

    async def tenant_name(self) -> str:
        listed = (await self.get(f"{TENANTS}?limit=200")).json()["data"]["tenants"]
        return str(next(t["name"] for t in listed if t["id"] == TENANT))


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    app_url, owner_url = postgres_urls()
    await truncate_postgres(owner_url)
    server = urlsplit(app_url)
    assert server.hostname is not None
    assert server.port is not None
    with DroppingProxy(server.hostname, server.port) as proxy:
        async with api(tmp_path, Settings(database_url=proxy.url(app_url))) as http:
            yield App(http, proxy)


def _codes(answer: Any) -> list[str]:
    return [e["code"] for e in answer.json().get("errors") or []]


@pytest.mark.parametrize("fault", ["network", "server"])
@pytest.mark.parametrize("first", sorted(REQUESTS))
async def test_requests_after_every_pooled_connection_died_idle_are_all_served(
    app: App, first: str, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every parked connection is dead, and the app has not noticed; the requests that
    follow, the first of which is `first`, all answer 200, and each write is made once. The
    first statement to find its connection closed renews the whole pool: one line in the
    log says so, and no other statement fails."""
    ok, entries = await app.audited()
    assert ok
    app.fill_pool()
    app.proxy.forget()
    if fault == "server":
        assert await _terminate_app_backends() == DEFAULT_POOL_SIZE

    order = [first, *(name for name in sorted(REQUESTS) if name != first)]
    with caplog.at_level(logging.INFO, logger="admin_core.database"):
        answers = [(name, await app.request(name)) for name in order * 2]

    assert [(name, a.status_code) for name, a in answers] == [(name, 200) for name in order * 2]
    renewed = [r for r in caplog.records if r.name == "admin_core.database"]
    assert len(renewed) == 1, [r.getMessage() for r in renewed]
    assert "found closed" in renewed[0].getMessage()
    assert app.checked_out() == 0
    assert await app.audited() == (True, entries + app.writes)
    assert app.writes == 2
    assert await app.tenant_name() == "Apollo Chennai 2"


async def test_a_first_statement_whose_connection_closes_under_it_runs_once_more(
    app: App,
) -> None:
    """The tenant update's first statement (its lock of the tenant, which begins the
    transaction) reaches the server, and the connection closes before the answer: nothing
    was seen on it and nothing of the transaction can be kept, so the statement runs once
    more on a fresh connection and the update is made once."""
    _, entries = await app.audited()
    app.proxy.cut_after(b"FOR UPDATE")

    answer = await app.request("tenant-update")

    assert answer.status_code == 200, answer.text
    assert await app.audited() == (True, entries + 1)
    assert await app.tenant_name() == "Apollo Chennai 1"
    assert app.checked_out() == 0


@pytest.mark.parametrize(
    ("marker", "outcome"),
    [(b"UPDATE tenants", "nothing"), (b"COMMIT;", "unknown")],
    ids=["after the write", "after the commit"],
)
async def test_a_connection_lost_after_a_write_was_sent_is_a_503_never_run_again(
    app: App, marker: bytes, outcome: str
) -> None:
    """The tenant update's connection closes once its UPDATE (or its COMMIT) has reached the
    server: the answer is a 503 and the update is not sent again. After the UPDATE, nothing
    of it is kept; after the COMMIT, the update and its audit entry are kept together or not
    at all. The same update then goes through once."""
    name_before = await app.tenant_name()
    _, entries = await app.audited()
    app.proxy.cut_after(marker)

    answer = await app.request("tenant-update")

    assert (answer.status_code, _codes(answer)) == (503, ["DATABASE_UNAVAILABLE"]), answer.text
    assert app.checked_out() == 0
    ok, entries_after = await app.audited()
    kept = await app.tenant_name() == "Apollo Chennai 1"
    assert ok
    assert entries_after == entries + kept
    if outcome == "nothing":
        assert not kept
        assert await app.tenant_name() == name_before

    again = await app.request("tenant-update")
    assert again.status_code == 200, again.text
    assert await app.audited() == (True, entries + kept + 1)


@pytest.mark.parametrize("fault", ["network", "server"])
async def test_ready_stays_ready_when_every_pooled_connection_died_idle(
    app: App, fault: str
) -> None:
    """The database answers; the pool's dead connections are the pool's to replace, not a
    reason for a load balancer to take the replica out."""
    app.fill_pool()
    app.proxy.forget()
    if fault == "server":
        assert await _terminate_app_backends() == DEFAULT_POOL_SIZE

    answers = [(await app.http.client.get("/ready")).status_code for _ in range(2)]

    assert answers == [200, 200]
    assert (await app.request("tenants")).status_code == 200
    assert app.checked_out() == 0


async def test_a_graph_rebuild_reads_its_source_when_every_pooled_connection_died_idle() -> None:
    """The graph's source is read on a connection of the application's pool: a rebuild
    started after the pool's connections died reads it all the same."""
    app_url, owner_url = postgres_urls()
    await truncate_postgres(owner_url)
    server = urlsplit(app_url)
    assert server.hostname is not None
    assert server.port is not None
    with DroppingProxy(server.hostname, server.port) as proxy:
        engine = create_engine(proxy.url(app_url))
        try:
            async with AsyncExitStack() as held:
                for _ in range(DEFAULT_POOL_SIZE):
                    connection = await held.enter_async_context(engine.connect())
                    await connection.scalar(sa.text("select 1"))
            proxy.forget()

            async with SqlProjectionSource(engine).read() as reader:
                counted = await reader.count_nodes(NodeLabel.PROVIDER)

            assert counted == 0
            assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        finally:
            await engine.dispose()
