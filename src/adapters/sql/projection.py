"""The graph projection's source on SQL (PostgreSQL or SQLite), and the PostgreSQL advisory
lock that keeps rebuilds single-flight across replicas.

Each stream pages by primary key (keyset: `WHERE key > :after ORDER BY key LIMIT :n`), so
every batch is one index range scan and nothing beyond a batch is held in memory. All streams
of one `read()` run in one read-only REPEATABLE READ transaction on a dedicated connection:
they see one snapshot, so no relationship refers to a row the node streams did not see.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from itertools import repeat
from typing import Any, TypeVar

import msgspec
import sqlalchemy as sa
import sqlalchemy.exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sql.engine import retire_pool
from adapters.sql.errors import connect_or_unavailable, connection_closed, connection_lost
from adapters.sql.locks import PostgresAdvisoryLock, beside_database
from adapters.sql.reads import invalidate_unless_answered
from adapters.sql.tables import (
    accreditations,
    doctor_procedures,
    doctors,
    procedures,
    provider_accreditations,
    provider_procedures,
    providers,
    tenants,
)
from admin_core.graph.model import (
    GraphNode,
    GraphRelationship,
    NodeLabel,
    NodeWithLinks,
    RelType,
    accreditation_node,
    accredited_by,
    doctor_node,
    offers,
    performs,
    procedure_node,
    provider_node,
    works_at,
)
from admin_core.graph.ports import (
    GraphUnavailable,
    ProjectionError,
    ProjectionReader,
    ProjectionSource,
    RebuildLock,
)

T = TypeVar("T")

_after: sa.BindParameter[Any] = sa.bindparam("after")
_after_end: sa.BindParameter[Any] = sa.bindparam("after_end")
_limit: sa.BindParameter[Any] = sa.bindparam("limit")


def _json_text(column: sa.Column[Any]) -> sa.ColumnElement[Any]:
    """A JSON column as its text, which the node builders decode with msgspec: the JSON
    codec of the drivers (`json.loads`, per value) costs more than the rest of a row."""
    return sa.cast(column, sa.Text)


_JSON = msgspec.json.Decoder()


def _json_value(text: str | None) -> Any:
    """The value of a JSON column from its text (SQL null or JSON `null`: None); untyped,
    as the driver's codec was, so a row that breaks the rules still projects as before."""
    return None if text is None else _JSON.decode(text)


def _with_tenant(table: sa.Table, provider_id: sa.ColumnElement[Any]) -> sa.Join:
    """`table` with the tenant whose provider this is (at most one: `tenants.provider_id` is
    unique, so the outer join never repeats a row)."""
    return table.outerjoin(tenants, tenants.c.provider_id == provider_id)


def _keyset(key: sa.ColumnElement[Any], query: sa.Select[Any]) -> tuple[sa.Select[Any], ...]:
    """(first page, next page) queries ordered by a single-column key."""
    return query.order_by(key).limit(_limit), query.where(key > _after).order_by(key).limit(_limit)


def _keyset2(
    a: sa.ColumnElement[Any], b: sa.ColumnElement[Any], query: sa.Select[Any]
) -> tuple[sa.Select[Any], ...]:
    """(first page, next page) queries ordered by a two-column key. The row comparison
    `(a, b) > (:after, :after_end)` is an index range condition; the equivalent `a > x OR
    (a = x AND b > y)` is only a filter, so every page would scan the index from its start."""
    following = sa.tuple_(a, b) > sa.tuple_(_after, _after_end)
    return (
        query.order_by(a, b).limit(_limit),
        query.where(following).order_by(a, b).limit(_limit),
    )


_NODE_QUERIES: dict[NodeLabel, tuple[sa.Select[Any], ...]] = {
    NodeLabel.PROVIDER: _keyset(
        providers.c.id,
        sa.select(
            providers.c.id,
            tenants.c.id,
            providers.c.name,
            providers.c.country,
            providers.c.city,
            _json_text(providers.c.specialties),
            _json_text(providers.c.languages),
        ).select_from(_with_tenant(providers, providers.c.id)),
    ),
    NodeLabel.DOCTOR: _keyset(
        doctors.c.id,
        sa.select(
            doctors.c.id,
            tenants.c.id,
            doctors.c.provider_id,
            doctors.c.full_name,
            doctors.c.specialty,
            _json_text(doctors.c.languages),
        ).select_from(_with_tenant(doctors, doctors.c.provider_id)),
    ),
    NodeLabel.PROCEDURE: _keyset(
        procedures.c.code,
        sa.select(procedures.c.code, procedures.c.name, procedures.c.specialty),
    ),
    NodeLabel.ACCREDITATION: _keyset(accreditations.c.name, sa.select(accreditations.c.name)),
}

