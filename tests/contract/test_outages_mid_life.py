"""A server that was serving when PostgreSQL failed: what the API answers during the outage,
and that it serves again without a restart.

The faults touch only what this test opened: the app's own backends (terminated by the test
session's database name and the app's role) and a TCP proxy of the test's own between the
app and the server, which it cuts or stalls. After each, the pool has no connection left
checked out."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from adapters.sql.engine import create_engine
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from entrypoints.cli.main import main
from entrypoints.settings import Settings
from tests.support.databases import APP_ROLE, postgres_urls, truncate_postgres
from tests.support.http import ApiClient, api
from tests.support.proxy import FaultyProxy
from tests.support.services import in_thread, service_url

pytestmark = pytest.mark.postgres

TENANT = "apollo-chennai"
TENANTS = "/api/v1/admin/tenants"
VERIFY = f"/api/v1/admin/audit-log/verify?tenant_id={TENANT}"

#: One request per way the app reads and writes: a hot read on the driver's connection, a
#: keyset page, an offset page, a write with its audit entry.
REQUESTS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "tenants": ("GET", TENANTS, None),
    "audit-log": ("GET", f"/api/v1/admin/audit-log?tenant_id={TENANT}", None),
    "sessions": ("GET", "/api/v1/admin/mso/sessions", None),
    "tenant-update": ("PATCH", f"{TENANTS}/{TENANT}", {"name": "Apollo Chennai"}),
}


def _asyncpg(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _database(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def _terminate_app_backends(*, waiting_on_a_lock: bool = False) -> int:
    """`pg_terminate_backend` of the app role's backends on this test session's database
    (those waiting for a lock only, if asked): what a server restart, an idle timeout or an
    operator does to them."""
    app_url, _ = postgres_urls()
    super_ = await asyncpg.connect(_asyncpg(service_url("POSTGRES_SUPER")))
    try:
        pids = await super_.fetch(
            "select pid from pg_stat_activity where datname = $1 and usename = $2"
            " and pid <> pg_backend_pid() and ($3 = false or wait_event_type = 'Lock')",
            _database(app_url),
            APP_ROLE,
            waiting_on_a_lock,
        )
        for row in pids:
            await super_.execute("select pg_terminate_backend($1)", row["pid"])
        return len(pids)
    finally:
        await super_.close()


class Outage:
    """The app on a fresh, seeded PostgreSQL database, reached through a proxy."""

    def __init__(self, http: ApiClient, proxy: FaultyProxy) -> None:
        self.http = http
        self.proxy = proxy
        self.headers = http.auth("org:super_admin")

    async def request(self, name: str) -> Any:
        method, path, body = REQUESTS[name]
        return await self.http.client.request(method, path, headers=self.headers, json=body)

    async def get(self, path: str) -> Any:
        return await self.http.client.get(path, headers=self.headers)

    def checked_out(self) -> int:
        return int(self.http.container.database.engine().pool.checkedout())

    async def settled(self) -> int:
        """Connections still checked out once work in flight (a readiness check left to
        finish in the background) had a moment to end."""
        for _ in range(50):
            if self.checked_out() == 0:
                return 0
            await asyncio.sleep(0.1)
        return self.checked_out()


@pytest.fixture
def statement_timeout() -> float:
    return 1.0


@pytest.fixture
async def outage(tmp_path: Path, statement_timeout: float) -> AsyncIterator[Outage]:
    app_url, owner_url = postgres_urls()
    await truncate_postgres(owner_url)
    server = urlsplit(app_url)
    assert server.hostname is not None
    assert server.port is not None
    with FaultyProxy(server.hostname, server.port) as proxy:
        settings = Settings(
            database_url=proxy.url(app_url),
            database_statement_timeout_seconds=statement_timeout,
        )
        async with api(tmp_path, settings) as http:
            yield Outage(http, proxy)


def _codes(answer: Any) -> list[str]:
    return [e["code"] for e in answer.json().get("errors") or []]


@pytest.mark.parametrize("fault", ["terminated", "cut"])
@pytest.mark.parametrize("name", sorted(REQUESTS))
async def test_a_connection_lost_between_requests_is_replaced_and_the_request_served(
    outage: Outage, name: str, fault: str
) -> None:
    """The pooled connection the next request would take was dropped by the server (or the
    network) right after its last use, too soon for the idle ping: the driver has seen it
    close, so the pool replaces it and the request is served by the same process."""
    assert (await outage.request(name)).status_code == 200
    if fault == "terminated":
        assert await _terminate_app_backends() >= 1
    else:
        outage.proxy.cut()
    await asyncio.sleep(0.05)  # the farewell reaches the process (it is on the wire already)

    answers = [await outage.request(name), await outage.request(name)]

    assert [a.status_code for a in answers] == [200, 200], answers[0].text
    assert outage.checked_out() == 0


@pytest.mark.parametrize("name", sorted(REQUESTS))
async def test_a_connection_lost_during_a_request_is_a_503_then_served(
    outage: Outage, name: str
) -> None:
    """Lost while the request used it, the connection fails that request: a 503
    DATABASE_UNAVAILABLE (never a 500), and the next request is served."""
    assert (await outage.request(name)).status_code == 200
    outage.proxy.stall()  # the request's statement waits on the wire ...
    cutter = threading.Timer(0.3, outage.proxy.cut)  # ... when the connection drops
    cutter.start()
    failed = await outage.request(name)
    cutter.join()
    outage.proxy.resume()

    assert (failed.status_code, _codes(failed)) == (503, ["DATABASE_UNAVAILABLE"]), failed.text
    assert (await outage.request(name)).status_code == 200
    assert outage.checked_out() == 0


@pytest.mark.parametrize("statement_timeout", [30.0])
async def test_a_write_whose_connection_is_killed_half_way_writes_nothing(
    outage: Outage,
) -> None:
    """The tenant update waits, in its transaction, for the tenant's audit chain (held here);
    its backend is then terminated. The answer is a 503, the tenant is as it was, no entry
    was added and the chain verifies; the same update then goes through."""
    _, owner_url = postgres_urls()
    before = (await outage.get(f"{TENANTS}?limit=200")).json()["data"]["tenants"]
    entries_before = (await outage.get(VERIFY)).json()["data"]["entries_checked"]
    holder = await asyncpg.connect(_asyncpg(owner_url))
    try:
        holding = holder.transaction()
        await holding.start()
        await holder.execute(
            "select * from audit_chain_heads where chain = $1 for update", f"tenant:{TENANT}"
        )
        # The test client holds this loop while the app serves a request: the backend is
        # found and terminated from a thread of its own.
        terminated: list[int] = []
        killer = threading.Thread(target=lambda: terminated.append(asyncio.run(_kill_waiter())))
        killer.start()
        answer = await outage.request("tenant-update")
        killer.join()
        await holding.rollback()
    finally:
        await holder.close()

    assert terminated == [1]
    assert (answer.status_code, _codes(answer)) == (503, ["DATABASE_UNAVAILABLE"]), answer.text
    assert (await outage.get(f"{TENANTS}?limit=200")).json()["data"]["tenants"] == before
    verify = (await outage.get(VERIFY)).json()["data"]
    assert verify["ok"] is True, verify
    assert verify["entries_checked"] == entries_before
    assert outage.checked_out() == 0

    again = await outage.request("tenant-update")
    assert again.status_code == 200, again.text
    verify = (await outage.get(VERIFY)).json()["data"]
    assert (verify["ok"], verify["entries_checked"]) == (True, entries_before + 1)


async def _kill_waiter() -> int:
    """Terminate the app's backend once it waits for a lock (within 10 s); how many were."""
    for _ in range(200):
        killed = await _terminate_app_backends(waiting_on_a_lock=True)
        if killed:
            return killed
        await asyncio.sleep(0.05)
    return 0


