"""The PostgreSQL pool survives the server dropping its connections, idle or in use."""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest
import sqlalchemy as sa

from adapters.sql.engine import create_engine, libpq_ssl_mode
from adapters.sql.fair_pool import OVERTAKE_FOR_S
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.audit.model import AuditFilter, AuditRecord
from entrypoints.container import aclose, build_container
from entrypoints.settings import Settings
from tests.support.databases import postgres_urls
from tests.support.services import service_url

pytestmark = pytest.mark.postgres


async def _drop_backend(pid: int) -> bool:
    """What a server restart or an idle timeout does to a pooled connection."""
    url = service_url("POSTGRES_SUPER").replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(url)
    try:
        return bool(await connection.fetchval("select pg_terminate_backend($1)", pid))
    finally:
        await connection.close()


async def _backend_pid(engine: sa.ext.asyncio.AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(sa.text("select pg_backend_pid()")) or 0)


async def test_an_idle_connection_the_server_dropped_is_replaced_not_failed() -> None:
    app_url, _ = postgres_urls()
    engine = create_engine(app_url, ping_after_idle=0.0)
    try:
        before = await _backend_pid(engine)
        assert await _drop_backend(before)

        after = await _backend_pid(engine)  # the request that follows the drop succeeds

        assert after != before
    finally:
        await engine.dispose()


#: Whichever way the driver notices that the server closed the connection.
LOST = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)


def _record(tenant_id: str) -> AuditRecord:
    return AuditRecord(
        tenant_id=tenant_id,
        actor_id="user_1",
        actor_role="org:admin",
        action="tenant.update",
        event_type="ADMIN_TENANT_UPDATE",
        resource_type="tenant",
        resource_id=tenant_id,
    )


async def test_a_connection_lost_before_commit_fails_the_commit_and_is_not_reused() -> None:
    """The audit entry is written by the driver at commit, where SQLAlchemy does not see the
    failure; the unit of work must still drop the dead connection from the pool."""
    app_url, _ = postgres_urls()
    engine = create_engine(app_url, pool_size=1, ping_after_idle=3600.0)
    uow = SqlTransactions(engine, SystemClock(), UlidGenerator())
    tenant = f"tenant-{uuid4().hex[:8]}"
    try:
        async with uow() as tx:
            await tx.audit.append(_record(tenant))
            driver = (await tx.connection.get_raw_connection()).driver_connection
            assert driver is not None
            assert await _drop_backend(driver.get_server_pid())
            with pytest.raises(LOST):
                await tx.commit()

        async with uow() as tx:  # the next unit of work gets a live connection
            assert await tx.audit.count(AuditFilter(tenant_id=tenant)) == 0
            await tx.audit.append(_record(tenant))
            await tx.commit()
        async with uow() as tx:
            assert await tx.audit.count(AuditFilter(tenant_id=tenant)) == 1
    finally:
        await engine.dispose()


@pytest.mark.parametrize("mode", ["disable", "prefer", "allow"])
async def test_libpqs_sslmode_in_the_url_is_taken_as_asyncpgs_ssl(mode: str) -> None:
    """Managed PostgreSQL services hand out `?sslmode=...`, which asyncpg refuses as an
    unknown argument: every command died with a TypeError. (The test server has no TLS, so
    only the modes that may connect without it connect here.)"""
    app_url, _ = postgres_urls()
    engine = create_engine(f"{app_url}?sslmode={mode}")
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(sa.text("select 1")) == 1
    finally:
        await engine.dispose()


def test_sslmode_becomes_ssl_and_an_explicit_ssl_wins() -> None:
    base = "postgresql+asyncpg://u:p@db/x"
    assert dict(libpq_ssl_mode(f"{base}?sslmode=require").query) == {"ssl": "require"}
    assert dict(libpq_ssl_mode(f"{base}?sslmode=require&ssl=verify-full").query) == {
        "ssl": "verify-full"
    }
    assert dict(libpq_ssl_mode(base).query) == {}


async def test_held_advisory_locks_leave_the_pool_to_the_transactions(tmp_path: Path) -> None:
    """A rebuild's lock and a verify's hold of the checkpoint lock take connections of their
    own: the two pooled connections still serve two transactions at once (with the locks
    on the pool, the transactions waited for the whole rebuild)."""
    app_url, _ = postgres_urls()
    settings = Settings(
        database_url=app_url, database_pool_size=2, local_key_path=tmp_path / "key.pem"
    )
    container = build_container(settings)
    transactions = container.database.transactions()

    async def read() -> None:
        async with transactions() as tx:
            await tx.tenants.get("")
            await asyncio.sleep(0.1)  # both at once

    try:
        async with (
            container.graph.rebuild_lock().hold() as rebuilding,
            container.audit.checkpoint_lock().reading(),
        ):
            assert rebuilding
            await asyncio.wait_for(asyncio.gather(read(), read()), 5)
    finally:
        await aclose(container)


async def test_callers_waiting_for_a_pooled_connection_are_not_overtaken_by_newcomers() -> None:
    """Under load a connection comes back while other requests are ready to run; once the
    callers already in line have waited a moment, those requests queue behind them instead of
    taking the connection first."""
    app_url, _ = postgres_urls()
    engine = create_engine(app_url, pool_size=1)
    returning = asyncio.Event()
    sa.event.listen(engine.sync_engine, "checkin", lambda *_: returning.set())
    order: list[str] = []

    async def use(name: str) -> None:
        async with engine.connect() as connection:
            await connection.scalar(sa.text("select 1"))
            order.append(name)

    async def newcomer() -> None:
        await returning.wait()  # ready to run the moment the connection returns
        await use("newcomer")

    try:
        async with engine.connect() as connection:
            await connection.scalar(sa.text("select 1"))
            waiting = [asyncio.create_task(use(name)) for name in ("A", "B")]
            await asyncio.sleep(OVERTAKE_FOR_S * 3)  # both are in line by now
            waiting.append(asyncio.create_task(newcomer()))
            await asyncio.sleep(0)
        await asyncio.gather(*waiting)

        assert order == ["A", "B", "newcomer"]
    finally:
        await engine.dispose()
