"""The `DatabaseSchema` port on every adapter: the revision found, against this code's. On
PostgreSQL it is read as the app role, which `db upgrade` lets read `alembic_version`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.memory.health import InMemoryDatabaseSchema
from adapters.sql.engine import create_engine
from adapters.sql.migrate import SqlDatabaseSchema, head_revision, upgrade
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.health.errors import NotReady
from admin_core.health.model import SchemaAge
from admin_core.health.use_cases import CheckReadiness
from tests.support.databases import postgres_urls

#: Guards against a hang, never a measure of speed.
GUARD_S = 30.0

SetRevision = Callable[[str | None], Awaitable[None]]


@asynccontextmanager
async def sql_schema(
    backend: str, tmp_path: Path
) -> AsyncIterator[tuple[SqlDatabaseSchema, SetRevision]]:
    if backend == "sqlite":
        app_url = owner_url = f"sqlite+aiosqlite:///{tmp_path / 'admin_core.db'}"
        await upgrade(app_url)
    else:
        app_url, owner_url = postgres_urls()
    app, owner = create_engine(app_url), create_engine(owner_url)

    async def set_revision(revision: str | None) -> None:
        async with owner.begin() as connection:
            await connection.execute(sa.text("DELETE FROM alembic_version"))
            if revision is not None:
                await connection.execute(
                    sa.text("INSERT INTO alembic_version (version_num) VALUES (:r)"),
                    {"r": revision},
                )

    try:
        yield SqlDatabaseSchema(app), set_revision
    finally:
        await set_revision(head_revision())
        await app.dispose()
        await owner.dispose()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_the_revision_is_compared_with_this_codes(backend: str, tmp_path: Path) -> None:
    async with sql_schema(backend, tmp_path) as (schema, set_revision):
        current = await schema.revision()
        assert (current.found, current.needed, current.age) == (
            head_revision(),
            head_revision(),
            SchemaAge.CURRENT,
        )
        await set_revision("0011")
        older = await schema.revision()
        assert (older.found, older.age) == ("0011", SchemaAge.OLDER)
        await set_revision(None)
        assert (await schema.revision()).age is SchemaAge.OLDER
        await set_revision("9999_a_later_release")
        newer = await schema.revision()
        assert (newer.found, newer.age) == ("9999_a_later_release", SchemaAge.NEWER)


async def test_the_in_memory_store_is_always_this_codes_shape() -> None:
    assert (await InMemoryDatabaseSchema().revision()).age is SchemaAge.CURRENT


@pytest.mark.postgres
async def test_a_database_that_takes_no_writes_is_not_ready() -> None:
    """After a failover a replica's URL may reach the former primary, now a standby: it
    answers every read and refuses every write. A load balancer must send no one there."""
    app_url, _ = postgres_urls()
    engine = create_async_engine(
        app_url, connect_args={"server_settings": {"default_transaction_read_only": "on"}}
    )
    readiness = CheckReadiness(
        SqlTransactions(engine, SystemClock(), UlidGenerator()),
        GUARD_S,
        schema=SqlDatabaseSchema(engine),
    )
    try:
        with pytest.raises(NotReady, match="takes no writes"):
            await readiness.execute()
    finally:
        await engine.dispose()
