"""The graph rebuild's lock and the checkpoint lock, their holder or waiter cancelled at any
of its awaits (docs/adr/0064-cancellation.md): the lock is let go, so the next rebuild or
checkpoint is not refused as busy, and no session holds it on the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.audit import InProcessCheckpointLock
from adapters.memory.graph import InProcessRebuildLock
from adapters.sql.audit import PostgresCheckpointLock, SqliteCheckpointLock
from adapters.sql.engine import create_engine
from adapters.sql.locks import held_exclusively
from adapters.sql.migrate import upgrade
from adapters.sql.projection import PostgresRebuildLock, SqliteRebuildLock
from admin_core.audit.ports import CheckpointLock
from admin_core.graph.ports import RebuildLock
from tests.support.cancelling import at_every_suspension
from tests.support.databases import postgres_urls

KINDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
#: How long a writer holds the checkpoint lock while a reader waits for it.
WRITER_HOLDS_S = 0.2


class Locks:
    def __init__(
        self,
        rebuild: RebuildLock,
        checkpoint: CheckpointLock,
        engine: AsyncEngine | None,
        url: str = "memory://",
    ) -> None:
        self.rebuild = rebuild
        self.checkpoint = checkpoint
        self._engine = engine
        #: The database's URL, for `held_exclusively` (the demo seed's lock).
        self.url = url

    async def advisory_locks_held(self) -> int:
        """Advisory locks held by any session on the database (PostgreSQL; else 0)."""
        if self._engine is None:
            return 0
        async with self._engine.connect() as conn:
            return int(
                await conn.scalar(
                    sa.text(
                        "select count(*) from pg_locks where locktype = 'advisory' and"
                        " database = (select oid from pg_database"
                        " where datname = current_database())"
                    )
                )
                or 0
            )


@asynccontextmanager
async def locks_of(kind: str, tmp_path: Path) -> AsyncIterator[Locks]:
    if kind == "memory":
        yield Locks(InProcessRebuildLock(), InProcessCheckpointLock(), None)
    elif kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'admin.sqlite'}"
        await upgrade(url)
        yield Locks(SqliteRebuildLock(url), SqliteCheckpointLock(url), None, url)
    else:
        app_url, _ = postgres_urls()
        engine = create_engine(app_url, pooled=False)  # as the lock engine of a service
        try:
            yield Locks(
                PostgresRebuildLock(engine), PostgresCheckpointLock(engine), engine, app_url
            )
        finally:
            await engine.dispose()


async def _free(locks: Locks) -> None:
    """Nobody holds any lock: the next rebuild, checkpoint, verifier and seed take theirs."""
    assert await locks.advisory_locks_held() == 0
    async with locks.rebuild.hold() as taken:
        assert taken
    async with locks.checkpoint.hold() as taken:
        assert taken
    async with asyncio.timeout(5):
        async with locks.checkpoint.reading():
            pass
    async with held_exclusively(locks.url, "demo_seed", wait=0.5):  # refused if still held
        pass


#: Each lock as its holder takes it: a rebuild, a checkpoint's writer, a verifier reading the
#: log between checkpoints, a demo seed. `hold()` yields whether it took the lock; the others
#: wait for it and yield nothing.
HOLDERS: dict[str, Callable[[Locks], AbstractAsyncContextManager[bool | None]]] = {
    "rebuild": lambda locks: locks.rebuild.hold(),
    "checkpoint": lambda locks: locks.checkpoint.hold(),
    "verifier": lambda locks: locks.checkpoint.reading(),
    "demo_seed": lambda locks: held_exclusively(locks.url, "demo_seed", wait=5),
}


@pytest.mark.parametrize("again", [False, True], ids=["once", "again_and_again"])
@pytest.mark.parametrize("holder", HOLDERS)
@pytest.mark.parametrize("kind", KINDS)
async def test_a_holder_cancelled_while_taking_or_holding_its_lock_lets_it_go(
    kind: str, holder: str, tmp_path: Path, again: bool
) -> None:
    """Cancelled at each await in turn, from taking the lock to letting it go: afterwards
    every lock is free for the next holder."""
    async with locks_of(kind, tmp_path) as locks:

        async def hold() -> None:
            async with HOLDERS[holder](locks) as taken:
                assert taken is not False
                await asyncio.sleep(0)  # the holder's work

        assert await at_every_suspension(hold, lambda _: _free(locks), again=again) >= 1


@pytest.mark.parametrize("again", [False, True], ids=["once", "again_and_again"])
@pytest.mark.parametrize("kind", KINDS)
async def test_a_verifier_cancelled_while_waiting_for_a_writer_leaves_no_hold_behind(
    kind: str, tmp_path: Path, again: bool
) -> None:
    """A reader waiting for a checkpoint writer to finish, cancelled while it waits (at each
    await in turn, the writer letting go meanwhile): once the writer is done, the next writer
    takes the lock, as if the cancelled reader had never come."""
    async with locks_of(kind, tmp_path) as locks:
        writers: list[asyncio.Task[None]] = []

        async def writer(holding: asyncio.Event) -> None:
            async with locks.checkpoint.hold() as taken:
                assert taken
                holding.set()
                await asyncio.sleep(WRITER_HOLDS_S)

        async def verify() -> None:
            holding = asyncio.Event()
            writers.append(asyncio.create_task(writer(holding)))
            await holding.wait()
            async with locks.checkpoint.reading():
                pass

        async def check(k: int) -> None:
            await asyncio.gather(*writers)
            writers.clear()
            await _free(locks)

        assert await at_every_suspension(verify, check, again=again) >= 2
