"""SQLite's write lock taken by `InlineConnection.begin_immediate` under random interleavings
of connections of several processes on one file: one writer at a time; a writer that finds
the lock taken retries and gets in once the holder is done, or gives up with
DATABASE_UNAVAILABLE when its wait runs out; a connection keeps its busy timeout however its
wait ended; and every reader sees exactly what was committed."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from adapters.sql.inline_sqlite import InlineConnection, inline_connector
from admin_core.kernel.errors import DatabaseUnavailable

T = TypeVar("T")
CONNECTIONS = 3
#: A writer's patience: short, so that a wait that must fail fails soon.
IMPATIENT_S = 0.05
#: Guards against a hang, never a measure of speed; also the patient writer's wait.
GUARD_S = 10.0


class WriteLockMachine(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.directory = Path(tempfile.mkdtemp())
        path = str(self.directory / "admin.sqlite")
        with sqlite3.connect(path) as setup:
            setup.execute("PRAGMA journal_mode=WAL")
            setup.execute("CREATE TABLE rows (n INTEGER PRIMARY KEY)")
        setup.close()
        impatient = inline_connector(path, timeout=IMPATIENT_S)
        patient = inline_connector(path, timeout=GUARD_S)
        self.connections: list[InlineConnection] = [
            self._run(impatient()) for _ in range(CONNECTIONS)
        ]
        self.patient: InlineConnection = self._run(patient())
        self.holder: int | None = None  # the connection holding the write lock
        self.written: list[int] = []  # by the holder, not yet committed
        self.committed: set[int] = set()
        self.next = 1

    def teardown(self) -> None:
        if getattr(self, "loop", None) is None:
            return
        for connection in [*self.connections, self.patient]:
            connection.stop()
        self.loop.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, awaitable: Awaitable[T]) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(awaitable, GUARD_S))

    @precondition(lambda self: self.holder is None)
    @rule(c=st.integers(0, CONNECTIONS - 1))
    def begin_on_a_free_lock(self, c: int) -> None:
        self._run(self.connections[c].begin_immediate())
        self.holder = c

    @precondition(lambda self: self.holder is not None)
    @rule(c=st.integers(0, CONNECTIONS - 1))
    def begin_while_another_holds_it(self, c: int) -> None:
        if c == self.holder:
            return
        with pytest.raises(DatabaseUnavailable):
            self._run(self.connections[c].begin_immediate())

    @precondition(lambda self: self.holder is not None)
    @rule(commit=st.booleans())
    def a_patient_writer_waits_for_the_holder(self, commit: bool) -> None:
        """Another process's writer with time to wait: it retries while the lock is held, and
        gets in once the holder commits or rolls back."""
        waiting = self.loop.create_task(self.patient.begin_immediate())
        self._run(asyncio.sleep(IMPATIENT_S))  # a few of its retries
        assert not waiting.done()
        self.end(commit)
        self._run(waiting)
        self.patient.execute_now("INSERT INTO rows VALUES (?)", [self.next])
        self._run(self.patient.commit())
        self.committed.add(self.next)
        self.next += 1

    @precondition(lambda self: self.holder is not None)
    @rule()
    def write(self) -> None:
        assert self.holder is not None
        self.connections[self.holder].execute_now("INSERT INTO rows VALUES (?)", [self.next])
        self.written.append(self.next)
        self.next += 1

    @precondition(lambda self: self.holder is not None)
    @rule(commit=st.booleans())
    def end(self, commit: bool) -> None:
        assert self.holder is not None
        connection = self.connections[self.holder]
        self._run(connection.commit() if commit else connection.rollback())
        if commit:
            self.committed.update(self.written)
        self.written, self.holder = [], None

    @invariant()
    def readers_see_what_was_committed_and_timeouts_stay(self) -> None:
        if getattr(self, "loop", None) is None:
            return
        for c, connection in enumerate(self.connections):
            if c != self.holder:
                rows = connection.execute_now("SELECT n FROM rows", [])
                assert {n for (n,) in rows} == self.committed
            [(busy,)] = connection.execute_now("PRAGMA busy_timeout", [])
            assert busy == int(IMPATIENT_S * 1000)


TestWriteLock = WriteLockMachine.TestCase
TestWriteLock.settings = settings(max_examples=30, stateful_step_count=20, deadline=None)
