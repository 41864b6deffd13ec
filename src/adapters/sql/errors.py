"""Translate driver errors into core errors at the adapter boundary — by the identity of what
failed (the constraint's name), never by the wording of a message."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator

import asyncpg
import sqlalchemy.exc
from asyncpg.exceptions._base import DataError as _ClientDataError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sql.inline_sqlite import DatabaseFileMissing
from adapters.sql.tables import metadata
from admin_core.kernel.errors import DatabaseUnavailable

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<columns>[\w.]+(?:, [\w.]+)*)")


def violated_constraint(error: sqlalchemy.exc.IntegrityError) -> str | None:
    """The name of the unique or primary-key constraint `error` violated, as the migrations
    name it (`pk_tenants`, `uq_tenants_provider_id`), or None for any other integrity error.

    PostgreSQL reports the name itself (SQLSTATE 23505 with `constraint_name`). SQLite names
    the columns only (its code SQLITE_CONSTRAINT_UNIQUE or _PRIMARYKEY, and `table.column`,
    ...), which identify the constraint through the table definitions."""
    driver_error = getattr(error.orig, "__cause__", None) or error.orig
    if getattr(driver_error, "sqlstate", None) == "23505":
        name = getattr(driver_error, "constraint_name", None)
        return str(name) if name else None
    sqlite_code = getattr(error.orig, "sqlite_errorname", None)
    if sqlite_code not in {"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}:
        return None
    match = _SQLITE_UNIQUE.search(str(error.orig))
    if match is None:
        return None
    qualified = [c.strip() for c in match["columns"].split(",")]
    tables = {c.split(".", 1)[0] for c in qualified}
    if len(tables) != 1:
        return None
    (table_name,) = tables
    columns = [c.split(".", 1)[1] for c in qualified]
    table = metadata.tables.get(table_name)
    if table is None:
        return None
    if columns == [c.name for c in table.primary_key.columns]:
        return f"pk_{table_name}"
    return f"uq_{table_name}_{'_'.join(columns)}"


def schema_missing(error: BaseException) -> bool:
    """Whether `error` (or what caused it) says a table does not exist: a database that was
    never migrated. SQLite: "no such table", or no file at all; PostgreSQL: SQLSTATE 42P01."""
    for current in _causes(error, context=True):
        if getattr(current, "sqlstate", None) == "42P01" or isinstance(
            current, DatabaseFileMissing
        ):
            return True
        if type(current).__name__ == "OperationalError" and "no such table" in str(current):
            return True
    return False


def _causes(error: BaseException, *, context: bool = False) -> Iterator[BaseException]:
    """`error` and, once each, what it was raised from (`__cause__`), the driver's error it
    wraps (`orig`) and, with `context`, what was being handled when it was raised."""
    pending: list[BaseException | None] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [current.__cause__, *([current.__context__] if context else [])]
        pending.append(getattr(current, "orig", None))


def never_migrated() -> DatabaseUnavailable:
    """DATABASE_UNAVAILABLE for a database with no schema: the operator's to fix."""
    return DatabaseUnavailable("The database has no schema yet: run `adminctl db upgrade` on it.")


def unavailable(error: BaseException) -> DatabaseUnavailable:
    """DATABASE_UNAVAILABLE for a connection that failed: one whose credentials the server
    refused (SQLSTATE class 28: a wrong password, an unknown role) or whose database it does
    not have (3D000: a mistyped name) says so, since trying again will not help; anything
    else is an outage. Told apart by SQLSTATE, never text."""
    refused = storage_refused(error)
    if refused is not None:  # the database answered, and cannot keep a write
        return refused
    sqlstate = getattr(getattr(error, "orig", None), "sqlstate", None)
    if sqlstate == "3D000":
        return DatabaseUnavailable(
            "The server has no database of the name the database URL gives (SQLSTATE 3D000):"
            " check the name, or create it and run `adminctl db upgrade`.",
            details={"sqlstate": sqlstate},
        )
    if isinstance(sqlstate, str) and sqlstate.startswith("28"):
        return DatabaseUnavailable(
            f"The database refused the credentials (SQLSTATE {sqlstate}): check the user and"
            " password of the database URL.",
            details={"sqlstate": sqlstate},
        )
    return DatabaseUnavailable()


#: PostgreSQL's answers of a server that is reached and cannot keep a write, by SQLSTATE:
#: waiting will not help, the operator has to act (free disk or memory, write to the primary).
_REFUSING_SQLSTATES = {
    "53100": ("The database server's disk is full", "free space on it"),
    "53200": ("The database server is out of memory", "look at its memory and settings"),
    "25006": (
        "The database takes no writes",
        "point the database URL at the primary, or clear default_transaction_read_only on"
        " the database or role",
    ),
}


def storage_refused(error: BaseException) -> DatabaseUnavailable | None:
    """DATABASE_UNAVAILABLE saying why, for a database that was reached and could not keep
    what a statement wrote — a full disk, a read-only file or file system, a failing disk, a
    server out of memory or taking no writes — or None for any other error. Retrying will
    not help until the operator acts, so the message says what to look at, naming no path
    (it reaches API clients); `details` carries SQLite's error name or PostgreSQL's SQLSTATE.
    Told apart by the driver's error code (SQLite's result code, PostgreSQL's SQLSTATE), never
    by text; the error's causes are looked through to the driver's."""
    for current in _causes(error):
        if isinstance(current, sqlite3.Error):
            return _sqlite_refused(current)
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(current, asyncpg.PostgresError) and sqlstate in _REFUSING_SQLSTATES:
            why, act = _REFUSING_SQLSTATES[sqlstate]
            return DatabaseUnavailable(
                f"{why} (SQLSTATE {sqlstate}): {act}, then try again.",
                details={"sqlstate": sqlstate},
            )
    return None


