"""Fresh databases for the contract suites: in-memory, SQLite (a temp file), PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryTransactions
from adapters.sql.engine import create_engine
from adapters.sql.migrate import upgrade
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.kernel.runtime import Clock
from admin_core.kernel.transaction import Transactions
from tests.support.services import in_thread, service_url

APP_ROLE = "admin_app"
BACKENDS = ("memory", "sqlite", "postgres")

_postgres_schema_ready = False


async def _reset_postgres_schema(owner_url: str) -> None:
    engine = create_engine(owner_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(sa.text("CREATE SCHEMA public"))
            await conn.execute(sa.text(f'GRANT USAGE ON SCHEMA public TO "{APP_ROLE}"'))
    finally:
        await engine.dispose()
    await upgrade(owner_url, app_role=APP_ROLE)


_ENABLE = {"O": "ENABLE", "A": "ENABLE ALWAYS", "R": "ENABLE REPLICA"}


async def truncate_postgres(owner_url: str) -> None:
    """Empty every table between tests (as the owner; the app role may not TRUNCATE).

    Tables that refuse TRUNCATE by trigger (the audit log) have those triggers switched off
    for this one transaction and restored to their exact mode before it commits; nothing
    else ever sees them off.
    """
    engine = create_engine(owner_url)
    try:
        async with engine.begin() as conn:
            names = (
                await conn.execute(
                    sa.text(
                        "select tablename from pg_tables where schemaname = 'public' "
                        "and tablename <> 'alembic_version'"
                    )
                )
            ).scalars()
            tables = ", ".join(f'"{n}"' for n in names)
            if not tables:
                return
            triggers = (
                await conn.execute(
                    sa.text(
                        "select c.relname, t.tgname, t.tgenabled::text from pg_trigger t "
                        "join pg_class c on c.oid = t.tgrelid "
                        "join pg_namespace n on n.oid = c.relnamespace "
                        "where n.nspname = 'public' and not t.tgisinternal "
                        "and t.tgenabled <> 'D'"
                    )
                )
            ).all()
            for table, trigger, _ in triggers:
                await conn.execute(sa.text(f'ALTER TABLE "{table}" DISABLE TRIGGER "{trigger}"'))
            await conn.execute(sa.text(f"TRUNCATE {tables} CASCADE"))
            for table, trigger, mode in triggers:
                await conn.execute(
                    sa.text(f'ALTER TABLE "{table}" {_ENABLE[mode]} TRIGGER "{trigger}"')
                )
    finally:
        await engine.dispose()


def postgres_urls() -> tuple[str, str]:
    """(app url, owner url) of a migrated test database; migrated once per test session."""
    global _postgres_schema_ready
    app_url, owner_url = service_url("POSTGRES"), service_url("POSTGRES_OWNER")
    if not _postgres_schema_ready:
        in_thread(_reset_postgres_schema(owner_url))
        _postgres_schema_ready = True
    return app_url, owner_url


@asynccontextmanager
async def database(
    backend: str, tmp_path: Path, *, clock: Clock | None = None
) -> AsyncIterator[Transactions]:
    """A unit-of-work factory over an empty, migrated database of the given backend."""
    clock = clock or SystemClock()
    if backend == "memory":
        yield InMemoryTransactions(InMemoryStore(), clock, UlidGenerator())
        return
    engine: AsyncEngine
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'admin_core.db'}"
        await upgrade(url)
        engine = create_engine(url)
    elif backend == "postgres":
        app_url, owner_url = postgres_urls()
        await truncate_postgres(owner_url)
        engine = create_engine(app_url)
    else:
        raise ValueError(backend)
    try:
        yield SqlTransactions(engine, clock, UlidGenerator())
    finally:
        await engine.dispose()


@asynccontextmanager
async def icu_database(icu_locale: str = "und") -> AsyncIterator[str]:
    """The owner URL of a new, empty PostgreSQL database whose default collation is ICU's
    `icu_locale` (the root locale `und` unless told), as a cluster made for people's
    languages sorts, dropped on exit."""
    import asyncpg

    owner_url = service_url("POSTGRES_OWNER")
    super_url = service_url("POSTGRES_SUPER")
    parts = urlsplit(owner_url)
    name = f"{parts.path.lstrip('/')}_icu"
    owner = parts.username

    async def admin(statement: str) -> None:
        dsn = super_url.replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin(
        f'CREATE DATABASE "{name}" OWNER "{owner}" TEMPLATE template0 '
        f"LOCALE_PROVIDER icu ICU_LOCALE '{icu_locale}' LOCALE 'C.UTF-8'"
    )
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
