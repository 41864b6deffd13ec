"""The checkpoint lock under random interleavings of writers and readers in several processes:
a writer gets it only when nobody writes or reads, readers share it, a refused writer lets
nothing go, a reader that found a writer waits and gets in once the writer is done, and
whatever is let go in whatever order leaves the lock free. In process: one lock shared by
every caller; SQLite: one lock of its own per process, on one database file."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from adapters.memory.audit import InProcessCheckpointLock
from adapters.sql.audit import SqliteCheckpointLock
from admin_core.audit.ports import CheckpointLock

PROCESSES = 3
#: Guards against a hang, never a measure of speed.
GUARD_S = 10.0


class CheckpointLockMachine(RuleBasedStateMachine):
    backend = "in-process"

    @initialize()
    def start(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.directory = Path(tempfile.mkdtemp())
        if self.backend == "sqlite":
            (self.directory / "admin.sqlite").touch()  # beside a database there is
            url = f"sqlite+aiosqlite:///{self.directory / 'admin.sqlite'}"
            self.locks: list[CheckpointLock] = [SqliteCheckpointLock(url) for _ in range(PROCESSES)]
        else:
            self.locks = [InProcessCheckpointLock()] * PROCESSES
        self.writer: AbstractAsyncContextManager[Any] | None = None
        self.readers: list[AbstractAsyncContextManager[Any]] = []
        self.waiting: asyncio.Task[None] | None = None
        self.release_waiting = asyncio.Event()

    def teardown(self) -> None:
        loop = getattr(self, "loop", None)
        if loop is not None:
            self._let_everything_go()
            loop.close()
            shutil.rmtree(self.directory, ignore_errors=True)

    def _let_everything_go(self) -> None:
        if self.waiting is not None:
            self.release_waiting.set()
            if self.writer is not None:
                self._run(self.writer.__aexit__(None, None, None))
                self.writer = None
            self._run(self.waiting)
            self.waiting = None
        for held in [*self.readers, *([self.writer] if self.writer else [])]:
            self._run(held.__aexit__(None, None, None))
        self.readers, self.writer = [], None

    def _run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(awaitable, GUARD_S))

    @rule(process=st.integers(0, PROCESSES - 1))
    def write(self, process: int) -> None:
        holding = self.locks[process].hold()
        taken = self._run(holding.__aenter__())
        free = self.writer is None and not self.readers and self.waiting is None
        assert taken is free
        if taken:
            self.writer = holding
        else:
            self._run(holding.__aexit__(None, None, None))

    @precondition(lambda self: self.writer is None and self.waiting is None)
    @rule(process=st.integers(0, PROCESSES - 1))
    def read(self, process: int) -> None:
        reading = self.locks[process].reading()
        self._run(reading.__aenter__())
        self.readers.append(reading)

    @precondition(lambda self: self.writer is not None and self.waiting is None)
    @rule(process=st.integers(0, PROCESSES - 1))
    def read_while_a_checkpoint_is_written(self, process: int) -> None:
        """A verify that starts during a write: it waits, and reads once the write is done."""
        self.release_waiting = asyncio.Event()
        entered = asyncio.Event()

        async def verify() -> None:
            async with self.locks[process].reading():
                entered.set()
                await self.release_waiting.wait()

        self.waiting = self.loop.create_task(verify())
        self._run(asyncio.sleep(0.05))  # its first looks at the lock; it must not get in
        assert not entered.is_set()
        assert self.writer is not None
        self._run(self.writer.__aexit__(None, None, None))
        self.writer = None
        self._run(entered.wait())

    @precondition(lambda self: self.waiting is not None)
    @rule()
    def the_waiting_verify_ends(self) -> None:
        assert self.waiting is not None
        self.release_waiting.set()
        self._run(self.waiting)
        self.waiting = None

    @precondition(lambda self: self.writer is not None)
    @rule()
    def the_write_ends(self) -> None:
        assert self.writer is not None
        self._run(self.writer.__aexit__(None, None, None))
        self.writer = None

    @precondition(lambda self: bool(self.readers))
    @rule(data=st.data())
    def a_verify_ends(self, data: st.DataObject) -> None:
        reading = self.readers.pop(data.draw(st.integers(0, len(self.readers) - 1)))
        self._run(reading.__aexit__(None, None, None))

    @invariant()
    def a_writer_excludes_everyone(self) -> None:
        if getattr(self, "loop", None) is None:
            return
        assert not (self.writer is not None and (self.readers or self.waiting is not None))


class SqliteCheckpointLockMachine(CheckpointLockMachine):
    backend = "sqlite"


SETTINGS = settings(max_examples=40, stateful_step_count=20, deadline=None)
TestInProcessCheckpointLock = CheckpointLockMachine.TestCase
TestInProcessCheckpointLock.settings = SETTINGS
TestSqliteCheckpointLock = SqliteCheckpointLockMachine.TestCase
TestSqliteCheckpointLock.settings = SETTINGS
