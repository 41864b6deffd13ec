"""Time, ids, the list of resources to close, and the database every area shares."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from dependency_injector import containers, providers
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.health import InMemoryDatabaseSchema
from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryTransactions
from adapters.sql.engine import create_engine
from adapters.sql.migrate import SqlDatabaseSchema
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.tenants.known import KnownTenants
from entrypoints.container import choices
from entrypoints.container.resources import Resources
from entrypoints.settings import Settings


class Runtime(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    resources = providers.Singleton(Resources)
    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(UlidGenerator)


def _engine(settings: Settings, resources: Resources) -> AsyncEngine:
    # The application's engine never makes a SQLite file: `db upgrade` (and the embedded
    # `serve`, which migrates first) does.
    engine = create_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        statement_timeout=settings.database_statement_timeout_seconds,
        create=False,
    )
    if choices.database(settings) == "postgres":
        _replace_connections_of_ended_loops(engine)
    resources.add("database engine", engine.dispose)
    return engine


def _replace_connections_of_ended_loops(engine: AsyncEngine) -> None:
    """A pooled PostgreSQL connection belongs to the event loop it was opened on: once that
    loop has stopped (a test suite's `asyncio.run`, pytest-asyncio's loop per test), it can
    neither serve another loop nor be closed by one. Such a connection is dropped from the
    pool when it is next taken, and a new one opened on the loop that asked; its socket is
    left to the collector (`aclose` before the loop ends closes it instead). Taken while its
    loop is still running (a container used from two threads' loops at once), it is refused
    with a `RuntimeError` that says so. Closing the pool (`aclose`) on a later loop drops such
    connections the same way."""

    @sa.event.listens_for(engine.sync_engine, "connect")
    def _opened_on(_dbapi_connection: Any, record: Any) -> None:
        record.info[_LOOP] = asyncio.get_running_loop()

    @sa.event.listens_for(engine.sync_engine, "checkout", insert=True)
    def _on_this_loop(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        opened_on = record.info.get(_LOOP)
        if opened_on is None or opened_on is asyncio.get_running_loop():
            return
        if opened_on.is_running():
            raise RuntimeError(
                "this container's database pool holds connections of another event loop, which"
                " is still running: close the container there (aclose) before using it on this"
                " loop, or build one container per event loop"
            )
        raise sa.exc.DisconnectionError("the event loop this connection was opened on ended")

    @sa.event.listens_for(engine.sync_engine, "close")
    def _closing(dbapi_connection: Any, record: Any) -> None:
        opened_on = record.info.get(_LOOP)
        if opened_on is not None and opened_on is not _running_loop():
            _forget(dbapi_connection)


#: Where a pooled connection's record keeps the event loop it was opened on.
_LOOP = "admin_core.loop"


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _forget(dbapi_connection: Any) -> None:
    """Mark an asyncpg connection of an ended loop as closed, so that the pool's dropping it
    does not try to close it through that loop ("Event loop is closed")."""
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None:
        driver._aborted = True


def _lock_engine(settings: Settings, resources: Resources) -> AsyncEngine:
    """The advisory locks' connections (PostgreSQL), apart from the pool of transactions: a
    lock holds its session for as long as it is held (a whole graph rebuild), and holders
    waiting on the pool for a transaction could otherwise take every connection of it."""
    engine = create_engine(
        settings.database_url,
        pooled=False,
        statement_timeout=settings.database_statement_timeout_seconds,
        create=False,
    )
    resources.add("database lock engine", engine.dispose)
    return engine


def _kind(settings: Settings) -> str:
    return "memory" if choices.database(settings) == "memory" else "sql"


class Database(containers.DeclarativeContainer):
    """SQLite or PostgreSQL through one engine, or the in-memory store."""

    runtime = providers.DependenciesContainer()
    engine = providers.Singleton(_engine, runtime.settings, runtime.resources)
    lock_engine = providers.Singleton(_lock_engine, runtime.settings, runtime.resources)
    store = providers.Singleton(InMemoryStore)
    transactions = providers.Selector(
        providers.Callable(_kind, runtime.settings),
        sql=providers.Singleton(SqlTransactions, engine, runtime.clock, runtime.ids),
        memory=providers.Singleton(InMemoryTransactions, store, runtime.clock, runtime.ids),
    )
    #: The schema's revision against this code's (readiness).
    schema = providers.Selector(
        providers.Callable(_kind, runtime.settings),
        sql=providers.Singleton(SqlDatabaseSchema, engine),
        memory=providers.Singleton(InMemoryDatabaseSchema),
    )
    #: Which tenants exist, remembered once found (tenants are never deleted): every area
    #: that checks a tenant shares it.
    known_tenants = providers.Singleton(KnownTenants, transactions=transactions)