@pytest.mark.parametrize("name", sorted(REQUESTS))
async def test_a_stalled_database_is_a_503_within_the_statement_timeout_then_served(
    outage: Outage, name: str
) -> None:
    """The server stops answering on connections the pool holds: the request gives up after
    the statement timeout (1 s here) with a 503, not a hang; `/ready` says not ready within
    its own timeout; once the server answers again, both are served."""
    assert (await outage.request(name)).status_code == 200
    # The test client holds this loop while the app serves: should the app hang, the server
    # answers again after 15 s, and the time taken fails the test instead of hanging it.
    unstall = threading.Timer(15, outage.proxy.resume)
    unstall.start()
    with outage.proxy.stalled():
        started = time.monotonic()
        answer = await asyncio.wait_for(outage.request(name), 15)
        took = time.monotonic() - started
        ready = await asyncio.wait_for(outage.http.client.get("/ready"), 15)
    unstall.cancel()
    assert (answer.status_code, _codes(answer)) == (503, ["DATABASE_UNAVAILABLE"]), answer.text
    assert took < 5
    assert ready.status_code == 503

    assert (await outage.request(name)).status_code == 200
    assert (await outage.http.client.get("/ready")).status_code == 200
    assert await outage.settled() == 0


async def test_ready_follows_a_database_that_goes_away_and_comes_back(outage: Outage) -> None:
    assert (await outage.http.client.get("/ready")).status_code == 200
    outage.proxy.refuse()
    down = await outage.http.client.get("/ready")
    listed = await outage.request("tenants")
    outage.proxy.resume()
    assert down.status_code == 503
    assert (listed.status_code, _codes(listed)) == (503, ["DATABASE_UNAVAILABLE"])
    assert (await outage.http.client.get("/ready")).status_code == 200
    assert (await outage.request("tenants")).status_code == 200
    assert await outage.settled() == 0


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), TimeoutError()])
async def test_an_error_of_other_work_inside_a_transaction_is_not_called_an_outage(
    error: Exception,
) -> None:
    """A file or another service failing inside a transaction stays that failure (and the
    connection goes back to the pool): only the driver's own say the database failed."""
    app_url, _ = postgres_urls()
    engine = create_engine(app_url)
    transactions = SqlTransactions(engine, SystemClock(), UlidGenerator())

    async def fail_inside() -> None:
        async with transactions() as tx:
            await tx.tenants.get(TENANT)
            raise error

    try:
        with pytest.raises(type(error)):
            await fail_inside()
        assert engine.pool.checkedin() == 1  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_ready_stays_ready_when_only_a_pooled_connection_was_dropped(
    outage: Outage,
) -> None:
    """The database answers; a connection of the pool it dropped is the pool's to replace,
    not a reason for the load balancer to take the replica out."""
    assert (await outage.http.client.get("/ready")).status_code == 200
    assert await _terminate_app_backends() >= 1
    await asyncio.sleep(0.05)
    assert (await outage.http.client.get("/ready")).status_code == 200


