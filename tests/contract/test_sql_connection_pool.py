"""The PostgreSQL pool survives the server dropping its idle connections."""

from __future__ import annotations

import asyncpg
import sqlalchemy as sa

from adapters.sql.engine import create_engine
from tests.support.databases import postgres_urls
from tests.support.services import service_url


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
