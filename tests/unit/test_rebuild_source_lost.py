"""A graph rebuild whose source database goes away as it reads, on the in-memory adapters:
the caller is told the database (not the graph) is out of reach, the failure's audit entry
is lost in one log line rather than in place of that answer, and the next rebuild runs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from adapters.memory.directory import InMemoryProjectionSource
from adapters.memory.graph import InMemoryGraphProjection, InProcessRebuildLock
from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.audit.model import AuditFilter
from admin_core.graph.errors import GraphRebuildFailed
from admin_core.graph.model import GraphScope
from admin_core.graph.ports import ProjectionReader
from admin_core.graph.use_cases import (
    REBUILD_ACTION,
    SOURCE_UNREACHABLE,
    RebuildCommand,
    RebuildProjection,
)
from admin_core.kernel.errors import DatabaseUnavailable
from admin_core.kernel.principal import Principal
from tests.support.demo import seed_demo_into

OPERATOR = Principal.operator("test", request_id="req-1")


class Database:
    """The in-memory store behind a database that can go away: while `down`, reading the
    directory and opening a transaction are DATABASE_UNAVAILABLE."""

    def __init__(self) -> None:
        self.store = InMemoryStore()
        self.inner = InMemoryTransactions(self.store, SystemClock(), UlidGenerator())
        self.down = False

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[Any]:
        if self.down:
            raise DatabaseUnavailable()
        async with self.inner() as tx:
            yield tx


class GoneSource(InMemoryProjectionSource):
    def __init__(self, database: Database) -> None:
        super().__init__(database.store)
        self.database = database
        self.goes_away = False

    @asynccontextmanager
    async def read(self) -> AsyncIterator[ProjectionReader]:
        if self.goes_away:
            self.database.down = True  # as the rebuild starts reading
            raise DatabaseUnavailable()
        async with super().read() as reader:
            yield reader


async def test_a_rebuild_whose_source_database_goes_away_says_so_and_the_next_one_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = Database()
    await seed_demo_into(database.inner)
    source = GoneSource(database)
    graph = InMemoryGraphProjection()
    rebuild = RebuildProjection(
        source=source,
        graph=graph,
        lock=InProcessRebuildLock(),
        transactions=database,  # type: ignore[arg-type]
        ids=UlidGenerator(),
    )
    audited = await rebuilds(database)
    source.goes_away = True
    caplog.set_level(logging.WARNING, logger="admin_core")
    with pytest.raises(GraphRebuildFailed) as failed:
        await rebuild.execute(OPERATOR, RebuildCommand(scope=GraphScope.DOCTORS))
    assert failed.value.message == SOURCE_UNREACHABLE
    assert failed.value.unreachable
    assert failed.value.details["scope"] == "doctors"
    assert "its failure could not be audited: DATABASE_UNAVAILABLE" in caplog.text
    database.down = False
    assert await rebuilds(database) == audited  # lost, said in the log

    source.goes_away = False
    result = await rebuild.execute(OPERATOR, RebuildCommand(scope=GraphScope.DOCTORS))
    assert result.written > 0
    assert await rebuilds(database) == [*audited, "succeeded"]


async def rebuilds(database: Database) -> list[str]:
    """The outcomes of the rebuilds audited, oldest first."""
    async with database.inner() as tx:
        entries = await tx.audit.query(AuditFilter(action=REBUILD_ACTION), before=None, limit=50)
    return [e.after["outcome"] for e in reversed(entries) if e.after]
