"""SQLite in WAL mode: readers never wait for the writer; writers of one process queue at the
writer gate instead of failing with 'database is locked'; a writer of another process is
waited for without stopping the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.sql.engine import create_engine
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.kernel.errors import DatabaseUnavailable
from admin_core.users.model import UserContact
from tests.support.databases import database

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def contact(user_id: str, name: str) -> UserContact:
    return UserContact(id=user_id, email=None, name=name, updated_at=T0)


async def test_a_read_completes_while_a_write_transaction_is_held_open(tmp_path: Path) -> None:
    async with database("sqlite", tmp_path) as transactions:
        assert isinstance(transactions, SqlTransactions)
        async with transactions() as before:
            await before.users.upsert(contact("user_1", "Before"))
            await before.commit()

        async with transactions() as writer:
            await writer.users.upsert(contact("user_1", "Uncommitted"))  # holds the gate

            async def read() -> str | None:
                async with transactions() as reader:
                    found = await reader.users.get_many(["user_1"])
                return found["user_1"].name

            # Before the gate was for writes only, this read waited for the writer forever.
            assert await asyncio.wait_for(read(), timeout=5) == "Before"
            await writer.commit()

        async with transactions() as after:
            assert (await after.users.get_many(["user_1"]))["user_1"].name == "Uncommitted"


async def test_a_second_writer_waits_for_the_first_and_then_writes(tmp_path: Path) -> None:
    async with database("sqlite", tmp_path) as transactions:

        async def second() -> None:
            async with transactions() as tx:
                await tx.users.upsert(contact("user_2", "Second"))
                await tx.commit()

        async with transactions() as first:
            await first.users.upsert(contact("user_1", "First"))
            waiting = asyncio.create_task(second())
            await asyncio.sleep(0.2)
            assert not waiting.done()  # queued at the gate, not failed
            await first.commit()
        await asyncio.wait_for(waiting, timeout=5)

        async with transactions() as tx:
            names = {u.name for u in (await tx.users.get_many(["user_1", "user_2"])).values()}
        assert names == {"First", "Second"}


async def test_a_writer_waits_for_another_process_without_stopping_the_server(
    tmp_path: Path,
) -> None:
    async with database("sqlite", tmp_path) as transactions:
        other = sqlite3.connect(tmp_path / "admin_core.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process (an adminctl command) is writing

        async def write() -> None:
            async with transactions() as tx:
                await tx.users.upsert(contact("user_1", "Waited"))
                await tx.commit()

        writing = asyncio.create_task(write())
        started = time.monotonic()
        ticks = 0
        while time.monotonic() - started < 0.3:  # the loop keeps serving meanwhile
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks >= 10
        assert not writing.done()
        async with transactions() as reader:
            assert await reader.users.get_many(["user_1"]) == {}
        other.execute("COMMIT")
        await asyncio.wait_for(writing, timeout=5)
        other.close()

        async with transactions() as tx:
            assert (await tx.users.get_many(["user_1"]))["user_1"].name == "Waited"


async def test_a_write_lock_held_too_long_by_another_process_is_database_unavailable(
    tmp_path: Path,
) -> None:
    """Not a 500: the caller is told the database is busy and may try again; nothing was
    written."""
    async with database("sqlite", tmp_path):
        pass  # migrated
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'admin_core.db'}", lock_timeout=0.2)
    transactions = SqlTransactions(engine, SystemClock(), UlidGenerator())
    other = sqlite3.connect(tmp_path / "admin_core.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    async def write() -> None:
        async with transactions() as tx:
            await tx.users.upsert(contact("user_1", "Never"))
            await tx.commit()

    try:
        with pytest.raises(DatabaseUnavailable):
            await write()
    finally:
        other.execute("ROLLBACK")
        other.close()
    try:
        async with transactions() as tx:
            assert await tx.users.get_many(["user_1"]) == {}
    finally:
        await engine.dispose()
