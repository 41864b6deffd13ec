"""The graph projection on Neo4j (official async driver).

Writes are `UNWIND` batches, one transaction each (managed: retried on transient errors such
as deadlocks). Every node written carries the rebuild's run id in `_rebuild`; a relationship
belongs to its start node, whose outgoing relationships are replaced when it is written.
`remove_missing` deletes, in batches (`CALL { ... } IN TRANSACTIONS`), the nodes of a label
whose stamp is another run's and the relationships that start at them. Counts come from the
count store. Driver exceptions are
translated here: a lost, refused or timed-out connection is `GraphUnavailable`, any other
failure `ProjectionError`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, LiteralString, TypeVar

import neo4j
import neo4j.exceptions

from admin_core.graph.model import (
    GraphCounts,
    GraphNode,
    GraphRelationship,
    NodeLabel,
    NodeWithLinks,
    RelType,
)
from admin_core.graph.ports import GraphProjection, GraphUnavailable, ProjectionError

#: The bookkeeping property: id of the rebuild that last wrote the node or relationship.
STAMP = "_rebuild"

_UNREACHABLE = (
    neo4j.exceptions.ServiceUnavailable,
    neo4j.exceptions.SessionExpired,
    neo4j.exceptions.ConnectionAcquisitionTimeoutError,
    neo4j.exceptions.DatabaseUnavailable,
    OSError,
    TimeoutError,
)


#: How long one statement of the projection (a batch's upsert, a sweep of stale items, a
#: read) may go unanswered by default (`ADMIN_NEO4J_STATEMENT_TIMEOUT_SECONDS`).
STATEMENT_TIMEOUT_S = 60.0
#: How long the rebuild waits for Neo4j to bring new uniqueness indexes online (the
#: `db.awaitIndexes(300)` it calls).
_INDEXES_WAIT_S = 300


def create_driver(
    url: str,
    user: str | None = None,
    password: str | None = None,
    *,
    connection_timeout: float = 5.0,
    max_transaction_retry_time: float = 3.0,
) -> neo4j.AsyncDriver:
    """A driver for `url`; no authentication when `user` is not set. A transaction is retried
    for at most `max_transaction_retry_time` (a leader switch or a lock timeout passes within
    it): a graph that refuses connections is reported as unreachable in seconds, not after
    the driver's 30 s default."""
    auth = (user, password or "") if user else None
    return neo4j.AsyncGraphDatabase.driver(
        url,
        auth=auth,
        connection_timeout=connection_timeout,
        connection_acquisition_timeout=connection_timeout * 2,
        max_transaction_retry_time=max_transaction_retry_time,
        notifications_min_severity=neo4j.NotificationMinimumSeverity.OFF,
    )


@asynccontextmanager
async def translated() -> AsyncIterator[None]:
    try:
        yield
    except _UNREACHABLE as error:
        raise GraphUnavailable(f"Neo4j is unreachable: {type(error).__name__}") from error
    except neo4j.exceptions.Neo4jError as error:
        raise ProjectionError(f"Neo4j refused the operation: {error.code}") from error
    except neo4j.exceptions.DriverError as error:
        raise ProjectionError(f"Neo4j driver error: {type(error).__name__}") from error


def _q(text: str) -> LiteralString:
    """Queries are built only from the closed sets of labels and types below."""
    return text