_NODE_TABLES = {
    NodeLabel.PROVIDER: providers,
    NodeLabel.DOCTOR: doctors,
    NodeLabel.PROCEDURE: procedures,
    NodeLabel.ACCREDITATION: accreditations,
}

_NODE_BUILDERS: dict[NodeLabel, Callable[[Sequence[Any]], GraphNode]] = {
    NodeLabel.PROVIDER: lambda r: provider_node(
        id=r[0],
        tenant_id=r[1],
        name=r[2],
        country=r[3],
        city=r[4],
        specialties=_json_value(r[5]),
        languages=_json_value(r[6]),
    ),
    NodeLabel.DOCTOR: lambda r: doctor_node(
        id=r[0],
        tenant_id=r[1],
        provider_id=r[2],
        full_name=r[3],
        specialty=r[4],
        languages=_json_value(r[5]),
    ),
    NodeLabel.PROCEDURE: lambda r: procedure_node(code=r[0], name=r[1], specialty=r[2]),
    NodeLabel.ACCREDITATION: lambda r: accreditation_node(name=r[0]),
}

#: Each relationship type's rows, with its (start, end) key columns.
_REL_ROWS: dict[RelType, tuple[sa.ColumnElement[Any], sa.ColumnElement[Any], sa.Select[Any]]] = {
    RelType.WORKS_AT: (
        doctors.c.id,
        doctors.c.provider_id,
        sa.select(doctors.c.id, doctors.c.provider_id, tenants.c.id).select_from(
            _with_tenant(doctors, doctors.c.provider_id)
        ),
    ),
    RelType.OFFERS: (
        provider_procedures.c.provider_id,
        provider_procedures.c.procedure_code,
        sa.select(
            provider_procedures.c.provider_id,
            provider_procedures.c.procedure_code,
            provider_procedures.c.price_min_usd,
            provider_procedures.c.price_max_usd,
        ),
    ),
    RelType.PERFORMS: (
        doctor_procedures.c.doctor_id,
        doctor_procedures.c.procedure_code,
        sa.select(doctor_procedures.c.doctor_id, doctor_procedures.c.procedure_code),
    ),
    RelType.ACCREDITED_BY: (
        provider_accreditations.c.provider_id,
        provider_accreditations.c.accreditation_name,
        sa.select(
            provider_accreditations.c.provider_id, provider_accreditations.c.accreditation_name
        ),
    ),
}

_REL_QUERIES: dict[RelType, tuple[sa.Select[Any], ...]] = {
    RelType.WORKS_AT: _keyset(doctors.c.id, _REL_ROWS[RelType.WORKS_AT][2]),
    **{
        rel: _keyset2(start, end, query)
        for rel, (start, end, query) in _REL_ROWS.items()
        if rel is not RelType.WORKS_AT
    },
}

_first: sa.BindParameter[Any] = sa.bindparam("first")
_last: sa.BindParameter[Any] = sa.bindparam("last")

#: The relationships of the start nodes keyed `first` to `last` (one index range scan): those
#: of one page of start nodes.
_LINK_QUERIES: dict[RelType, sa.Select[Any]] = {
    rel: query.where(start >= _first, start <= _last).order_by(start, end)
    for rel, (start, end, query) in _REL_ROWS.items()
}

#: Relationships read from the start node's own row (a doctor's provider), not from a table.
_ROW_LINKS: dict[RelType, Callable[[Sequence[Any]], GraphRelationship]] = {
    RelType.WORKS_AT: lambda r: works_at(doctor_id=r[0], provider_id=r[2], tenant_id=r[1]),
}

_REL_TABLES = {
    RelType.WORKS_AT: doctors,
    RelType.OFFERS: provider_procedures,
    RelType.PERFORMS: doctor_procedures,
    RelType.ACCREDITED_BY: provider_accreditations,
}

_REL_BUILDERS: dict[RelType, Callable[[Sequence[Any]], GraphRelationship]] = {
    RelType.WORKS_AT: lambda r: works_at(doctor_id=r[0], provider_id=r[1], tenant_id=r[2]),
    RelType.OFFERS: lambda r: offers(
        provider_id=r[0], procedure_code=r[1], price_min_usd=r[2], price_max_usd=r[3]
    ),
    RelType.PERFORMS: lambda r: performs(doctor_id=r[0], procedure_code=r[1]),
    RelType.ACCREDITED_BY: lambda r: accredited_by(provider_id=r[0], accreditation_name=r[1]),
}


