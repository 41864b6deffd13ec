"""Which driver errors say the connection to the database failed (a 503 to retry later), and
which say the database, or our own code, answered otherwise (kept as they are)."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest
import sqlalchemy.exc
from asyncpg.exceptions._base import DataError as ClientDataError

from adapters.sql.errors import connection_lost


def _wrapped(driver_error: Exception) -> sqlalchemy.exc.DBAPIError:
    """As SQLAlchemy raises a driver's error: its DBAPI error, caused by the driver's."""
    adapted = Exception(str(driver_error))
    adapted.__cause__ = driver_error
    interface = isinstance(driver_error, asyncpg.InterfaceError | sqlite3.InterfaceError)
    kind = sqlalchemy.exc.InterfaceError if interface else sqlalchemy.exc.DBAPIError
    return kind("SELECT 1", None, adapted)


def _postgres(kind: type[asyncpg.PostgresError]) -> asyncpg.PostgresError:
    return kind("message")


LOST = {
    "terminated backend (57P01)": _postgres(asyncpg.AdminShutdownError),
    "crash shutdown (57P02)": _postgres(asyncpg.CrashShutdownError),
    "starting up (57P03)": _postgres(asyncpg.CannotConnectNowError),
    "connection does not exist (08003)": _postgres(asyncpg.ConnectionDoesNotExistError),
    "too many connections (53300)": _postgres(asyncpg.TooManyConnectionsError),
    "connection is closed": asyncpg.InterfaceError("connection is closed"),
    "protocol out of step": asyncpg.InternalClientError("cannot switch to state 12"),
}
ANSWERED = {
    "unique violation (23505)": _postgres(asyncpg.UniqueViolationError),
    "undefined table (42P01)": _postgres(asyncpg.UndefinedTableError),
    "query canceled by the server's own timeout (57014)": _postgres(asyncpg.QueryCanceledError),
    "a value the driver cannot encode": ClientDataError("invalid input for query argument"),
    "a value the server refused (22P02)": _postgres(asyncpg.InvalidTextRepresentationError),
    "sqlite: a parameter of an unsupported type": sqlite3.InterfaceError("bad parameter"),
}


@pytest.mark.parametrize("error", LOST.values(), ids=LOST.keys())
def test_a_failed_connection_is_lost_raw_or_wrapped(error: Exception) -> None:
    assert connection_lost(error)
    assert connection_lost(_wrapped(error))


@pytest.mark.parametrize("error", ANSWERED.values(), ids=ANSWERED.keys())
def test_an_answer_or_a_bug_of_ours_is_not(error: Exception) -> None:
    assert not connection_lost(error)
    assert not connection_lost(_wrapped(error))


def test_sqlalchemy_saying_it_invalidated_the_connection_is_lost() -> None:
    error = sqlalchemy.exc.DBAPIError("SELECT 1", None, Exception("gone"))
    error.connection_invalidated = True
    assert connection_lost(error)
