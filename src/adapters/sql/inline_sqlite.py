"""SQLite for the async engine without a thread per connection.

aiosqlite runs each connection's calls on a thread of its own; SQLAlchemy's adapter makes four
such calls per statement (cursor, execute, fetch, close), and each is a hand-off between
threads that waits for the GIL. An embedded-mode read is a few statements on pages SQLite
already holds in memory, so those hand-offs were most of its time (docs/adr/0047). This is the
small part of aiosqlite's interface SQLAlchemy's `sqlite+aiosqlite` dialect uses, done inline:
each call runs `sqlite3` directly on the event loop's thread and returns at once.

That is right for the embedded mode, where statements are short: in WAL mode a read never waits
for a writer, and a transaction takes SQLite's write lock once, at its first write
(`begin_immediate`, after the writer gate has queued it behind the process's other writers,
ADR 0045). Another process can hold that lock (an `adminctl` command beside the server), so
`begin_immediate` waits for it by sleeping on the event loop, never in SQLite's busy handler,
which would stop every request meanwhile. A long statement does hold the loop for its duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Self

from admin_core.kernel.errors import DatabaseUnavailable


class InlineCursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Self:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> Self:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    """What SQLAlchemy's aiosqlite adapter calls on an aiosqlite connection."""

    def __init__(self, connection: sqlite3.Connection, *, busy_timeout: float) -> None:
        self._conn = connection
        self._busy_timeout = busy_timeout
        #: aiosqlite's name for the same object; the adapter tests it to know the connection
        #: is still open.
        self._connection: sqlite3.Connection | None = connection

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor())

    def execute_now(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        """Run a query and fetch its rows, synchronously (`reads.Read`)."""
        return self._conn.execute(sql, parameters).fetchall()

    async def begin_immediate(self) -> None:
        """Begin a transaction holding SQLite's write lock. While another connection holds it,
        retry after growing pauses on the event loop, for up to the busy timeout."""
        deadline = time.monotonic() + self._busy_timeout
        pause = 0.001
        self._conn.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as error:
                    if error.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                        raise
                    if time.monotonic() + pause > deadline:
                        raise DatabaseUnavailable(
                            "The database's write lock is held by another process;"
                            " try again shortly."
                        ) from error
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.05)
        finally:
            self._conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self.stop()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()


class DatabaseFileMissing(FileNotFoundError):
    """The SQLite file an engine that does not create one was pointed at does not exist: a
    database never migrated (or a mistyped path), not one out of reach."""


#: The mode of a database file this process makes: its rows are doctors, sessions, patients'
#: ids and the audit log. SQLite gives the `-wal` and `-shm` files the database's mode.
DATABASE_FILE_MODE = 0o600


def _make_private(path: str) -> None:
    """An empty file at `path` of `DATABASE_FILE_MODE` unless one is there (SQLite takes an
    empty file for a new database, and would make a missing one with the umask's mode)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DATABASE_FILE_MODE))


def inline_connector(path: str, *, timeout: float = 30.0, create: bool = True) -> Any:
    """The `async_creator` of an engine on the SQLite file at `path` (or `:memory:`). With
    `create`, the file and its directory are made if missing (migrations), the file readable
    by its owner only; without, a missing file is `DatabaseFileMissing` and nothing is made (a
    read on a mistyped path changes nothing)."""
    in_memory = path == ":memory:"
    if create and not in_memory:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        _make_private(path)
    target = path if create or in_memory else f"{Path(path).absolute().as_uri()}?mode=rw"

    async def connect() -> InlineConnection:
        # The default (legacy) transaction control, as aiosqlite's: a DML statement begins a
        # deferred transaction; reads outside one see the last committed state.
        try:
            connection = sqlite3.connect(
                target, timeout=timeout, check_same_thread=False, uri=target != path
            )
        except sqlite3.OperationalError as error:
            # inline like the connect above: a stat of a local file
            if not create and not os.path.exists(path):  # noqa: ASYNC240
                raise DatabaseFileMissing(f"the SQLite database {path} does not exist") from error
            raise
        return InlineConnection(connection, busy_timeout=timeout)

    return connect
