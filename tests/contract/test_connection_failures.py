"""What a connection to the database that cannot be opened, or is lost while an advisory lock
is taken, answers — the same from a transaction, the graph's source and each advisory lock:
DATABASE_UNAVAILABLE, naming credentials the server refused and a database never migrated,
else an outage to retry (ADR 0043)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.filesystem.checkpoints import DirectoryCheckpointSink
from adapters.memory.graph import InMemoryGraphProjection
from adapters.sql.audit import PostgresCheckpointLock
from adapters.sql.engine import create_engine
from adapters.sql.inline_sqlite import inline_connector
from adapters.sql.projection import PostgresRebuildLock, SqlProjectionSource
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.audit.use_cases import (
    VerifyAuditChain,
    VerifyAuditChainQuery,
    WriteCheckpoint,
    WriteCheckpointCommand,
)
from admin_core.graph.model import NodeLabel
from admin_core.graph.ports import GraphUnavailable
from admin_core.graph.use_cases import RebuildCommand, RebuildProjection
from admin_core.kernel.errors import DatabaseUnavailable
from tests.support.cut_connection import cutting_relay
from tests.support.databases import postgres_urls
from tests.support.killed_lock_holder import OPERATOR, checkpoint_parts
from tests.support.services import service_url

OUTAGE = ("DATABASE_UNAVAILABLE", "The database is unreachable; try again shortly.", {})
NEVER_MIGRATED = (
    "DATABASE_UNAVAILABLE",
    "The database has no schema yet: run `adminctl db upgrade` on it.",
    {},
)
CREDENTIALS_REFUSED = (
    "DATABASE_UNAVAILABLE",
    "The database refused the credentials (SQLSTATE 28P01): check the user and password of"
    " the database URL.",
    {"sqlstate": "28P01"},
)


async def _transaction(engine: AsyncEngine) -> None:
    async with SqlTransactions(engine, SystemClock(), UlidGenerator())() as tx:
        await tx.tenants.get("")


async def _source(engine: AsyncEngine) -> None:
    async with SqlProjectionSource(engine).read() as reader:
        await reader.count_nodes(NodeLabel.PROVIDER)


async def _rebuild_lock(engine: AsyncEngine) -> None:
    async with PostgresRebuildLock(engine).hold():
        pass


async def _checkpoint_lock(engine: AsyncEngine) -> None:
    async with PostgresCheckpointLock(engine).hold():
        pass


async def _checkpoint_lock_reading(engine: AsyncEngine) -> None:
    async with PostgresCheckpointLock(engine).reading():
        pass


Opening = Callable[[AsyncEngine], Awaitable[None]]
#: What opens a connection of its own, with whether it takes the pool's (the locks take the
#: lock engine's, which has none: `Database.lock_engine`).
OPENINGS: dict[str, tuple[Opening, bool]] = {
    "transaction": (_transaction, True),
    "graph source": (_source, True),
    "rebuild lock": (_rebuild_lock, False),
    "checkpoint lock": (_checkpoint_lock, False),
    "checkpoint lock, reading": (_checkpoint_lock_reading, False),
}
#: Those of them on SQLite (whose locks are files beside the database, not connections).
ON_SQLITE = ("transaction", "graph source")


async def _answer(opening: str, engine: AsyncEngine) -> tuple[str, str, dict[str, Any]]:
    try:
        with pytest.raises(DatabaseUnavailable) as raised:
            await OPENINGS[opening][0](engine)
    finally:
        await engine.dispose()
    return raised.value.code, raised.value.message, raised.value.details


def _engine(url: str, pooled: bool) -> AsyncEngine:
    return create_engine(url, pooled=pooled, create=False, connect_timeout=0.5)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _silent_port() -> Iterator[int]:
    """A port that accepts connections (into its backlog) and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


def _postgres_url(port: int, password: str = "pw") -> str:
    return f"postgresql+asyncpg://admin_app:{password}@127.0.0.1:{port}/admin_core"


@pytest.mark.parametrize("opening", OPENINGS)
async def test_nothing_listening_is_an_outage(opening: str) -> None:
    engine = _engine(_postgres_url(_closed_port()), OPENINGS[opening][1])
    assert await _answer(opening, engine) == OUTAGE


@pytest.mark.parametrize("opening", OPENINGS)
async def test_no_answer_in_time_is_an_outage_within_the_connect_timeout(opening: str) -> None:
    with _silent_port() as port:
        started = time.monotonic()
        assert await _answer(opening, _engine(_postgres_url(port), OPENINGS[opening][1])) == OUTAGE
    assert time.monotonic() - started < 5


@pytest.mark.postgres
@pytest.mark.parametrize("opening", OPENINGS)
async def test_credentials_the_server_refuses_are_named(opening: str) -> None:
    real = urlsplit(postgres_urls()[0])
    wrong = real._replace(netloc=f"{real.username}:not-the-password@{real.hostname}:{real.port}")
    engine = _engine(urlunsplit(wrong), OPENINGS[opening][1])
    assert await _answer(opening, engine) == CREDENTIALS_REFUSED


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
@pytest.mark.parametrize("opening", ON_SQLITE)
async def test_no_pooled_connection_free_in_time_is_an_outage(
    backend: str, opening: str, tmp_path: Path
) -> None:
    """Every connection of the pool is in use for longer than a caller waits for one."""
    pool: dict[str, Any] = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2}
    if backend == "sqlite":
        database = tmp_path / "admin.sqlite"
        engine = create_async_engine(
            f"sqlite+aiosqlite:///{database}",
            async_creator=inline_connector(str(database)),
            **pool,
        )
    else:
        engine = create_async_engine(postgres_urls()[0], **pool)
    async with engine.connect():
        assert await _answer(opening, engine) == OUTAGE


