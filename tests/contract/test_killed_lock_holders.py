"""A process of the embedded mode killed (SIGKILL) while it holds a lock the processes on one
SQLite file share: the lock goes with it, and the next process does the work — a graph
rebuild, or a checkpoint whose database copy the dead one committed and never published."""

from __future__ import annotations

from pathlib import Path

from adapters.filesystem.checkpoints import DirectoryCheckpointSink
from adapters.memory.graph import InMemoryGraphProjection
from adapters.sql.audit import SqliteCheckpointLock
from adapters.sql.engine import create_engine
from adapters.sql.migrate import upgrade
from adapters.sql.projection import SqliteRebuildLock, SqlProjectionSource
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.audit.checkpoints import CheckpointIssue
from admin_core.audit.use_cases import (
    VerifyAuditChain,
    VerifyAuditChainQuery,
    WriteCheckpoint,
    WriteCheckpointCommand,
)
from admin_core.graph.model import NodeLabel
from admin_core.graph.use_cases import RebuildCommand, RebuildProjection
from tests.support.audit import tenant_update
from tests.support.demo import seed_demo_into
from tests.support.killed import run_until_killed
from tests.support.killed_lock_holder import OPERATOR, checkpoint_parts

MODULE = "tests.support.killed_lock_holder"


async def test_a_rebuild_killed_part_way_leaves_the_lock_to_the_next(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'admin.sqlite'}"
    await upgrade(url)
    engine = create_engine(url)
    try:
        transactions = SqlTransactions(engine, SystemClock(), UlidGenerator())
        await seed_demo_into(transactions)
        await run_until_killed(MODULE, "rebuild", url, str(tmp_path))
        graph = InMemoryGraphProjection()
        done = await RebuildProjection(
            source=SqlProjectionSource(engine),
            graph=graph,
            lock=SqliteRebuildLock(url),
            transactions=transactions,
            ids=UlidGenerator(),
        ).execute(OPERATOR, RebuildCommand())
    finally:
        await engine.dispose()
    assert done.counts[NodeLabel.PROVIDER] > 0
    assert len(await graph.scan_nodes(NodeLabel.PROVIDER)) == done.counts[NodeLabel.PROVIDER]


async def test_a_checkpoint_killed_before_its_publish_is_published_by_the_next_writer(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'admin.sqlite'}"
    await upgrade(url)
    engine = create_engine(url)
    try:
        transactions = SqlTransactions(engine, SystemClock(), UlidGenerator())
        async with transactions() as tx:
            for n in range(1, 4):
                await tx.audit.append(tenant_update(n))
            await tx.commit()
        await run_until_killed(MODULE, "checkpoint", url, str(tmp_path))

        signer, keys = checkpoint_parts(tmp_path)
        sink, lock = DirectoryCheckpointSink(tmp_path / "sink"), SqliteCheckpointLock(url)
        verify = VerifyAuditChain(transactions, keys=keys, sink=sink, lock=lock)
        query = VerifyAuditChainQuery(tenant_id="tenant-a")
        meanwhile = await verify.execute(OPERATOR, query)
        periodic = WriteCheckpointCommand(only_if_changed=True, wait_seconds=0)
        written = await WriteCheckpoint(
            transactions, signer=signer, keys=keys, sink=sink, lock=lock, clock=SystemClock()
        ).execute(OPERATOR, periodic)
        after = await VerifyAuditChain(transactions, keys=keys, sink=sink, lock=lock).execute(
            OPERATOR, query
        )
    finally:
        await engine.dispose()
    # the window ADR 0056 leaves open: the dead writer's checkpoint is in the database only
    assert meanwhile.checkpoint_problem is not None
    assert meanwhile.checkpoint_problem.reason == CheckpointIssue.MISSING_IN_SINK
    # nothing moved since, so the periodic writer writes none, but publishes the dead one's
    assert not written.written
    assert written.checkpoint is not None
    assert await sink.read(written.checkpoint.seq) is not None
    assert after.ok, after
