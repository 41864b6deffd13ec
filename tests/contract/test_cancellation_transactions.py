"""A transaction cancelled at any of its awaits, on every database: by an embedder's
`asyncio.timeout`, or a server cancelling a request's task (docs/adr/0064-cancellation.md).

Whatever the point — connecting, queued at SQLite's writer gate, holding it, in a statement,
in the commit, in the close — what it wrote is either all committed or not at all, the next
write of the process goes through (the gate is not left taken), and the pool has every
connection back: as many transactions as it has connections, and more, still run at once."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.sql.engine import DEFAULT_POOL_SIZE
from adapters.sql.transaction import SqlTransactions
from admin_core.audit.model import AuditFilter, AuditRecord
from admin_core.kernel.transaction import Transactions
from admin_core.users.model import UserContact
from tests.support.cancelling import at_every_suspension, cancelled_at
from tests.support.databases import database

T0 = datetime(2026, 3, 1, tzinfo=UTC)
#: How long the next write may take once the cancelled one is gone: far more than it needs.
NEXT_WRITE_S = 10.0


class Refused(Exception):
    """What a use case raises after writing: its transaction is rolled back at close."""


def _record(user_id: str) -> AuditRecord:
    return AuditRecord(
        tenant_id=f"tenant-{user_id}",
        actor_id="user_ops",
        actor_role="org:super_admin",
        action="user.update",
        event_type="ADMIN_USER_UPDATE",
        resource_type="user",
        resource_id=user_id,
    )


def _contact(user_id: str) -> UserContact:
    return UserContact(id=user_id, email=None, name="A", updated_at=T0)


async def _write(transactions: Transactions, user_id: str, *, ending: str = "commit") -> None:
    """Two rows and an audit entry in one transaction, with an await of something else (an
    identity provider, say) between them; then committed, or refused after the writes."""
    async with transactions() as tx:
        await tx.users.upsert(_contact(user_id))
        await asyncio.sleep(0)
        await tx.audit.append(_record(user_id))
        await tx.users.upsert(_contact(f"{user_id}-b"))
        if ending == "error":
            raise Refused(user_id)
        await tx.commit()


async def _written(transactions: Transactions, user_id: str) -> tuple[int, int]:
    async with transactions() as tx:
        contacts = await tx.users.get_many([user_id, f"{user_id}-b"])
        entries = await tx.audit.count(AuditFilter(tenant_id=f"tenant-{user_id}"))
    return len(contacts), entries


def _checked_out(transactions: Transactions) -> int:
    if isinstance(transactions, SqlTransactions):
        return int(transactions.engine.pool.checkedout())  # type: ignore[attr-defined]
    return 0


async def _next_write_goes_through(transactions: Transactions, user_id: str) -> None:
    await asyncio.wait_for(_write(transactions, user_id), NEXT_WRITE_S)
    assert await _written(transactions, user_id) == (2, 1)


async def _many_at_once(transactions: Transactions, count: int) -> None:
    """`count` transactions each holding its connection for a moment, all at once."""

    async def one(i: int) -> None:
        async with transactions() as tx:
            await tx.users.upsert(_contact(f"many_{i}"))
            await asyncio.sleep(0.05)
            await tx.commit()

    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(count))), NEXT_WRITE_S)
    async with transactions() as tx:
        assert len(await tx.users.get_many([f"many_{i}" for i in range(count)])) == count


async def _cancelled_everywhere(
    transactions: Transactions, *, ending: str, again: bool, prefix: str
) -> int:
    run = 0

    async def operation() -> None:
        with contextlib.suppress(Refused):
            await _write(transactions, f"{prefix}{run}", ending=ending)

    async def check(k: int) -> None:
        nonlocal run
        # all or nothing; an error after the writes: nothing
        possible = {(0, 0), (2, 1)} if ending == "commit" else {(0, 0)}
        assert await asyncio.wait_for(_written(transactions, f"{prefix}{k}"), NEXT_WRITE_S) in (
            possible
        ), k
        assert _checked_out(transactions) == 0, k
        await _next_write_goes_through(transactions, f"{prefix}next_{k}")
        run = k + 1

    return await at_every_suspension(operation, check, again=again)


@pytest.mark.parametrize("again", [False, True], ids=["once", "again_and_again"])
@pytest.mark.parametrize("ending", ["commit", "error"])
async def test_a_write_cancelled_at_any_await_is_all_or_nothing_and_leaves_the_next_free(
    uow: Transactions, ending: str, again: bool
) -> None:
    """`again`: cancelled at that point and at every one after it, as a server that cancels
    a task still cleaning up (the close's rollback cut short too)."""
    points = await _cancelled_everywhere(uow, ending=ending, again=again, prefix="warm")
    assert points >= 1  # at least the await between the writes
    await _many_at_once(uow, 2 * DEFAULT_POOL_SIZE)


@pytest.mark.postgres
@pytest.mark.parametrize("again", [False, True], ids=["once", "again_and_again"])
async def test_cancelled_while_connecting_the_pool_loses_no_connection(
    tmp_path: Path, again: bool
) -> None:
    """Cancelled while the pool opens a connection (each run starts on an empty pool), more
    times than the pool has connections: every connection comes back."""
    async with database("postgres", tmp_path) as transactions:
        assert isinstance(transactions, SqlTransactions)
        engine = transactions.engine
        run = 0

        async def operation() -> None:
            await engine.dispose()  # an empty pool: this run opens its connection
            await _write(transactions, f"cold{run}")

        async def check(k: int) -> None:
            nonlocal run
            assert await _written(transactions, f"cold{k}") in {(0, 0), (2, 1)}
            assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
            run = k + 1

        points = await at_every_suspension(operation, check, again=again)
        assert points > DEFAULT_POOL_SIZE
        await _many_at_once(transactions, 2 * DEFAULT_POOL_SIZE)


@pytest.mark.parametrize("when", ["queued", "just_let_in"])
async def test_a_writer_cancelled_while_queued_at_the_gate_leaves_it_to_the_next(
    tmp_path: Path, when: str
) -> None:
    """SQLite: a writer queued behind another of the process is cancelled while it waits
    (`queued`), or once the gate was handed to it but before it ran (`just_let_in`): it
    writes nothing, and the gate goes to the writer after it."""
    async with database("sqlite", tmp_path) as transactions:
        async with transactions() as first:
            await first.users.upsert(_contact("first"))  # takes the gate
            queued = asyncio.create_task(_write(transactions, "queued"))
            after = asyncio.create_task(_write(transactions, "after"))
            for _ in range(3):
                await asyncio.sleep(0)  # both wait at the gate
            if when == "queued":
                queued.cancel()
                await first.commit()
            else:
                await first.commit()  # the gate is handed to `queued`...
                queued.cancel()  # ...which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await queued
        await asyncio.wait_for(after, NEXT_WRITE_S)
        assert await _written(transactions, "queued") == (0, 0)
        assert await _written(transactions, "after") == (2, 1)
        await _next_write_goes_through(transactions, "next")


async def test_a_writer_cancelled_while_another_process_holds_the_write_lock_lets_go(
    tmp_path: Path,
) -> None:
    """SQLite: a writer waiting for another process's write lock (`BEGIN IMMEDIATE` retried
    on the event loop), cancelled there, leaves the gate and the database to the next."""
    async with database("sqlite", tmp_path) as transactions:
        assert isinstance(transactions, SqlTransactions)
        path = str(transactions.engine.url.database)
        for k in range(4):
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # another process's writer
            try:
                cancelled = await cancelled_at(k, lambda k=k: _write(transactions, f"waiting_{k}"))
                assert cancelled is True, k  # the lock was still held: it was waiting
            finally:
                other.execute("ROLLBACK")
                other.close()
            assert await _written(transactions, f"waiting_{k}") == (0, 0)
            await _next_write_goes_through(transactions, f"after_{k}")