class _Rows(list[Any]):
    """A batch's parameter rows. The driver formats every RUN's parameters for its debug log
    even when that log is off; a short `repr` saves that work (about a sixth of the rebuild's
    Python CPU)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{len(self)} rows>"


#: Prefix of the rebuild's write statements. Every lookup in them is a unique-index seek, so
#: their plan does not depend on the graph's size; but a rebuild changes the counts Neo4j
#: plans by so much that, by default, it replans each statement every few seconds while the
#: graph grows, and each new plan is JIT-compiled afresh: at 1M source entities that was a
#: third of the first projection's server CPU (docs/adr/0023).
_FIXED_PLAN = "CYPHER replan=skip "

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _name(key: str) -> str:
    """A property name as a Cypher identifier (quoted unless it is a plain one)."""
    return key if _IDENTIFIER.fullmatch(key) else "`" + key.replace("`", "``") + "`"


def _node_upsert(
    label: NodeLabel,
    names: tuple[str, ...],
    links: Sequence[tuple[RelType, tuple[str, ...]]],
    absent: Collection[NodeLabel | RelType],
) -> LiteralString:
    """Nodes, each with its outgoing relationships of the types in `links`, in one statement;
    the node's relationships of those types become exactly the given ones.

    Rows are lists: key, tenant, then the values of `names` in order (a null value removes
    the property, or does not create it), then one list per type in `links`: an index into
    `$ends<j>` per relationship, or `[index, property values...]` when the type has
    properties. Lists rather than maps: nothing to decode per key on the server and less to
    pack here. `$ends<j>` holds the batch's distinct end keys of type j, each looked up once
    (a `[]` in `b<j>` where the end node is missing: that relationship is skipped); the
    start node of every relationship is the node just written, so it is never looked up.

    A node that was already in the graph first loses its relationships of a type in `links`
    to any node not among its given ends (counted in `gone<j>`, which the statement returns);
    the others are merged and keep their identity. Nothing is written for a relationship
    that is unchanged: relationships carry no stamp (`remove_missing` goes by their start
    node's), so a rebuild onto a graph that already holds the source writes one property
    per node and nothing per relationship."""
    head = ""
    for j, (rel, _) in enumerate(links):
        # A subquery, so that an empty `$ends<j>` still gives one row (an empty list).
        end = rel.end
        head += (
            f"CALL () {{ UNWIND $ends{j} AS k OPTIONAL MATCH (b:{end.value} {{{end.key}: k}}) "
            f"RETURN collect(CASE WHEN b IS NULL THEN [] ELSE [b] END) AS b{j} }} "
        )
    columns = [label.key, "tenant_id", *names]
    created = label in absent
    if created:
        props = ", ".join(f"{_name(c)}: row[{i}]" for i, c in enumerate(columns))
        node = f"CREATE (n:{label.value} {{{props}}})"
    else:
        sets = ", ".join(f"n.{_name(c)} = row[{i}]" for i, c in enumerate(columns) if i)
        node = f"MERGE (n:{label.value} {{{label.key}: row[0]}}) SET {sets}, n.{STAMP} = $run"
    prunes, writes, counts = "", "", []
    for j, (rel, rel_names) in enumerate(links):
        at = len(columns) + j
        x, at_end = ("x", "x[0]") if rel_names else ("i", "i")
        if created or rel in absent:  # the node has no relationship of this type yet
            props = ", ".join(f"{_name(c)}: x[{i}]" for i, c in enumerate(rel_names, 1))
            write = f"CREATE (n)-[:{rel.value}{f' {{{props}}}' if props else ''}]->(b)"
        else:
            prunes += (
                f"CALL (n, row, b{j}) {{ OPTIONAL MATCH (n)-[r:{rel.value}]->(e) "
                f"WHERE NOT [e] IN [{x} IN row[{at}] | b{j}[{at_end}]] "
                f"DELETE r RETURN count(r) AS gone{j} }} "
            )
            counts.append(f"sum(gone{j}) AS gone{j}")
            sets = ", ".join(f"r.{_name(c)} = x[{i}]" for i, c in enumerate(rel_names, 1))
            write = f"MERGE (n)-[r:{rel.value}]->(b){f' SET {sets}' if sets else ''}"
        writes += f" FOREACH ({x} IN row[{at}] | FOREACH (b IN b{j}[{at_end}] | {write}))"
    tail = f" RETURN {', '.join(counts)}" if counts else ""
    if prunes:
        prunes = f"WITH * {prunes}"
    return _q(f"{_FIXED_PLAN}{head}UNWIND $rows AS row {node} {prunes}{writes}{tail}")


def _relationship_upsert(rel: RelType, names: tuple[str, ...], absent: bool) -> LiteralString:
    """`$ends` holds the batch's distinct end keys, each looked up once (a batch refers to few
    procedures or accreditations); `$rows` holds one row per start node: its key and its
    relationships, each `[index into $ends, property values...]`. `collect` keeps the order
    of `$ends`, with a `[null]` where an end node is missing (that relationship is skipped),
    so every start node and every end node is looked up once per batch."""
    start, end = rel.start, rel.end
    head = (
        f"UNWIND $ends AS e OPTIONAL MATCH (b:{end.value} {{{end.key}: e}}) "
        "WITH collect([b]) AS bs "
        f"UNWIND $rows AS row MATCH (a:{start.value} {{{start.key}: row[0]}}) "
        "UNWIND row[1] AS x WITH a, bs[x[0]][0] AS b, x WHERE b IS NOT NULL "
    )
    if absent:
        props = ", ".join(f"{_name(c)}: x[{i}]" for i, c in enumerate(names, 1))
        return _q(f"{_FIXED_PLAN}{head}CREATE (a)-[r:{rel.value} {{{props}}}]->(b)")
    sets = ", ".join(f"r.{_name(c)} = x[{i}]" for i, c in enumerate(names, 1))
    return _q(f"{_FIXED_PLAN}{head}MERGE (a)-[r:{rel.value}]->(b){f' SET {sets}' if sets else ''}")


T = TypeVar("T", GraphNode, GraphRelationship)


def _by_shape(items: Sequence[T]) -> list[tuple[tuple[str, ...], Sequence[T]]]:
    """The items grouped by their property names (one group when, as from the source, every
    item of a label or type has the same columns)."""
    names = tuple(items[0].properties)
    if all(tuple(item.properties) == names for item in items):
        return [(names, items)]
    groups: dict[tuple[str, ...], list[T]] = {}
    for item in items:
        groups.setdefault(tuple(item.properties), []).append(item)
    return list(groups.items())


def _link_names(items: Sequence[NodeWithLinks], j: int) -> tuple[tuple[str, ...], bool]:
    """The property names of the items' relationships of the j-th type, in order of first
    appearance, and whether every one of them has exactly these, in this order (as from the
    source). A relationship without one of them is written without that property."""
    names: tuple[str, ...] | None = None
    union: dict[str, None] = {}
    uniform = True
    for item in items:
        for link in item.links[j]:
            seen = tuple(link.properties)
            if names is None:
                names = seen
                union = dict.fromkeys(seen)
            elif seen != names:
                uniform = False
                union.update(dict.fromkeys(seen))
    return tuple(union), uniform


class Neo4jGraphProjection(GraphProjection):
    def __init__(
        self,
        driver: neo4j.AsyncDriver,
        *,
        database: str | None = None,
        delete_batch_size: int = 10_000,
        statement_timeout: float = STATEMENT_TIMEOUT_S,
    ) -> None:
        self._driver = driver
        self._database = database
        self._delete_batch_size = delete_batch_size
        self._timeout = statement_timeout

    def _session(self) -> neo4j.AsyncSession:
        return self._driver.session(database=self._database)

    @asynccontextmanager
    async def _statement(self, *, also: float = 0.0) -> AsyncIterator[neo4j.AsyncSession]:
        """A session for one statement (or the transaction of one), translated, and given up
        when Neo4j has not answered within the statement timeout (plus `also`, for a
        statement that itself waits that long): the driver reads without a timeout, so a
        server or network gone quiet would hold the rebuild, and its lock, for good.
        Cancelled, the driver closes the connection it was using."""
        limit = self._timeout + also
        async with translated():
            try:
                async with asyncio.timeout(limit), self._session() as session:
                    yield session
            except TimeoutError as error:
                raise GraphUnavailable(f"Neo4j did not answer within {limit:g} s") from error

    async def _write(self, query: LiteralString, **params: Any) -> list[dict[str, Any]]:
        """Run `query` in a write transaction; its records (a statement that returns nothing
        gives none)."""

        async def work(tx: neo4j.AsyncManagedTransaction) -> list[dict[str, Any]]:
            result = await tx.run(query, params)
            return [record.data() async for record in result]

        async with self._statement() as session:
            return await session.execute_write(work)

    async def _write_rows(
        self, query: LiteralString, run: str, **rows: _Rows
    ) -> list[dict[str, Any]]:
        """`_write`, then empty the parameter lists: the driver's session, transaction and
        result objects refer to each other (a reference cycle that only the collector frees)
        and keep the parameters until then; emptied, the batch's rows are freed at once."""
        try:
            return await self._write(query, run=run, **rows)
        finally:
            for value in rows.values():
                value.clear()

    async def _read(self, query: LiteralString, **params: Any) -> list[neo4j.Record]:
        async def work(tx: neo4j.AsyncManagedTransaction) -> list[neo4j.Record]:
            result = await tx.run(query, params)
            return [record async for record in result]

        async with self._statement() as session:
            return await session.execute_read(work)

    async def ensure_constraints(self) -> None:
        for label in NodeLabel:
            name = f"{label.value.lower()}_{label.key}_unique"
            await self._write(
                _q(
                    f"CREATE CONSTRAINT {name} IF NOT EXISTS "
                    f"FOR (n:{label.value}) REQUIRE n.{label.key} IS UNIQUE"
                )
            )
        async with self._statement(also=_INDEXES_WAIT_S) as session:
            await (await session.run("CALL db.awaitIndexes(300)")).consume()

    async def upsert_nodes(
        self, label: NodeLabel, nodes: Sequence[GraphNode], *, run: str, absent: bool = False
    ) -> None:
        if not nodes:
            return
        for names, group in _by_shape(nodes):
            rows = _Rows([n.key, n.tenant_id, *n.properties.values()] for n in group)
            query = _node_upsert(label, names, (), (label,) if absent else ())
            await self._write_rows(query, rows=rows, run=run)

    async def upsert_nodes_with_links(
        self,
        label: NodeLabel,
        items: Sequence[NodeWithLinks],
        *,
        run: str,
        absent: Collection[NodeLabel | RelType] = (),
    ) -> Mapping[RelType, int]:
        gone: dict[RelType, int] = dict.fromkeys(label.outgoing, 0)
        groups: dict[tuple[str, ...], list[NodeWithLinks]] = {}
        for item in items:  # one group, as from the source, unless node property names differ
            groups.setdefault(tuple(item.node.properties), []).append(item)
        for names, group in groups.items():
            for rel, n in (await self._upsert_with_links(label, names, group, run, absent)).items():
                gone[rel] += n
        return gone

    async def _upsert_with_links(
        self,
        label: NodeLabel,
        names: tuple[str, ...],
        items: Sequence[NodeWithLinks],
        run: str,
        absent: Collection[NodeLabel | RelType],
    ) -> dict[RelType, int]:
        rels = label.outgoing
        shapes = [_link_names(items, j) for j in range(len(rels))]
        # End keys sorted: concurrent batches look up (and lock) shared end nodes in one order.
        ends = [
            sorted({link.end for item in items for link in item.links[j]}) for j in range(len(rels))
        ]
        index = [{key: i for i, key in enumerate(keys)} for keys in ends]
        rows = _Rows()
        for node, outgoing in items:
            row: list[Any] = [node.key, node.tenant_id, *node.properties.values()]
            for j, at in enumerate(index):
                link_names, uniform = shapes[j]
                if not link_names:
                    row.append([at[r.end] for r in outgoing[j]])
                elif uniform:
                    row.append([[at[r.end], *r.properties.values()] for r in outgoing[j]])
                else:
                    row.append(
                        [[at[r.end], *map(r.properties.get, link_names)] for r in outgoing[j]]
                    )
            rows.append(row)
        links = tuple((rel, shape[0]) for rel, shape in zip(rels, shapes, strict=True))
        query = _node_upsert(label, names, links, absent)
        params = {f"ends{j}": _Rows(keys) for j, keys in enumerate(ends)}
        records = await self._write_rows(query, rows=rows, run=run, **params)
        found = records[0] if records else {}
        return {rel: int(found.get(f"gone{j}") or 0) for j, rel in enumerate(rels)}

    async def upsert_relationships(
        self,
        rel: RelType,
        relationships: Sequence[GraphRelationship],
        *,
        run: str,
        absent: bool = False,
    ) -> None:
        if not relationships:
            return
        for names, group in _by_shape(relationships):
            # End keys sorted: concurrent batches lock shared end nodes in the same order.
            ends = sorted({r.end for r in group})
            index = {key: i for i, key in enumerate(ends)}
            rows = _Rows()
            last: str | None = None
            links: list[list[Any]] = []
            for r in group:  # the source gives them in start-key order
                if r.start != last:
                    last, links = r.start, []
                    rows.append([last, links])
                links.append([index[r.end], *r.properties.values()])
            query = _relationship_upsert(rel, names, absent)
            await self._write_rows(query, rows=rows, ends=_Rows(ends), run=run)

    async def _delete_stale(self, query: LiteralString, run: str) -> int:
        """Auto-commit query (required by `IN TRANSACTIONS`); returns what it deleted."""
        async with self._statement() as session:
            result = await session.run(query, run=run, batch=self._delete_batch_size)
            record = await result.single()
            await result.consume()
        return int(record["deleted"]) if record else 0

    async def remove_missing(
        self,
        *,
        labels: Sequence[NodeLabel],
        relationships: Sequence[RelType],
        run: str,
    ) -> GraphCounts:
        removed_rels: dict[RelType, int] = {}
        for rel in relationships:
            start = rel.start
            # Relationships belong to their start node: those of a node this run did not
            # write go (a scan of the start label, not of every relationship of the type).
            removed = await self._delete_stale(
                # Per start node: matching the relationships first would make the planner
                # buffer every stale one (an `Eager`) before the first batch commits.
                _q(
                    f"MATCH (a:{start.value}) WHERE coalesce(a.{STAMP}, '') <> $run "
                    f"CALL (a) {{ MATCH (a)-[r:{rel.value}]->() DELETE r RETURN count(r) AS n }} "
                    "IN TRANSACTIONS OF $batch ROWS RETURN coalesce(sum(n), 0) AS deleted"
                ),
                run,
            )
            if await self._strays(rel):  # the count store: some start at another label
                removed += await self._delete_stale(
                    _q(
                        f"MATCH ()-[r:{rel.value}]->() WHERE NOT startNode(r):{start.value} "
                        "CALL (r) { DELETE r } IN TRANSACTIONS OF $batch ROWS "
                        "RETURN count(*) AS deleted"
                    ),
                    run,
                )
            removed_rels[rel] = removed
        removed_nodes: dict[NodeLabel, int] = {}
        for label in labels:
            removed_nodes[label] = await self._delete_stale(
                _q(
                    f"MATCH (n:{label.value}) WHERE coalesce(n.{STAMP}, '') <> $run "
                    "CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF $batch ROWS "
                    "RETURN count(*) AS deleted"
                ),
                run,
            )
        return GraphCounts(nodes=removed_nodes, relationships=removed_rels)

    async def _strays(self, rel: RelType) -> bool:
        """Whether some relationship of the type starts at a node of another label than its
        own (both counts come from the count store)."""
        [record] = await self._read(
            _q(
                f"CALL () {{ MATCH ()-[r:{rel.value}]->() RETURN count(r) AS every }} "
                f"CALL () {{ MATCH (:{rel.start.value})-[r:{rel.value}]->() "
                "RETURN count(r) AS own } RETURN every <> own AS strays"
            )
        )
        return bool(record["strays"])

    async def counts(self) -> GraphCounts:
        branches = [
            f"MATCH (n:{label.value}) RETURN '{label.value}' AS item, count(n) AS n"
            for label in NodeLabel
        ] + [
            f"MATCH ()-[r:{rel.value}]->() RETURN '{rel.value}' AS item, count(r) AS n"
            for rel in RelType
        ]
        records = await self._read(_q(" UNION ALL ".join(branches)))
        found = {str(r["item"]): int(r["n"]) for r in records}
        return GraphCounts(
            nodes={label: found.get(label.value, 0) for label in NodeLabel},
            relationships={rel: found.get(rel.value, 0) for rel in RelType},
        )

    async def scan_nodes(
        self, label: NodeLabel, *, after: str | None = None, limit: int = 1000
    ) -> Sequence[GraphNode]:
        key = label.key
        records = await self._read(
            _q(
                f"MATCH (n:{label.value}) WHERE $after IS NULL OR n.{key} > $after "
                f"RETURN n.{key} AS key, n.tenant_id AS tenant_id, properties(n) AS p "
                f"ORDER BY n.{key} LIMIT $limit"
            ),
            after=after,
            limit=limit,
        )
        hidden = {key, "tenant_id", STAMP}
        return [
            GraphNode(
                key=r["key"],
                tenant_id=r["tenant_id"],
                properties={k: v for k, v in r["p"].items() if k not in hidden},
            )
            for r in records
        ]

    async def scan_relationships(
        self, rel: RelType, *, after: tuple[str, str] | None = None, limit: int = 1000
    ) -> Sequence[GraphRelationship]:
        s, e = rel.start, rel.end
        records = await self._read(
            _q(
                f"MATCH (a:{s.value})-[r:{rel.value}]->(b:{e.value}) "
                f"WHERE $as IS NULL OR a.{s.key} > $as OR (a.{s.key} = $as AND b.{e.key} > $ae) "
                f"RETURN a.{s.key} AS s, b.{e.key} AS e, b.tenant_id AS t, properties(r) AS p "
                f"ORDER BY s, e LIMIT $limit"
            ),
            **{"as": after[0] if after else None, "ae": after[1] if after else None},
            limit=limit,
        )
        return [
            GraphRelationship(
                start=r["s"],
                end=r["e"],
                end_tenant_id=r["t"],
                properties={k: v for k, v in r["p"].items() if k != STAMP},
            )
            for r in records
        ]

    async def clear(self) -> None:
        """Delete every projected node and relationship (tests and benchmarks)."""
        for label in NodeLabel:
            await self._delete_stale(
                _q(
                    f"MATCH (n:{label.value}) "
                    "CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF $batch ROWS "
                    "RETURN count(*) AS deleted"
                ),
                "",
            )

    @property
    def driver(self) -> neo4j.AsyncDriver:
        """The driver, for another adapter of the same graph to share (it closes with this)."""
        return self._driver

    async def aclose(self) -> None:
        with_timeout = asyncio.timeout(10)
        async with with_timeout:
            await self._driver.close()
