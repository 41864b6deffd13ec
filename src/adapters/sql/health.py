"""The database's health probe: `SELECT 1` on a connection of the application's own pool
(PostgreSQL in production; SQLite in the embedded mode), so it sees what requests see.
Errors are told apart by PostgreSQL's SQLSTATE, never by their text: class 28 (invalid
authorization: a wrong password, an unknown role) is "credentials refused"."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from admin_core.health.ports import DependencyDown, DependencyProbe


class SqlDependencyProbe(DependencyProbe):
    def __init__(self, engine: AsyncEngine, *, name: str = "postgres") -> None:
        self._engine = engine
        self.name = name

    async def check(self) -> None:
        try:
            async with self._engine.connect() as connection:
                answer = await connection.scalar(sa.text("SELECT 1"))
        except sa.exc.DBAPIError as error:
            raise _refused(error) from None
        except (sa.exc.SQLAlchemyError, OSError) as error:
            raise DependencyDown.unreachable(error) from None
        if answer != 1:
            raise DependencyDown("unexpected answer to SELECT 1")


def _refused(error: sa.exc.DBAPIError) -> DependencyDown:
    """The database answered with an error (or the driver failed before it could)."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    if not isinstance(sqlstate, str):
        return DependencyDown.unreachable(error.orig or error)
    if sqlstate.startswith("28"):
        return DependencyDown(f"credentials refused (SQLSTATE {sqlstate})")
    return DependencyDown(f"database error (SQLSTATE {sqlstate})")