@pytest.mark.parametrize(
    ("command", "marker"),
    [
        (["tenants", "list"], b"tenants"),
        (["audit", "verify"], b"audit_log"),
        (["demo", "seed"], b"advisory_lock"),  # the seed's lock, taken before any table
    ],
    ids=["tenants list", "audit verify", "demo seed at its lock"],
)
def test_a_command_on_a_database_that_stalls_exits_6_in_time(
    command: list[str],
    marker: bytes,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """`adminctl` on a database that stops answering once connected: the code and exit 6
    after the statement timeout, as for a database out of reach, not a command that never
    ends."""
    app_url, owner_url = postgres_urls()
    in_thread(truncate_postgres(owner_url))
    server = urlsplit(app_url)
    assert server.hostname is not None
    assert server.port is not None
    with FaultyProxy(server.hostname, server.port) as proxy:
        monkeypatch.setenv("ADMIN_DATABASE_URL", proxy.url(app_url))
        monkeypatch.setenv("ADMIN_DATABASE_STATEMENT_TIMEOUT_SECONDS", "1")
        monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "key.pem"))
        proxy.stall_on(marker)
        unstall = threading.Timer(15, proxy.resume)  # should the command hang
        unstall.start()
        started = time.monotonic()
        code = main(["--json", *command])
        took = time.monotonic() - started
        unstall.cancel()
    assert code == 6
    [error] = json.loads(capsys.readouterr().err)["errors"]
    assert error["code"] == "DATABASE_UNAVAILABLE"
    assert took < 10