def translate(error: BaseException) -> ProjectionError:
    """A lost or refused connection is `GraphUnavailable`; anything else a `ProjectionError`."""
    if not isinstance(error, sqlalchemy.exc.SQLAlchemyError):  # the driver's own, unwrapped
        return translate_driver(error)
    if connection_lost(error):
        cause = getattr(error, "orig", None) or error
        return GraphUnavailable(f"the source database is unreachable: {type(cause).__name__}")
    return ProjectionError(f"the source database failed: {type(error).__name__}")


_UNREACHABLE_DRIVER_ERRORS = frozenset(
    {"ConnectionDoesNotExistError", "ConnectionFailureError", "InterfaceError"}
)


def translate_driver(error: BaseException) -> ProjectionError:
    """The same translation for asyncpg's own exceptions (the fast path below)."""
    if (
        isinstance(error, OSError | TimeoutError)
        or type(error).__name__ in _UNREACHABLE_DRIVER_ERRORS
    ):
        return GraphUnavailable(f"the source database is unreachable: {type(error).__name__}")
    return ProjectionError(f"the source database failed: {type(error).__name__}")


class _SqlReader(ProjectionReader):
    """On PostgreSQL, pages are fetched through the asyncpg connection underneath (same
    transaction, SQL compiled once from the same statements): SQLAlchemy's row processing
    would cost more CPU per row than everything else the rebuild does in Python."""

    def __init__(self, conn: AsyncConnection, driver: Any | None = None) -> None:
        self._conn = conn
        self._driver = driver
        self._compiled: dict[int, tuple[str, tuple[str, ...]]] = {}

    async def _fetch(self, query: sa.Select[Any], params: dict[str, Any]) -> Sequence[Any]:
        if self._driver is None:
            try:
                result: Sequence[Any] = (await self._conn.execute(query, params)).all()
            except sqlalchemy.exc.SQLAlchemyError as error:
                raise translate(error) from error
            return result
        compiled = self._compiled.get(id(query))
        if compiled is None:
            statement = query.compile(dialect=self._conn.dialect)
            compiled = (statement.string, tuple(statement.positiontup or ()))
            self._compiled[id(query)] = compiled
        sql, names = compiled
        try:
            rows: Sequence[Any] = await self._driver.fetch(sql, *(params[n] for n in names))
        except BaseException as error:
            # A connection cut short (cancelled, timed out, lost) must not go back to the pool.
            await invalidate_unless_answered(self._conn, self._driver, error)
            if isinstance(error, Exception):  # asyncpg's own errors, translated
                raise translate_driver(error) from error
            raise
        return rows

    async def _rows(
        self, queries: tuple[sa.Select[Any], ...], two_column_key: bool, batch_size: int
    ) -> AsyncIterator[Sequence[Any]]:
        first, following = queries
        params: dict[str, Any] = {"limit": batch_size}
        query = first
        while True:
            rows = await self._fetch(query, params)
            if not rows:
                return
            yield rows
            if len(rows) < batch_size:
                return
            last = rows[-1]
            params = {"limit": batch_size, "after": last[0]}
            if two_column_key:
                params["after_end"] = last[1]
            query = following

    async def _pages(
        self,
        queries: tuple[sa.Select[Any], ...],
        two_column_key: bool,
        build: Callable[[Sequence[Any]], T],
        batch_size: int,
    ) -> AsyncIterator[Sequence[T]]:
        async for rows in self._rows(queries, two_column_key, batch_size):
            yield [build(row) for row in rows]

    def nodes(self, label: NodeLabel, *, batch_size: int) -> AsyncIterator[Sequence[GraphNode]]:
        return self._pages(_NODE_QUERIES[label], False, _NODE_BUILDERS[label], batch_size)

    def relationships(
        self, rel: RelType, *, batch_size: int
    ) -> AsyncIterator[Sequence[GraphRelationship]]:
        two = rel is not RelType.WORKS_AT
        return self._pages(_REL_QUERIES[rel], two, _REL_BUILDERS[rel], batch_size)

    async def nodes_with_links(
        self, label: NodeLabel, *, batch_size: int
    ) -> AsyncIterator[Sequence[NodeWithLinks]]:
        build = _NODE_BUILDERS[label]
        async for rows in self._rows(_NODE_QUERIES[label], False, batch_size):
            keys = [row[0] for row in rows]
            # One list per type, of each node's links; zipped, one tuple per node (built in
            # C, where a generator per node would cost more than the node itself).
            columns = [
                [by_start.get(key, ()) for key in keys]
                for by_start in [await self._links(rel, rows) for rel in label.outgoing]
            ]
            per_node = zip(*columns, strict=True) if columns else repeat(())
            yield [
                NodeWithLinks(build(row), links) for row, links in zip(rows, per_node, strict=False)
            ]

    async def _links(
        self, rel: RelType, rows: Sequence[Any]
    ) -> Mapping[str, Sequence[GraphRelationship]]:
        """The relationships of type `rel` starting at the nodes of `rows` (one page, in key
        order), by start key."""
        from_row = _ROW_LINKS.get(rel)
        if from_row is not None:
            return {row[0]: [from_row(row)] for row in rows}
        build = _REL_BUILDERS[rel]
        found = await self._fetch(_LINK_QUERIES[rel], {"first": rows[0][0], "last": rows[-1][0]})
        grouped: dict[str, list[GraphRelationship]] = {}
        for row in found:
            link = build(row)
            links = grouped.get(link.start)
            if links is None:
                grouped[link.start] = [link]
            else:
                links.append(link)
        return grouped

    async def _count(self, table: sa.Table) -> int:
        try:
            return int(await self._conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
        except sqlalchemy.exc.SQLAlchemyError as error:
            raise translate(error) from error

    async def count_nodes(self, label: NodeLabel) -> int:
        return await self._count(_NODE_TABLES[label])

    async def count_relationships(self, rel: RelType) -> int:
        return await self._count(_REL_TABLES[rel])


async def _begin_snapshot(conn: AsyncConnection) -> None:
    await conn.execution_options(isolation_level="REPEATABLE READ")
    await conn.begin()
    await conn.execute(sa.text("SET TRANSACTION READ ONLY"))


class SqlProjectionSource(ProjectionSource):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @asynccontextmanager
    async def read(self) -> AsyncIterator[ProjectionReader]:
        """One snapshot of the source (PostgreSQL: a read-only REPEATABLE READ transaction).
        Its first statement, should it find the pooled connection closed (it died while
        parked), runs once more on a fresh one, the pool renewed, as a transaction's does
        (`FirstWrite.attempt`): nothing was read yet."""
        conn = await connect_or_unavailable(self._engine)
        try:
            driver = None
            if conn.dialect.name == "postgresql":
                try:
                    await _begin_snapshot(conn)
                except sqlalchemy.exc.DBAPIError as error:
                    if not connection_closed(error):
                        raise
                    retire_pool(self._engine, error)
                    await conn.invalidate()
                    await conn.close()
                    conn = await connect_or_unavailable(self._engine)
                    await _begin_snapshot(conn)
                driver = (await conn.get_raw_connection()).driver_connection
            else:
                await conn.begin()
            yield _SqlReader(conn, driver)
        except sqlalchemy.exc.SQLAlchemyError as error:
            raise translate(error) from error
        finally:
            try:
                await conn.rollback()
            finally:
                await conn.close()


#: The advisory-lock key of graph rebuilds: a fixed 64-bit number derived from a name.
REBUILD_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"admin_core:graph_rebuild").digest()[:8], "big", signed=True
)


class PostgresRebuildLock(PostgresAdvisoryLock, RebuildLock):
    """`pg_try_advisory_lock` of the rebuild key, held by a connection of its own for the
    rebuild's duration, by one rebuild across every replica (`PostgresAdvisoryLock`)."""

    def __init__(self, engine: AsyncEngine, key: int = REBUILD_LOCK_KEY) -> None:
        super().__init__(engine, key)

    def _failure(self, error: sqlalchemy.exc.SQLAlchemyError) -> BaseException:
        """Taking the lock failing on its open connection is said as the source's reads say
        it: `GraphUnavailable` for a connection lost, else a `ProjectionError`."""
        return translate(error)


class SqliteRebuildLock(RebuildLock):
    """`flock` of a file beside the SQLite database (`<file>.graph_rebuild.lock`), for
    processes on one file that share a graph (Neo4j): a server and `adminctl graph rebuild`.
    Let go when its holder dies, so a crash never leaves rebuilds blocked."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        async with beside_database(self._url, "graph_rebuild", wait=0) as taken:
            yield taken
