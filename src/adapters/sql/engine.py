"""Engines for both supported databases."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def is_sqlite(url: str | sa.URL) -> bool:
    return sa.make_url(url).get_backend_name() == "sqlite"


#: A pooled PostgreSQL connection idle for longer than this is checked before it is handed out.
PING_AFTER_IDLE_S = 1.0
#: PostgreSQL connections per process, and no overflow beyond them. A database server does
#: the most work with a few active connections per core; more backends only queue on its
#: cores and row locks (one tenant's audit chain), while a request waiting for a pooled
#: connection in the process costs next to nothing (docs/adr/0007-sql-unit-of-work.md).
#: A graph rebuild holds up to three (the single-flight lock, the source, its audit entry).
DEFAULT_POOL_SIZE = 4


def create_engine(
    url: str,
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    echo: bool = False,
    ping_after_idle: float = PING_AFTER_IDLE_S,
) -> AsyncEngine:
    """An async engine. SQLite gets WAL, foreign keys and a busy timeout; PostgreSQL a pool of
    `pool_size` connections whose idle ones are checked before use (`ping_when_idle`)."""
    if is_sqlite(url):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

        @sa.event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    engine = create_async_engine(url, echo=echo, pool_size=pool_size, max_overflow=0)
    ping_when_idle(engine, ping_after_idle)
    return engine


def ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Check a pooled connection before handing it out, but only when it sat idle for more than
    `idle_seconds`: one that the server dropped (a restart, an idle timeout) is replaced instead
    of failing the request. A ping costs three round trips with asyncpg, so pinging on every
    checkout, as `pool_pre_ping` does, would double the cost of a short transaction; a pool in
    steady use skips it. A connection lost while in use still fails its request, and SQLAlchemy
    then retires every connection of the pool opened before that moment."""

    @sa.event.listens_for(engine.sync_engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine.sync_engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since <= idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise sa.exc.DisconnectionError("pooled connection is gone") from error


class WriterGate:
    """SQLite allows one writer at a time; queueing transactions here, in the one embedded
    process, replaces 'database is locked' errors with a fair wait. PostgreSQL needs none."""

    def __init__(self, enabled: bool) -> None:
        self._lock = asyncio.Lock() if enabled else None

    async def __aenter__(self) -> None:
        if self._lock is not None:
            await self._lock.acquire()

    async def __aexit__(self, *_: object) -> None:
        if self._lock is not None:
            self._lock.release()
