"""Contract of the ports of signed audit checkpoints (docs/adr/0056), on every adapter.

`CheckpointStore` (memory, SQLite, PostgreSQL): append-only, a taken `seq` is refused and the
first checkpoint kept; `latest` is the highest `seq`; `documents` pages in `seq` order; `heads`
lists every chain's head sorted by chain and never a chain still at seq 0.
`CheckpointSink` (memory, directory): a published checkpoint is never rewritten; the same
document again is a no-op, a different one raises AUDIT_CHAIN_BROKEN (`SINK_DISAGREES`).
`CheckpointLock` (in-process, PostgreSQL advisory lock): taken without waiting, by at most one
writer at a time, and free again once its holder is done; its `reading` side waits for a
writer, keeps writers out while held, and is shared by many readers.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.filesystem.checkpoints import DirectoryCheckpointSink
from adapters.memory.audit import InMemoryCheckpointSink, InProcessCheckpointLock
from adapters.memory.transaction import InMemoryTransactions
from adapters.sql.audit import PostgresCheckpointLock, SqliteCheckpointLock
from adapters.sql.engine import create_engine
from adapters.sql.transaction import SqlTransactions
from admin_core.audit.checkpoints import Checkpoint, CheckpointIssue, SealedHead
from admin_core.audit.errors import CHECKPOINTS, AuditChainBroken
from admin_core.audit.model import GENESIS_HASH, AuditRecord, ChainHead, chain_of, draft
from admin_core.audit.ports import CheckpointLock, CheckpointSink
from admin_core.kernel.transaction import Transactions
from tests.support.audit import tenant_update as record
from tests.support.databases import postgres_urls

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
KEY_ID = "0123456789abcdef"


def checkpoint(seq: int, *, signature: str = "signed-first") -> Checkpoint:
    """A well-formed checkpoint `seq`; another `signature` makes another document."""
    prev_hash = hashlib.sha256(str(seq - 1).encode()).hexdigest() if seq > 1 else GENESIS_HASH
    return Checkpoint(
        seq=seq,
        created_at=T0 + timedelta(minutes=seq),
        prev_hash=prev_hash,
        key_id=KEY_ID,
        heads=(
            SealedHead(chain=chain_of(None), seq=1, hash="b" * 64),
            SealedHead(chain=chain_of("tenant-a"), seq=seq, hash="a" * 64),
        ),
        signature=signature,
    )


async def add(uow: Transactions, *checkpoints: Checkpoint) -> list[bool]:
    async with uow() as tx:
        added = [await tx.checkpoints.add(c) for c in checkpoints]
        await tx.commit()
    return added


async def stored(uow: Transactions) -> list[tuple[int, bytes]]:
    async with uow() as tx:
        return list(await tx.checkpoints.documents(after_seq=0, limit=1000))


async def append(uow: Transactions, *records: AuditRecord) -> None:
    async with uow() as tx:
        for r in records:
            await tx.audit.append(r)
        await tx.commit()


# =========================================================================== CheckpointStore


async def test_an_empty_store_has_no_heads_no_latest_checkpoint_and_no_documents(
    uow: Transactions,
) -> None:
    async with uow() as tx:
        assert list(await tx.checkpoints.heads()) == []
        assert await tx.checkpoints.latest() is None
        assert list(await tx.checkpoints.documents(after_seq=0, limit=10)) == []


async def test_a_checkpoint_added_reads_back_as_latest_and_as_its_document(
    uow: Transactions,
) -> None:
    first = checkpoint(1)
    assert await add(uow, first) == [True]
    async with uow() as tx:
        assert await tx.checkpoints.latest() == first
        assert list(await tx.checkpoints.documents(after_seq=0, limit=10)) == [
            (1, first.document())
        ]


async def test_adding_a_taken_seq_returns_false_and_keeps_the_first_checkpoint(
    uow: Transactions,
) -> None:
    first, rival = checkpoint(1), checkpoint(1, signature="signed-by-another-writer")
    assert rival.document() != first.document()
    assert await add(uow, first) == [True]
    assert await add(uow, rival) == [False]
    assert await add(uow, first) == [False]  # even the very same checkpoint is not written twice
    async with uow() as tx:
        assert await tx.checkpoints.latest() == first
    assert await stored(uow) == [(1, first.document())]


async def test_a_refused_add_leaves_the_rest_of_its_transaction_to_commit(
    uow: Transactions,
) -> None:
    """Nothing is written for the taken seq, and only that: what the transaction did before
    and after the refused add is committed with it."""
    one, two, three = checkpoint(1), checkpoint(2), checkpoint(3)
    assert await add(uow, one) == [True]
    async with uow() as tx:
        assert await tx.checkpoints.add(two)
        assert not await tx.checkpoints.add(checkpoint(1, signature="late"))
        assert await tx.checkpoints.add(three)
        await tx.commit()
    assert await stored(uow) == [(1, one.document()), (2, two.document()), (3, three.document())]


async def test_two_writers_racing_for_one_seq_store_exactly_one_checkpoint(
    uow: Transactions,
) -> None:
    mine, theirs = checkpoint(1, signature="mine"), checkpoint(1, signature="theirs")
    results = await asyncio.gather(add(uow, mine), add(uow, theirs))
    assert sorted(r for [r] in results) == [False, True]
    winner = mine if results[0] == [True] else theirs
    assert await stored(uow) == [(1, winner.document())]
    async with uow() as tx:
        assert await tx.checkpoints.latest() == winner


async def test_a_checkpoint_added_in_a_rolled_back_transaction_is_not_kept(
    uow: Transactions,
) -> None:
    async with uow() as tx:
        assert await tx.checkpoints.add(checkpoint(1))
        await tx.rollback()
    async with uow() as tx:
        assert await tx.checkpoints.latest() is None
    assert await stored(uow) == []
    assert await add(uow, checkpoint(1, signature="again")) == [True]  # the seq is free


async def test_latest_is_the_checkpoint_with_the_highest_seq_whatever_the_order_added(
    uow: Transactions,
) -> None:
    assert await add(uow, checkpoint(2)) == [True]
    assert await add(uow, checkpoint(1), checkpoint(3)) == [True, True]
    async with uow() as tx:
        assert await tx.checkpoints.latest() == checkpoint(3)
    assert await add(uow, checkpoint(10)) == [True]
    async with uow() as tx:
        assert await tx.checkpoints.latest() == checkpoint(10)


async def test_documents_come_in_seq_order_after_the_given_seq_a_page_at_a_time(
    uow: Transactions,
) -> None:
    all_of_them = [checkpoint(seq) for seq in (4, 1, 5, 3, 2)]
    assert await add(uow, *all_of_them) == [True] * 5
    expected = [(seq, checkpoint(seq).document()) for seq in range(1, 6)]
    async with uow() as tx:
        assert list(await tx.checkpoints.documents(after_seq=0, limit=10)) == expected
        assert list(await tx.checkpoints.documents(after_seq=2, limit=10)) == expected[2:]
        assert list(await tx.checkpoints.documents(after_seq=0, limit=2)) == expected[:2]
        assert list(await tx.checkpoints.documents(after_seq=5, limit=10)) == []
        assert list(await tx.checkpoints.documents(after_seq=0, limit=0)) == []
        pages: list[list[tuple[int, bytes]]] = []
        after = 0
        while page := list(await tx.checkpoints.documents(after_seq=after, limit=2)):
            pages.append(page)
            after = page[-1][0]
    assert pages == [expected[0:2], expected[2:4], expected[4:5]]


async def test_heads_list_every_chain_at_its_last_entry_sorted_by_chain(
    uow: Transactions,
) -> None:
    await append(uow, record(1, "tenant-b"), record(1, None), record(1, "tenant-a"))
    await append(uow, record(2, "tenant-a"), record(3, "tenant-a"), record(2, "tenant-b"))
    chains = [chain_of("tenant-a"), chain_of("tenant-b"), chain_of(None)]
    async with uow() as tx:
        recorded = {chain: await tx.audit.head(chain) for chain in chains}
        heads = list(await tx.checkpoints.heads())
    assert [h.chain for h in heads] == sorted(chains)
    assert {h.chain: h.seq for h in heads} == {chains[0]: 3, chains[1]: 2, chains[2]: 1}
    assert {h.chain: ChainHead(chain=h.chain, seq=h.seq, hash=h.hash) for h in heads} == recorded


async def test_a_chain_appended_to_in_a_rolled_back_transaction_has_no_head(
    uow: Transactions,
) -> None:
    await append(uow, record(1, "tenant-a"))
    async with uow() as tx:
        await tx.audit.append(record(1, "tenant-rolled-back"))
        await tx.audit.append(record(2, "tenant-a"))
        await tx.rollback()
    async with uow() as tx:
        heads = list(await tx.checkpoints.heads())
    assert [(h.chain, h.seq) for h in heads] == [(chain_of("tenant-a"), 1)]


async def _begin_chain_without_linking(uow: Transactions, backend: str, chain: str) -> None:
    """A chain's head as linking writes it before the first link: seq 0, the genesis hash
    (on SQL, the row an interrupted or hand-made start leaves; in memory, the same head)."""
    if isinstance(uow, InMemoryTransactions):
        entry = draft(
            record(1, chain.removeprefix("tenant:")), entry_id="aud_begun", occurred_at=T0
        )
        uow.store.audit_heads[chain] = replace(entry, hash=GENESIS_HASH, prev_hash=GENESIS_HASH)
        return
    insert = sa.text(
        "INSERT INTO audit_chain_heads (chain, seq, hash, prev_hash) VALUES (:chain, 0, :z, :z)"
    )
    assert isinstance(uow, SqlTransactions)
    # PostgreSQL's app role may not write heads (only the linking trigger does): its owner can.
    engine = create_engine(postgres_urls()[1]) if backend == "postgres" else uow.engine
    try:
        async with engine.begin() as conn:
            await conn.execute(insert, {"chain": chain, "z": GENESIS_HASH})
    finally:
        if engine is not uow.engine:
            await engine.dispose()


async def test_a_chain_head_still_at_seq_0_is_never_listed(uow: Transactions, backend: str) -> None:
    """A checkpoint seals linked heads only: a chain with no linked entry is not among the
    heads, on any adapter."""
    await append(uow, record(1, "tenant-a"), record(2, "tenant-a"))
    await _begin_chain_without_linking(uow, backend, chain_of("tenant-begun"))
    async with uow() as tx:
        heads = list(await tx.checkpoints.heads())
    assert [(h.chain, h.seq) for h in heads] == [(chain_of("tenant-a"), 2)]
    assert all(h.seq > 0 for h in heads)


# =========================================================================== CheckpointSink

SINKS = ("memory", "directory")


@pytest.fixture(params=SINKS)
def sink_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_sink(kind: str, directory: Path) -> CheckpointSink:
    if kind == "memory":
        return InMemoryCheckpointSink()
    return DirectoryCheckpointSink(directory)


@pytest.fixture
def sink(sink_kind: str, tmp_path: Path) -> CheckpointSink:
    return make_sink(sink_kind, tmp_path / "sink")


def assert_sink_disagrees(error: AuditChainBroken) -> None:
    assert error.code == "AUDIT_CHAIN_BROKEN"
    assert (error.chain, error.reason) == (CHECKPOINTS, CheckpointIssue.SINK_DISAGREES)


async def test_a_checkpoint_never_published_reads_as_none(sink: CheckpointSink) -> None:
    assert await sink.read(1) is None
    await sink.publish(1, checkpoint(1).document())
    assert await sink.read(2) is None


async def test_a_published_checkpoint_reads_back_byte_for_byte(sink: CheckpointSink) -> None:
    for seq in (1, 2, 12):
        await sink.publish(seq, checkpoint(seq).document())
    for seq in (1, 2, 12):
        assert await sink.read(seq) == checkpoint(seq).document()


async def test_many_checkpoints_read_at_once_come_in_the_order_asked_none_for_the_unpublished(
    sink: CheckpointSink,
) -> None:
    for seq in (1, 2, 12):
        await sink.publish(seq, checkpoint(seq).document())
    assert await sink.read_many([12, 3, 1, 2]) == [
        checkpoint(12).document(),
        None,
        checkpoint(1).document(),
        checkpoint(2).document(),
    ]
    assert await sink.read_many([]) == []


async def test_publishing_the_same_document_again_is_a_no_op(sink: CheckpointSink) -> None:
    document = checkpoint(1).document()
    await sink.publish(1, document)
    await sink.publish(1, document)
    await sink.publish(1, bytes(document))  # equal bytes, not the same object
    assert await sink.read(1) == document


async def test_a_different_document_under_a_published_seq_raises_sink_disagrees_and_the_first_stays(
    sink: CheckpointSink,
) -> None:
    first = checkpoint(1).document()
    await sink.publish(1, first)
    for different in (checkpoint(1, signature="forged").document(), first + b" ", b""):
        with pytest.raises(AuditChainBroken) as refused:
            await sink.publish(1, different)
        assert_sink_disagrees(refused.value)
        assert await sink.read(1) == first
    await sink.publish(2, checkpoint(2).document())  # other seqs are unaffected
    assert await sink.read(2) == checkpoint(2).document()


async def test_two_publishers_racing_with_different_documents_keep_one_and_refuse_the_other(
    sink: CheckpointSink,
) -> None:
    mine, theirs = checkpoint(1, signature="mine").document(), checkpoint(1).document()
    results = await asyncio.gather(
        sink.publish(1, mine), sink.publish(1, theirs), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1, results
    assert isinstance(refused[0], AuditChainBroken)
    assert_sink_disagrees(refused[0])
    assert await sink.read(1) == (theirs if results[0] is refused[0] else mine)


async def test_a_directory_sink_never_rewrites_a_checkpoint_file(tmp_path: Path) -> None:
    sink = DirectoryCheckpointSink(tmp_path / "sink")
    document = checkpoint(1).document()
    await sink.publish(1, document)
    path = sink.path(1)
    written = path.stat()
    assert stat.S_IMODE(written.st_mode) == 0o444  # read-only once written
    await sink.publish(1, document)
    with pytest.raises(AuditChainBroken) as refused:
        await sink.publish(1, checkpoint(1, signature="forged").document())
    assert_sink_disagrees(refused.value)
    again = path.stat()
    assert (again.st_ino, again.st_mtime_ns, again.st_size) == (
        written.st_ino,
        written.st_mtime_ns,
        written.st_size,
    )
    assert path.read_bytes() == document
    assert sorted(os.listdir(sink.directory)) == [path.name]  # no temporary file left behind


async def test_a_directory_sink_opened_again_reads_and_guards_what_was_published(
    tmp_path: Path,
) -> None:
    """The files are the sink: another process (a new sink on the same directory) reads the
    checkpoints and refuses a different document just as the first did."""
    document = checkpoint(1).document()
    await DirectoryCheckpointSink(tmp_path / "sink").publish(1, document)
    reopened = DirectoryCheckpointSink(tmp_path / "sink")
    assert await reopened.read(1) == document
    await reopened.publish(1, document)
    with pytest.raises(AuditChainBroken) as refused:
        await reopened.publish(1, checkpoint(1, signature="forged").document())
    assert_sink_disagrees(refused.value)
    assert await reopened.read(1) == document


# =========================================================================== CheckpointLock

LOCKS = ("in-process", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres))


@pytest.fixture(params=LOCKS)
async def lock(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CheckpointLock]:
    if request.param == "in-process":
        yield InProcessCheckpointLock()
        return
    if request.param == "sqlite":
        (tmp_path / "admin.sqlite").touch()  # beside a database there is
        yield SqliteCheckpointLock(f"sqlite+aiosqlite:///{tmp_path / 'admin.sqlite'}")
        return
    app_url, _ = postgres_urls()
    engine = create_engine(app_url, pool_size=8)  # each hold is a session of its own
    try:
        yield PostgresCheckpointLock(engine)
    finally:
        await engine.dispose()


async def test_a_free_lock_is_taken(lock: CheckpointLock) -> None:
    async with lock.hold() as taken:
        assert taken is True


async def test_a_second_hold_while_one_is_held_does_not_get_the_lock_and_after_release_one_does(
    lock: CheckpointLock,
) -> None:
    async with lock.hold() as first:
        assert first is True
        async with lock.hold() as second:
            assert second is False  # single flight, and without waiting
    async with lock.hold() as after_release:
        assert after_release is True


async def test_a_hold_that_did_not_get_the_lock_leaves_it_with_its_holder(
    lock: CheckpointLock,
) -> None:
    async with lock.hold() as first:
        assert first
        async with lock.hold() as second:
            assert not second
        async with lock.hold() as third:  # the refused hold released nothing on its way out
            assert not third
    async with lock.hold() as after_release:
        assert after_release


async def test_the_lock_is_released_when_its_holder_fails(lock: CheckpointLock) -> None:
    async def failing_writer() -> None:
        async with lock.hold() as taken:
            assert taken
            raise RuntimeError("writer failed")

    with pytest.raises(RuntimeError, match="writer failed"):
        await failing_writer()
    async with lock.hold() as after_failure:
        assert after_failure


async def test_of_many_writers_at_once_at_most_one_holds_the_lock(lock: CheckpointLock) -> None:
    holding = 0
    most = 0

    async def writer() -> bool:
        nonlocal holding, most
        async with lock.hold() as taken:
            if taken:
                holding += 1
                most = max(most, holding)
                await asyncio.sleep(0.05)
                holding -= 1
        return taken

    results = await asyncio.gather(*(writer() for _ in range(5)))
    assert most == 1
    assert True in results
    async with lock.hold() as afterwards:
        assert afterwards


async def test_a_writer_is_kept_out_while_anyone_reads_and_gets_in_once_they_are_done(
    lock: CheckpointLock,
) -> None:
    async with lock.reading():
        async with lock.reading(), lock.hold() as during:  # readers share it
            assert during is False
        async with lock.hold() as one_reader_left:
            assert one_reader_left is False
    async with lock.hold() as afterwards:
        assert afterwards is True


async def test_a_reader_waits_for_the_writer_then_reads(lock: CheckpointLock) -> None:
    events: list[str] = []

    async def reader() -> None:
        async with lock.reading():
            events.append("read")

    async with lock.hold() as taken:
        assert taken
        waiting = asyncio.create_task(reader())
        await asyncio.sleep(0.2)
        events.append("written")
    await asyncio.wait_for(waiting, 10)
    assert events == ["written", "read"]


async def test_a_reader_that_gives_up_waiting_leaves_the_lock_free(lock: CheckpointLock) -> None:
    async def reader() -> None:
        async with lock.reading():
            pass

    async with lock.hold() as taken:
        assert taken
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader(), 0.2)
    async with lock.hold() as afterwards:
        assert afterwards is True
    async with lock.reading():
        pass
