"""Named locks of one database, held across processes: for work of several transactions, or
outside the database, that two processes on it must not do at once (the embedded demo seed;
on SQLite, the checkpoint writer and the graph rebuild); and `PostgresAdvisoryLock`, the
PostgreSQL lock of one key that the checkpoint writer's and the graph rebuild's are built on."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sql.engine import create_engine, is_sqlite
from adapters.sql.errors import connect_or_unavailable, connection_lost, unavailable
from admin_core.kernel.errors import DatabaseUnavailable

#: How long a process waits for another holding the lock before it gives up.
WAIT_S = 120.0


@asynccontextmanager
async def held_exclusively(
    url: str, name: str, *, wait: float = WAIT_S, statement_timeout: float | None = None
) -> AsyncIterator[None]:
    """Hold the lock `name` of the database at `url` until the block ends, waiting while
    another process holds it. PostgreSQL: a session advisory lock on a connection of its own,
    each of its statements answered within `statement_timeout` seconds (None: no limit) or
    DATABASE_UNAVAILABLE, as any other statement of the app's. SQLite: `flock` of a file
    beside the database (`<file>.<name>.lock`). Either is let go when its holder dies, so a
    crash never leaves it taken. Any other URL (an in-memory store) belongs to one process:
    nothing to hold."""
    if url.startswith("postgresql"):
        async with _advisory(url, name, wait, statement_timeout):
            yield
    elif is_sqlite(url) and sa.make_url(url).database not in (None, "", ":memory:"):
        async with beside_database(url, name, wait=wait) as taken:
            if not taken:
                raise _held_by_another(name)
            yield
    else:
        yield


@asynccontextmanager
async def _advisory(
    url: str, name: str, wait: float, statement_timeout: float | None
) -> AsyncIterator[None]:
    """Tried again until `wait` has passed, rather than one statement waiting on the server:
    a server that stopped answering is then told from another process holding the lock
    within the statement timeout."""
    key = int.from_bytes(
        hashlib.sha256(f"admin_core:{name}".encode()).digest()[:8], "big", signed=True
    )
    engine = create_engine(url, pooled=False, statement_timeout=statement_timeout)
    connection: AsyncConnection | None = None
    try:
        try:
            connection = await engine.connect()
            deadline = time.monotonic() + wait
            pause = 0.01
            while True:
                taken = await connection.scalar(
                    sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key}
                )
                await connection.commit()  # session-level: no transaction stays open
                if taken:
                    break
                if time.monotonic() + pause > deadline:
                    raise _held_by_another(name)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.2)
        except (sa.exc.SQLAlchemyError, OSError, TimeoutError) as error:
            if connection is not None:
                await connection.invalidate()  # no answer: closing it politely would wait
            raise unavailable(error) from error
        yield
    finally:
        if connection is not None:
            await connection.close()  # the pool keeps none: the session ends, the lock goes
        await engine.dispose()


class PostgresAdvisoryLock:
    """A session advisory lock of one key, held on a connection of its own until the block
    ends: made on the lock engine (`Database.lock_engine`, without a pool), a lock held for a
    whole graph rebuild takes none of the transactions' connections. Every replica on the
    database sees it; if the holder dies, PostgreSQL ends its session and the lock with it,
    so a crash never leaves it taken.

    A connection that cannot be opened, or is lost while the lock is taken, is
    DATABASE_UNAVAILABLE; an error the database answers with is raised as it is."""

    def __init__(self, engine: AsyncEngine, key: int) -> None:
        self._engine = engine
        self._key = key

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        """`pg_try_advisory_lock`: exclusive, taken without waiting; yields whether it was."""
        async with self._session_lock("pg_try_advisory_lock", "pg_advisory_unlock") as taken:
            yield taken

    @asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        """`pg_advisory_lock_shared`: held with any other shared holder; waits while the lock
        is held exclusively, and keeps `hold` from taking it meanwhile."""
        async with self._session_lock("pg_advisory_lock_shared", "pg_advisory_unlock_shared"):
            yield

    @asynccontextmanager
    async def _session_lock(self, take: str, release: str) -> AsyncIterator[bool]:
        """The lock `take` (an advisory-lock function of the key) returns, held on a
        connection of its own until the block ends; `release` lets it go."""
        conn = await connect_or_unavailable(self._engine)
        try:
            # pg_advisory_lock_shared, which waits, returns void: taken once it returns.
            answer = await conn.scalar(sa.text(f"SELECT {take}(:key)"), {"key": self._key})
            taken = answer is not False
            await conn.commit()  # the lock is session-level; no transaction stays open
        except BaseException as error:
            await conn.invalidate()  # a wait cut short may yet leave the lock to the session
            await conn.close()
            if isinstance(error, sa.exc.SQLAlchemyError):
                failure = self._failure(error)
            elif isinstance(error, Exception) and connection_lost(error):
                failure = unavailable(error)  # the driver's own: dropped, or no answer in time
            else:
                raise
            if failure is error:
                raise
            raise failure from error
        try:
            yield taken
        finally:
            await self._release(conn, release if taken else None)

    def _failure(self, error: sa.exc.SQLAlchemyError) -> BaseException:
        """What taking the lock failing on its open connection raises (`error` itself: raised
        as it is)."""
        return unavailable(error) if connection_lost(error) else error

    async def _release(self, conn: AsyncConnection, release: str | None) -> None:
        try:
            if release is not None:
                await conn.execute(sa.text(f"SELECT {release}(:key)"), {"key": self._key})
                await conn.commit()
        except (sa.exc.SQLAlchemyError, OSError, TimeoutError):
            # Lost, or no answer within the statement timeout: closing the session releases
            # the lock server-side, and the work done under it stands.
            await conn.invalidate()
        finally:
            await conn.close()


@asynccontextmanager
async def file_lock(
    path: Path, *, shared: bool = False, wait: float | None = None
) -> AsyncIterator[bool]:
    """`flock` of the file at `path` (made if missing, not its directory) until the block
    ends; yields whether it was taken. Exclusive, or `shared` with other shared holders.
    `wait`: 0 tries once, None waits for as long as another holds it, else up to that many
    seconds. Every block opens the file anew, so two holders conflict within one process as
    across processes; the lock goes with its holder, dead or alive."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
        deadline = None if wait is None else time.monotonic() + wait
        pause = 0.01
        while True:
            try:
                fcntl.flock(fd, mode)
                taken = True
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() + pause > deadline:
                    taken = False
                    break
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.2)
        yield taken
    finally:
        os.close(fd)  # lets the lock go


@asynccontextmanager
async def beside_database(
    url: str, name: str, *, shared: bool = False, wait: float | None = None
) -> AsyncIterator[bool]:
    """`file_lock` of `<file>.<name>.lock` beside the SQLite database at `url`. A database
    file that does not exist has nothing to guard (whatever the lock was for fails on it) and
    may be a mistyped path, beside which nothing is made: taken, without a lock file."""
    database = str(sa.make_url(url).database)
    if not os.path.exists(database):  # noqa: ASYNC240 - a stat of a local file, as SQLite's
        yield True
        return
    async with file_lock(Path(f"{database}.{name}.lock"), shared=shared, wait=wait) as taken:
        yield taken


def _held_by_another(name: str) -> DatabaseUnavailable:
    return DatabaseUnavailable(f"Another process holds {name}; try again shortly.")
