"""Hot reads on the driver's own connection.

An authenticated list or audit page is one SELECT, yet SQLAlchemy's execution of it (a
greenlet per call, an execution context, a `Row` per row, a processor call per value) cost
several times the query itself (docs/adr/0047). `Read` compiles a Core SELECT once per
dialect — its SQL, the order of its parameters, their bind processors and the result
processors of its columns, all as SQLAlchemy itself would use them — and runs it on the
driver connection the transaction already holds: asyncpg's `fetch` (its statement cache
prepares once), or the embedded SQLite connection. Rows come back as tuples of processed
values, in the statement's column order. Writes stay on SQLAlchemy. A transaction's first
statement that finds its connection closed runs once more on a fresh one, a hot read as any
other (`FirstWrite.attempt`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.engine import attempt
from adapters.sql.inline_sqlite import InlineConnection
from admin_core.kernel.json_text import read_json

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    parameters: tuple[str, ...]
    literals: Mapping[str, Any]
    binds: tuple[Processor, ...]
    #: (column index, processor) of the columns whose values need one.
    results: tuple[tuple[int, Callable[[Any], Any]], ...]


class Read:
    """One SELECT, compiled once per dialect, run on the driver connection. `per_dialect`
    gives another form of the same query for a dialect whose planner serves it better."""

    def __init__(self, statement: Any, *, per_dialect: Mapping[str, Any] | None = None) -> None:
        self._statements = dict(per_dialect or {})
        self._statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            statement = self._statements.get(dialect.name, self._statement)
            compiled = self._compiled[dialect.name] = _compile(statement, dialect)
        return compiled

    def _args(self, compiled: _Compiled, values: Mapping[str, Any]) -> list[Any]:
        return [
            bind(value) if bind is not None else value
            for bind, value in zip(
                compiled.binds,
                (
                    values[name] if name in values else compiled.literals[name]
                    for name in compiled.parameters
                ),
                strict=True,
            )
        ]

    async def rows(
        self, connection: AsyncConnection, values: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        compiled = self._for(connection.dialect)
        args = self._args(compiled, values)
        fetched = await attempt(connection, lambda on: _fetch(on, compiled.sql, args))
        processors = compiled.results
        if not processors:
            return [tuple(row) for row in fetched]
        rows = []
        for fetched_row in fetched:
            row = list(fetched_row)
            for index, process in processors:
                value = row[index]
                if value is not None:
                    row[index] = process(value)
            rows.append(tuple(row))
        return rows

    async def estimate(self, connection: AsyncConnection, values: Mapping[str, Any]) -> int:
        """PostgreSQL's estimate of how many rows the statement returns (`EXPLAIN`: nothing
        is read)."""
        compiled = self._for(connection.dialect)
        args = self._args(compiled, values)
        plan = await attempt(
            connection, lambda on: _fetchval(on, f"EXPLAIN (FORMAT JSON) {compiled.sql}", args)
        )
        if isinstance(plan, str | bytes):  # decoded already where a JSON codec is set
            plan = read_json(plan)
        return int(plan[0]["Plan"]["Plan Rows"])


async def _fetch(connection: AsyncConnection, sql: str, args: list[Any]) -> Sequence[Sequence[Any]]:
    raw = await driver_connection(connection)
    if isinstance(raw, InlineConnection):
        return raw.execute_now(sql, args)
    try:
        fetched: Sequence[Sequence[Any]] = await raw.fetch(sql, *args)
    except BaseException as error:
        await invalidate_unless_answered(connection, raw, error)
        raise
    return fetched


async def _fetchval(connection: AsyncConnection, sql: str, args: list[Any]) -> Any:
    raw = await driver_connection(connection)
    try:
        return await raw.fetchval(sql, *args)
    except BaseException as error:
        await invalidate_unless_answered(connection, raw, error)
        raise


def _compile(statement: Any, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    names = tuple(compiled.positiontup or ())
    bind_processors = compiled._bind_processors
    literals = {
        name: param.value
        for name, param in compiled.binds.items()
        if param.value is not None and not param.required
    }
    processors = (
        column.type._cached_result_processor(dialect, None) for column in compiled._result_columns
    )
    results = tuple((i, p) for i, p in enumerate(processors) if p is not None)
    return _Compiled(
        sql=compiled.string,
        parameters=names,
        literals=literals,
        binds=tuple(bind_processors.get(name) for name in names),
        results=results,
    )


async def driver_connection(connection: AsyncConnection) -> Any:
    """The driver connection under `connection` (checked out already: no I/O)."""
    sync = connection.sync_connection
    if sync is not None and not sync.invalidated:
        fairy = sync.connection
    else:
        fairy = await connection.get_raw_connection()
    return fairy.driver_connection


async def invalidate_unless_answered(
    connection: AsyncConnection, driver: Any, error: BaseException
) -> None:
    """After `error` from a call made on asyncpg's connection directly, which SQLAlchemy did
    not see: unless the server answered with an error on a live connection, the connection
    is lost or half way through a command (a cancelled wait, a protocol error), and it must
    not go back to the pool."""
    if driver.is_closed() or not isinstance(error, asyncpg.PostgresError):
        await connection.invalidate()