def _sqlite_refused(error: sqlite3.Error) -> DatabaseUnavailable | None:
    """SQLite's result codes of a file that cannot keep a write: SQLITE_FULL (the disk, or
    the file's `max_page_count`), SQLITE_READONLY and its extended codes (a file or file
    system this process may not write), SQLITE_IOERR and its extended codes (the disk
    failed a read or write; SQLITE_IOERR_SHMSIZE, the `-shm` file that could not grow, is
    most often a full disk)."""
    code = getattr(error, "sqlite_errorcode", None)
    name = getattr(error, "sqlite_errorname", None)
    if not isinstance(code, int) or not isinstance(name, str):
        return None
    primary = code & 0xFF
    if primary == sqlite3.SQLITE_FULL:
        why, act = "The database's disk is full", "free space on it"
    elif primary == sqlite3.SQLITE_READONLY:
        why = "The database file, or the file system holding it, is read-only to this process"
        act = "make it writable"
    elif name == "SQLITE_IOERR_SHMSIZE":
        why = "The database's shared-memory file could not grow, most likely its disk is full"
        act = "free space on it"
    elif primary == sqlite3.SQLITE_IOERR:
        why, act = "The database's disk failed a read or a write", "check the disk"
    else:
        return None
    return DatabaseUnavailable(
        f"{why} ({name}): {act}, then try again.", details={"sqlite_error": name}
    )


#: What opening a connection raises when the database gives none: the driver's errors (those
#: it declares, wrapped by SQLAlchemy; asyncpg's OSError and TimeoutError, and a missing
#: SQLite file, as they are) and the pool's wait for a free connection running out. Any other
#: error of SQLAlchemy's is a mistake of the caller, not an outage.
CONNECT_FAILURES = (
    sqlalchemy.exc.DBAPIError,
    sqlalchemy.exc.TimeoutError,
    OSError,
    TimeoutError,
)


async def connect_or_unavailable(engine: AsyncEngine) -> AsyncConnection:
    """A connection of `engine`; one that cannot be opened is DATABASE_UNAVAILABLE, saying
    why where the operator has to act (`never_migrated`, refused credentials: `unavailable`)."""
    try:
        return await engine.connect()
    except CONNECT_FAILURES as error:
        if schema_missing(error):  # no SQLite file yet: retrying will not make one
            raise never_migrated() from error
        raise unavailable(error) from error


#: SQLSTATE classes and codes of a server that is going away or not taking connections:
#: 08 connection exception, 57P01 admin shutdown (`pg_terminate_backend`), 57P02 crash
#: shutdown, 57P03 cannot connect now (starting up, in recovery), 53300 too many connections.
_LOST_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")


def connection_lost(error: BaseException) -> bool:
    """Whether `error` says the connection to the database failed, rather than the database
    answering a statement with an error: the connection dropped (a server restart, a
    terminated backend, a network cut, the driver's protocol left out of step by one), or no
    answer came within the statement timeout.
    Either way the connection's state is unknown and the work may be tried again later.
    Told apart by exception class and SQLSTATE, never by text; SQLAlchemy's errors are looked
    through to the driver's."""
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        if error.connection_invalidated:
            return True
        orig = error.orig
        inner = orig.__cause__ if orig is not None and orig.__cause__ is not None else orig
        return inner is not None and inner is not error and connection_lost(inner)
    if isinstance(error, _ClientDataError):  # a value it could not encode: not the wire
        return False
    if isinstance(error, asyncpg.InterfaceError):
        return True
    if isinstance(error, OSError | TimeoutError):
        # The driver's socket failing or its statement timeout; the same classes raised by
        # other work inside a transaction (a file, another service) say nothing of it.
        return _raised_through_the_driver(error)
    if isinstance(error, asyncpg.InternalClientError):
        # The driver's protocol out of step with the server: what a backend's farewell
        # (a FATAL error sent while the connection sat idle) leaves for the next statement.
        return True
    if isinstance(error, asyncpg.PostgresError):
        sqlstate = getattr(error, "sqlstate", None) or ""
        return sqlstate.startswith(_LOST_SQLSTATES)
    return False


def connection_closed(error: BaseException) -> bool:
    """Whether `error` says the connection was closed under the statement — by the server (a
    restart, a terminated backend: its farewell), or by the network (a reset) — as opposed to
    `connection_lost`'s other case, a statement left unanswered past the statement timeout,
    which the server may still be running (or waiting on a lock for)."""
    return connection_lost(error) and not _timed_out(error)


def _timed_out(error: BaseException) -> bool:
    return any(isinstance(current, TimeoutError) for current in _causes(error))


_DRIVER_MODULES = ("asyncpg", "sqlalchemy")


def _raised_through_the_driver(error: BaseException) -> bool:
    """Whether `error` came out of the database driver (or SQLAlchemy calling it): a module
    of theirs is among the frames it passed through."""
    frame = error.__traceback__
    while frame is not None:
        if str(frame.tb_frame.f_globals.get("__name__", "")).startswith(_DRIVER_MODULES):
            return True
        frame = frame.tb_next
    return False
