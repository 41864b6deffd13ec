"""Engines for both supported databases."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from adapters.sql.errors import connection_closed
from adapters.sql.fair_pool import FairQueuePool
from adapters.sql.inline_sqlite import inline_connector
from admin_core.kernel.json_text import JsonTooDeep, read_json
from admin_core.kernel.loops import LoopLock

T = TypeVar("T")


def is_sqlite(url: str | sa.URL) -> bool:
    return sa.make_url(url).get_backend_name() == "sqlite"


#: A pooled PostgreSQL connection idle for longer than this is checked before it is handed out.
PING_AFTER_IDLE_S = 1.0
#: PostgreSQL connections per process, and no overflow beyond them. A database server does
#: the most work with a few active connections per core; more backends only queue on its
#: cores and row locks (one tenant's audit chain), while a request waiting for a pooled
#: connection in the process costs next to nothing (docs/adr/0007-sql-unit-of-work.md).
#: A graph rebuild holds up to three (the single-flight lock, the source, its audit entry).
DEFAULT_POOL_SIZE = 4
#: How long opening a PostgreSQL connection may take (asyncpg waits 60 s by default): a
#: database that does not answer is reported as unreachable within it.
CONNECT_TIMEOUT_S = 5.0
#: How long one statement of the application's PostgreSQL pool may go unanswered by default
#: (`ADMIN_DATABASE_STATEMENT_TIMEOUT_SECONDS`) before the request gives up with
#: DATABASE_UNAVAILABLE: a stalled server or network, or a lock that is never let go.
STATEMENT_TIMEOUT_S = 30.0
#: How long a SQLite writer waits for another process's write lock before giving up.
LOCK_TIMEOUT_S = 30.0


_JSON = msgspec.json.Decoder()


def json_loads(text: str | bytes) -> Any:
    """JSON columns decoded by msgspec (several times faster than `json.loads`), falling back
    to `json.loads` for what msgspec refuses and the standard library reads (a lone
    surrogate escape): every stored value reads back as before. A document nested deeper
    than either parser goes was written past the application, which never stores one: it is
    read as the text stored, a value that is not what was recorded (an audit entry holding
    it no longer hashes as it did, and a verify names it altered), rather than failing every
    read of its row."""
    try:
        try:
            return _JSON.decode(text)
        except msgspec.DecodeError:
            return read_json(text)
    except (RecursionError, JsonTooDeep):
        return text if isinstance(text, str) else text.decode("utf-8", "replace")


def libpq_ssl_mode(url: str) -> sa.URL:
    """`url` with libpq's `sslmode=` (what managed PostgreSQL services hand out) spelled as
    asyncpg's `ssl=`, which takes the same modes; asyncpg refuses `sslmode` outright."""
    parsed = sa.make_url(url)
    mode = parsed.query.get("sslmode")
    if mode is None:
        return parsed
    parsed = parsed.difference_update_query(["sslmode"])
    if "ssl" in parsed.query:
        return parsed
    return parsed.update_query_dict({"ssl": mode if isinstance(mode, str) else mode[-1]})


def create_engine(
    url: str,
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    echo: bool = False,
    ping_after_idle: float = PING_AFTER_IDLE_S,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    statement_timeout: float | None = None,
    lock_timeout: float = LOCK_TIMEOUT_S,
    create: bool = True,
    pooled: bool = True,
) -> AsyncEngine:
    """An async engine. SQLite runs inline on the event loop's thread (`inline_sqlite`), with
    WAL, foreign keys and a busy timeout (`lock_timeout`: how long a writer waits for another
    process's write lock); every engine's errors name the statement, never the values bound to
    it (`hide_parameters`: they reach logs and the CLI, and hold names, emails and patients'
    ids); PostgreSQL gets a pool of `pool_size` connections, handed to waiters in the order
    they came (`FairQueuePool`), whose idle ones are checked before use (`ping_when_idle`),
    each statement of which gives up after `statement_timeout` seconds without an answer
    (None: waits for as long as it takes, for migrations and other long work of an
    operator's), and takes libpq's `sslmode=` as `ssl=`.
    `create=False`: a SQLite file is never made (the application's engine; migrations make
    it). `pooled=False` (PostgreSQL): a connection of its own for each use, closed after it —
    for the advisory locks, which hold a session for as long as they are held and must not
    take the pool's connections from the transactions."""
    if is_sqlite(url):
        database = sa.make_url(url).database or ":memory:"
        engine = create_async_engine(
            url,
            echo=echo,
            hide_parameters=True,
            async_creator=inline_connector(database, timeout=lock_timeout, create=create),
            json_deserializer=json_loads,
        )

        @sa.event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    if not pooled:
        return create_async_engine(
            libpq_ssl_mode(url),
            echo=echo,
            hide_parameters=True,
            poolclass=NullPool,
            json_deserializer=json_loads,
            connect_args={"timeout": connect_timeout, "command_timeout": statement_timeout},
        )
    engine = create_async_engine(
        libpq_ssl_mode(url),
        echo=echo,
        hide_parameters=True,
        poolclass=FairQueuePool,
        pool_size=pool_size,
        max_overflow=0,
        json_deserializer=json_loads,
        connect_args={"timeout": connect_timeout, "command_timeout": statement_timeout},
    )
    ping_when_idle(engine, ping_after_idle)
    return engine


def ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Check a pooled connection before handing it out, but only when it sat idle for more than
    `idle_seconds`: one that the server dropped (a restart, an idle timeout) is replaced instead
    of failing the request. A ping costs three round trips with asyncpg, so pinging on every
    checkout, as `pool_pre_ping` does, would double the cost of a short transaction; a pool in
    steady use skips it. One whose closing the driver has already seen (a backend terminated,
    a connection reset, read while the connection sat in the pool) is replaced whatever its
    idle time: that check costs no round trip. A connection lost while in use still fails its
    request, and SQLAlchemy then retires every connection of the pool opened before then."""

    @sa.event.listens_for(engine.sync_engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine.sync_engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is not None and driver.is_closed():  # the driver already saw it go
            raise sa.exc.DisconnectionError("pooled connection was closed by the server")
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since <= idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise sa.exc.DisconnectionError("pooled connection is gone") from error


class WriterGate:
    """SQLite allows one writer at a time; queueing writers here, in the one embedded process,
    replaces 'database is locked' errors with a fair wait. Only writes queue: in WAL mode a
    read never waits for a writer (ADR 0045)."""

    def __init__(self) -> None:
        self._lock = LoopLock()

    async def acquire(self) -> None:
        await self._lock.acquire()

    def release(self) -> None:
        self._lock.release()


class FirstWrite:
    """A transaction's connection as its repositories see it: reads go straight through, and
    the first statement that writes, locks (`FOR UPDATE`) or opens a savepoint first calls
    `begin_writing` — once per transaction.

    SQLite: `begin_writing` takes the writer gate, held until the transaction ends. PostgreSQL:
    the connection runs its reads in autocommit, and `begin_writing` leaves it, so the first
    write begins the transaction. Under READ COMMITTED every statement sees what was committed
    when it started, inside a transaction or not, so a read before the first write sees the
    same either way; a read-only transaction then costs no BEGIN and no ROLLBACK round trip
    (ADR 0047). Locks and savepoints need the transaction, so they begin it too.

    The transaction's first statement that finds the connection closed runs once more on
    the one `reconnect` gives (`attempt`)."""

    def __init__(
        self,
        connection: AsyncConnection,
        begin_writing: Callable[[], Awaitable[None]],
        *,
        reconnect: Callable[[BaseException], Awaitable[AsyncConnection]] | None = None,
    ) -> None:
        self._connection = connection
        self._begin_writing = begin_writing
        self._reconnect = reconnect
        self.writing = False
        #: Whether a statement was sent on the transaction's connection (or its commit).
        self.sent = False

    async def attempt(self, run: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """`run` (one statement) on the transaction's connection. The transaction's first
        statement, should it find the connection closed (it died while parked in the pool:
        a server restart, a terminated backend, a network that forgot it), runs once more on
        a fresh connection: nothing was seen on the dead one, and nothing of the statement
        can remain — a read ran on its own in autocommit, and a write or a lock in a
        transaction that was never committed. Any later statement, the commit, and a
        statement that went unanswered past the timeout (the server may still be running
        it) fail as before: their outcome, or what came before them, is the caller's to
        know."""
        if self.sent or self._reconnect is None:
            return await run(self._connection)
        self.sent = True
        try:
            return await run(self._connection)
        except Exception as error:
            if not connection_closed(error):
                raise
            self._connection = await self._reconnect(error)
        return await run(self._connection)

    async def _before(self, statement: Any) -> None:
        if self.writing or not _writes(statement):
            return
        await self._begin_writing()
        self.writing = True

    async def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        await self._before(statement)
        return await self.attempt(lambda c: c.execute(statement, *args, **kwargs))

    async def scalar(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        await self._before(statement)
        return await self.attempt(lambda c: c.scalar(statement, *args, **kwargs))

    async def scalars(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        await self._before(statement)
        return await self.attempt(lambda c: c.scalars(statement, *args, **kwargs))

    def begin_nested(self) -> Any:
        """A savepoint belongs to a transaction: it begins writing before it is opened (on
        SQLite, so that no transaction waits for the gate holding a stale snapshot)."""
        return _Savepoint(self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


class _Savepoint:
    def __init__(self, first: FirstWrite) -> None:
        self._first = first
        self._savepoint: Any = None

    async def __aenter__(self) -> Any:
        await self._first._before(None)
        return await self._first.attempt(self._open)

    async def _open(self, connection: AsyncConnection) -> Any:
        self._savepoint = connection.begin_nested()
        return await self._savepoint.__aenter__()

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._savepoint.__aexit__(*exc)


async def attempt(connection: AsyncConnection, run: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """`run` on `connection`, through `FirstWrite.attempt` where it is a transaction's."""
    if isinstance(connection, FirstWrite):
        return await connection.attempt(run)
    return await run(connection)


def retire_pool(engine: AsyncEngine, error: BaseException) -> None:
    """Every connection of `engine`'s pool opened until now is replaced at its next checkout,
    as SQLAlchemy does itself when one of its statements finds its connection closed
    (`Pool._invalidate`, given no connection: its generation is every one until now)."""
    engine.sync_engine.pool._invalidate(None, error, _checkin=False)  # type: ignore[arg-type]


def _writes(statement: Any) -> bool:
    """Whether a statement writes or locks (None: a savepoint, which comes before a write)."""
    if statement is None:
        return True
    if getattr(statement, "is_dml", False):
        return True
    if getattr(statement, "is_select", False):
        return getattr(statement, "_for_update_arg", None) is not None
    text = str(getattr(statement, "text", "")).lstrip().upper()
    return not text.startswith(("SELECT", "WITH", "PRAGMA"))