@pytest.mark.parametrize("opening", ON_SQLITE)
async def test_no_sqlite_file_is_a_database_never_migrated(opening: str, tmp_path: Path) -> None:
    engine = _engine(f"sqlite+aiosqlite:///{tmp_path / 'none.sqlite'}", pooled=True)
    assert await _answer(opening, engine) == NEVER_MIGRATED
    assert not (tmp_path / "none.sqlite").exists()


@pytest.mark.parametrize("opening", ON_SQLITE)
async def test_a_sqlite_file_that_cannot_be_opened_is_an_outage(
    opening: str, tmp_path: Path
) -> None:
    """A directory where the file should be: SQLite cannot open it (as for a file of another
    owner), and nothing about it says the database was never migrated."""
    (tmp_path / "admin.sqlite").mkdir()
    engine = _engine(f"sqlite+aiosqlite:///{tmp_path / 'admin.sqlite'}", pooled=True)
    assert await _answer(opening, engine) == OUTAGE


# ================================================= a connection lost while the lock is taken


@pytest.fixture
async def cut_at_the_lock() -> AsyncIterator[AsyncEngine]:
    """The lock engine of a database whose connections are cut when a lock is asked for."""
    real = urlsplit(postgres_urls()[0])
    assert real.hostname is not None
    assert real.port is not None
    async with cutting_relay(real.hostname, real.port, cut_on=b"advisory_lock") as port:
        relayed = real._replace(netloc=f"{real.username}:{real.password}@127.0.0.1:{port}")
        engine = create_engine(urlunsplit(relayed), pooled=False, create=False)
        try:
            yield engine
        finally:
            await engine.dispose()


@pytest.mark.postgres
async def test_the_rebuild_lock_lost_while_taken_is_the_graphs_unavailable(
    cut_at_the_lock: AsyncEngine,
) -> None:
    with pytest.raises(GraphUnavailable):
        await _rebuild_lock(cut_at_the_lock)


@pytest.mark.postgres
@pytest.mark.parametrize("opening", ["checkpoint lock", "checkpoint lock, reading"])
async def test_the_checkpoint_lock_lost_while_taken_is_an_outage(
    opening: str, cut_at_the_lock: AsyncEngine
) -> None:
    assert await _answer(opening, cut_at_the_lock) == OUTAGE


@pytest.mark.postgres
async def test_a_rebuild_whose_lock_is_lost_while_taken_answers_an_outage(
    cut_at_the_lock: AsyncEngine,
) -> None:
    engine = create_engine(postgres_urls()[0])
    rebuild = RebuildProjection(
        source=SqlProjectionSource(engine),
        graph=InMemoryGraphProjection(),
        lock=PostgresRebuildLock(cut_at_the_lock),
        transactions=SqlTransactions(engine, SystemClock(), UlidGenerator()),
        ids=UlidGenerator(),
    )
    try:
        with pytest.raises(DatabaseUnavailable) as raised:
            await rebuild.execute(OPERATOR, RebuildCommand())
    finally:
        await engine.dispose()
    assert (raised.value.code, raised.value.message, raised.value.details) == OUTAGE


@pytest.mark.postgres
async def test_a_checkpoint_write_and_a_verify_whose_lock_is_lost_answer_an_outage(
    cut_at_the_lock: AsyncEngine, tmp_path: Path
) -> None:
    engine = create_engine(postgres_urls()[0])
    transactions = SqlTransactions(engine, SystemClock(), UlidGenerator())
    signer, keys = checkpoint_parts(tmp_path)
    sink, lock = DirectoryCheckpointSink(tmp_path / "sink"), PostgresCheckpointLock(cut_at_the_lock)
    write = WriteCheckpoint(
        transactions, signer=signer, keys=keys, sink=sink, lock=lock, clock=SystemClock()
    )
    verify = VerifyAuditChain(transactions, keys=keys, sink=sink, lock=lock)
    attempts: list[Callable[[], Awaitable[object]]] = [
        lambda: write.execute(OPERATOR, WriteCheckpointCommand(wait_seconds=0)),
        lambda: verify.execute(OPERATOR, VerifyAuditChainQuery(tenant_id="tenant-a")),
    ]
    answers = []
    try:
        for attempt in attempts:
            with pytest.raises(DatabaseUnavailable) as raised:
                await attempt()
            answers.append((raised.value.code, raised.value.message, raised.value.details))
    finally:
        await engine.dispose()
    assert answers == [OUTAGE, OUTAGE]


@pytest.mark.postgres
async def test_a_reader_whose_session_the_server_ends_while_it_waits_is_an_outage() -> None:
    """A server restarting (or an operator ending the session) while a verify waits for the
    checkpoint writer: the verify is told the database is out of reach."""
    engine = create_engine(postgres_urls()[0], pooled=False, create=False)
    lock = PostgresCheckpointLock(engine)
    try:
        async with lock.hold() as taken:
            assert taken
            waiting = asyncio.create_task(_checkpoint_lock_reading(engine))
            ended = 0
            for _ in range(100):
                await asyncio.sleep(0.05)
                ended = await _end_sessions_waiting_for("pg_advisory_lock_shared")
                if ended:
                    break
            assert ended == 1
            with pytest.raises(DatabaseUnavailable) as raised:
                await asyncio.wait_for(waiting, 10)
    finally:
        await engine.dispose()
    assert (raised.value.code, raised.value.message, raised.value.details) == OUTAGE


async def _end_sessions_waiting_for(function: str) -> int:
    """Ends the sessions of this database waiting in `function`; how many it ended."""
    super_url = service_url("POSTGRES_SUPER").replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(super_url)
    try:
        return int(
            await connection.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                " AND query LIKE $1",
                f"SELECT {function}(%",
            )
        )
    finally:
        await connection.close()
