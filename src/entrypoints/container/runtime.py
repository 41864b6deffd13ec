"""Time, ids, the list of resources to close, and the database every area shares."""

from __future__ import annotations

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
    resources.add("database engine", engine.dispose)
    return engine


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
