"""`audit verify` on one replica while another writes a checkpoint: no false alarm.

A writer stores a checkpoint in the database, then publishes it to the sink; a verifier reads
the database's checkpoints, then the sink's copies, then asks the sink for one more. Without
the checkpoint lock's `reading` side, a verify overlapping a routine (periodic) checkpoint
answered ok=false, `checkpoint_missing_in_sink` or `checkpoint_missing_in_database`, though
nobody touched anything.

Both replicas: their own engine on the same PostgreSQL database, or on the same SQLite file
(two processes of the embedded mode), and one shared directory sink (as production would
share a mount; the embedded mode keeps it beside the file). The sink is given a little
latency (a network mount), which only widens a window that always exists.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.ed25519.keys import Ed25519CheckpointKeys, Ed25519CheckpointSigner
from adapters.filesystem.checkpoints import DirectoryCheckpointSink
from adapters.sql.audit import PostgresCheckpointLock, SqliteCheckpointLock
from adapters.sql.engine import create_engine
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import UlidGenerator
from admin_core.audit.model import ChainVerification
from admin_core.audit.ports import CheckpointLock
from admin_core.audit.use_cases import (
    CheckpointWritten,
    VerifyAuditChain,
    VerifyAuditChainQuery,
    WriteCheckpoint,
    WriteCheckpointCommand,
)
from admin_core.kernel.principal import Principal
from tests.support.audit import tenant_update as record
from tests.support.clock import ManualClock
from tests.support.databases import database, postgres_urls


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """PostgreSQL replicas, or processes on one embedded SQLite file (a server writing its
    periodic checkpoints, `adminctl audit verify` beside it)."""
    return str(request.param)


OPERATOR = Principal.operator("checkpoint-race")
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class SlowSink(DirectoryCheckpointSink):
    """The directory sink behind a network mount: each call takes `delay` seconds."""

    def __init__(
        self, directory: Path, *, publish_delay: float = 0.0, read_delay: float = 0.0
    ) -> None:
        super().__init__(directory)
        self.publish_delay = publish_delay
        self.read_delay = read_delay

    async def publish(self, seq: int, document: bytes) -> None:
        await asyncio.sleep(self.publish_delay)
        await super().publish(seq, document)

    async def read(self, seq: int) -> bytes | None:
        await asyncio.sleep(self.read_delay)
        return await super().read(seq)

    async def read_many(self, seqs: Sequence[int]) -> list[bytes | None]:
        await asyncio.sleep(self.read_delay)
        return await super().read_many(seqs)


def _url(transactions: object) -> str:
    engine: AsyncEngine = transactions.engine  # type: ignore[attr-defined]
    return engine.url.render_as_string(hide_password=False)


def _lock(backend: str, engine: AsyncEngine) -> CheckpointLock:
    """Each replica's own lock, as its container builds it."""
    if backend == "sqlite":
        return SqliteCheckpointLock(engine.url.render_as_string(hide_password=False))
    return PostgresCheckpointLock(engine)


@asynccontextmanager
async def _replicas(
    backend: str, tmp_path: Path, writer_sink: SlowSink, verify_sink: SlowSink
) -> AsyncIterator[tuple[WriteCheckpoint, VerifyAuditChain]]:
    clock = ManualClock(T0, step=timedelta(seconds=1))
    async with database(backend, tmp_path, clock=clock) as uow_a:
        url = postgres_urls()[0] if backend == "postgres" else _url(uow_a)
        engine_b = create_engine(url)
        try:
            uow_b = SqlTransactions(engine_b, clock, UlidGenerator())
            signer = Ed25519CheckpointSigner(tmp_path / "keys" / "checkpoint.pem", create=True)
            keys = Ed25519CheckpointKeys([signer.public_key])
            writer = WriteCheckpoint(  # replica A: the periodic checkpoint writer
                uow_a,
                signer=signer,
                keys=keys,
                sink=writer_sink,
                lock=_lock(backend, uow_a.engine),  # type: ignore[attr-defined]
                clock=clock,
            )
            verify = VerifyAuditChain(  # replica B
                uow_b, keys=keys, sink=verify_sink, lock=_lock(backend, engine_b)
            )
            async with uow_a() as tx:
                for n in range(1, 6):
                    await tx.audit.append(record(n))
                await tx.commit()
            assert (await writer.execute(OPERATOR, WriteCheckpointCommand())).written
            async with uow_a() as tx:
                await tx.audit.append(record(6))
                await tx.commit()
            yield writer, verify
        finally:
            await engine_b.dispose()


async def test_verify_during_a_checkpoint_publish_reports_missing_in_sink(
    backend: str, tmp_path: Path
) -> None:
    sink = tmp_path / "sink"
    async with _replicas(backend, tmp_path, SlowSink(sink, publish_delay=0.5), SlowSink(sink)) as (
        writer,
        verify,
    ):
        # Sanity: with nothing running, the chain verifies.
        quiet = await verify.execute(OPERATOR, VerifyAuditChainQuery(tenant_id="tenant-a"))
        assert quiet.ok, quiet

        async def verify_meanwhile() -> ChainVerification:
            await asyncio.sleep(0.25)  # checkpoint 2 committed, its publish still on its way
            return await verify.execute(OPERATOR, VerifyAuditChainQuery(tenant_id="tenant-a"))

        written, result = await asyncio.gather(
            writer.execute(OPERATOR, WriteCheckpointCommand()), verify_meanwhile()
        )
        assert written.written
        # Nobody touched anything: verify must not report a problem.
        assert result.checkpoint_problem is None, result.checkpoint_problem
        assert result.ok


async def test_verify_while_a_checkpoint_is_written_reports_missing_in_database(
    backend: str, tmp_path: Path
) -> None:
    sink = tmp_path / "sink"
    async with _replicas(backend, tmp_path, SlowSink(sink), SlowSink(sink, read_delay=0.3)) as (
        writer,
        verify,
    ):

        async def write_meanwhile() -> CheckpointWritten:
            await asyncio.sleep(0.1)  # verify has read the database's checkpoints
            return await writer.execute(OPERATOR, WriteCheckpointCommand())

        result, written = await asyncio.gather(
            verify.execute(OPERATOR, VerifyAuditChainQuery(tenant_id="tenant-a")),
            write_meanwhile(),
        )
        assert written.written
        assert result.checkpoint_problem is None, result.checkpoint_problem
        assert result.ok
