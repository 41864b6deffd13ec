"""Graph projection use cases: rebuild the graph from the source, and show drift."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from admin_core.audit.model import AuditRecord
from admin_core.audit.ports import AuditTransaction
from admin_core.audit.recording import audit_record
from admin_core.graph.errors import GraphRebuildFailed, GraphRebuildInProgress
from admin_core.graph.model import (
    Drift,
    GraphCounts,
    GraphScope,
    GraphStatus,
    NodeLabel,
    NodeWithLinks,
    RebuildProgress,
    RebuildResult,
    RelType,
    wire_counts,
)
from admin_core.graph.ports import (
    GraphProjection,
    GraphUnavailable,
    ProjectionError,
    ProjectionReader,
    ProjectionSource,
    RebuildLock,
)
from admin_core.kernel.errors import AdminError, DatabaseUnavailable
from admin_core.kernel.principal import Permission, Principal
from admin_core.kernel.runtime import IdGenerator
from admin_core.kernel.transaction import Transactions

log = logging.getLogger("admin_core.graph")

REBUILD_ACTION = "graph.rebuild"
REBUILD_EVENT = "ADMIN_GRAPH_REBUILD"
UNREACHABLE = "The graph database is unreachable; the previous projection is still readable."
SOURCE_UNREACHABLE = "The database is unreachable; the previous projection is still readable."


#: Called after each batch (and once with `done=0` when a label or type starts).
ProgressCallback = Callable[[RebuildProgress], None]


def _no_progress(progress: RebuildProgress) -> None:
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class RebuildCommand:
    scope: GraphScope = GraphScope.ALL


class RebuildProjection:
    """Rebuild the graph projection of one scope (or all) from the source.

    Rules:
    - needs `graph:rebuild` with platform scope;
    - single-flight: while any rebuild holds the lock (on any replica), another one fails at
      once with GRAPH_REBUILD_IN_PROGRESS;
    - uniqueness constraints first; then, per label the scope owns, its nodes are streamed
      with their outgoing relationships from one consistent read of the source in batches
      and upserted together: each node stamped with this run's id, its outgoing
      relationships made exactly its links (up to `concurrency` batches in flight, so
      memory is bounded by batch size, not by data size); a label's nodes are written
      before the relationships that end at them; only then are the scope's nodes that this
      run did not write deleted, with their relationships. An item the source still has is
      therefore never missing from the graph, even if the rebuild stops half-way. A label or
      type that was empty when the run began is created in bulk and needs no sweep;
    - nodes and relationships of other scopes are left alone;
    - a failure part-way gives GRAPH_REBUILD_FAILED (`unreachable` when the graph or the
      source could not be reached) and keeps the previous projection readable;
    - every rebuild that ran, successful or not, is audited as `graph.rebuild` on the
      platform chain with scope, counts and duration.
    """

    def __init__(
        self,
        *,
        source: ProjectionSource,
        graph: GraphProjection,
        lock: RebuildLock,
        transactions: Transactions[AuditTransaction],
        ids: IdGenerator,
        batch_size: int = 5000,
        concurrency: int = 2,
    ) -> None:
        if batch_size < 1 or concurrency < 1:
            raise ValueError("batch_size and concurrency must be positive")
        self._source = source
        self._graph = graph
        self._lock = lock
        self._transactions = transactions
        self._ids = ids
        self._batch_size = batch_size
        self._concurrency = concurrency

    async def execute(
        self,
        principal: Principal,
        command: RebuildCommand,
        *,
        progress: ProgressCallback = _no_progress,
    ) -> RebuildResult:
        principal.require(Permission.GRAPH_REBUILD, platform=True)
        scope = command.scope
        async with _database_reached(self._lock.hold()) as held:
            if not held:
                raise GraphRebuildInProgress()
            run = self._ids.new_id("grb")
            started = time.monotonic()
            try:
                result = await self._rebuild(scope, run, started, progress)
            except (ProjectionError, DatabaseUnavailable) as error:
                unreachable = isinstance(error, GraphUnavailable | DatabaseUnavailable)
                failure = GraphRebuildFailed(
                    _unreachable_message(error),
                    unreachable=unreachable,
                    details={"scope": scope.value, "run_id": run},
                )
                await self._audit_failure(principal, scope, run, started, failure)
                raise failure from error
            await self._audit(principal, result)
            return result

    async def _rebuild(
        self, scope: GraphScope, run: str, started: float, progress: ProgressCallback
    ) -> RebuildResult:
        await self._graph.ensure_constraints()
        before = await self._graph.counts()
        replaced: dict[RelType, int] = {}  # relationships the written nodes no longer have
        written = await self._copy_scope(scope, run, before, progress, replaced)
        removed = await self._remove_missing(scope, run, before, replaced)
        counts = await self._graph.counts()
        return RebuildResult(
            scope=scope,
            run_id=run,
            counts={label: counts.nodes.get(label, 0) for label in scope.labels},
            relationships={rel: counts.relationships.get(rel, 0) for rel in scope.relationships},
            removed=removed,
            written=written,
            duration_ms=round((time.monotonic() - started) * 1000),
        )

    async def _copy_scope(
        self,
        scope: GraphScope,
        run: str,
        before: GraphCounts,
        progress: ProgressCallback,
        replaced: dict[RelType, int],
    ) -> int:
        """Copy each label of the scope from the source, part by part in write order; the
        items written (nodes and relationships), counted once every write has ended."""
        labels = [label for part in scope.parts for label in _write_order(part.labels)]
        done: list[list[int]] = []  # items written, per label: its nodes, then each type
        writes = _Writes(self._concurrency)
        try:
            async with self._source.read() as reader:
                for label in labels:
                    absent = _empty_before(label, before)
                    done.append(
                        await self._copy(reader, label, run, absent, progress, replaced, writes)
                    )
                await writes.finish()
        finally:
            await writes.cancel()
        return sum(map(sum, done))

    async def _remove_missing(
        self, scope: GraphScope, run: str, before: GraphCounts, replaced: dict[RelType, int]
    ) -> GraphCounts:
        """Remove what this run did not write, and count, per label and type of the scope,
        what went: those and the relationships the written nodes no longer have. A label or
        type that was empty when this run began holds only what it wrote."""
        removed = await self._graph.remove_missing(
            labels=[label for label in scope.labels if before.nodes.get(label, 0)],
            relationships=[
                rel
                for rel in scope.relationships
                if before.relationships.get(rel, 0) and before.nodes.get(rel.start, 0)
            ],
            run=run,
        )
        return GraphCounts(
            nodes={label: removed.nodes.get(label, 0) for label in scope.labels},
            relationships={
                rel: removed.relationships.get(rel, 0) + replaced.get(rel, 0)
                for rel in scope.relationships
            },
        )

    async def _copy(
        self,
        reader: ProjectionReader,
        label: NodeLabel,
        run: str,
        absent: set[NodeLabel | RelType],
        progress: ProgressCallback,
        replaced: dict[RelType, int],
        writes: _Writes,
    ) -> list[int]:
        """Start writing the label's nodes with their outgoing relationships, a batch per
        transaction, and return the items written so far (its nodes, then each type), which
        grows as batches complete; progress per label and per relationship type.

        The first batch is read while the earlier labels' last writes are still in flight,
        and written only once they are all done: the relationships written here may end at
        their nodes."""
        items: tuple[NodeLabel | RelType, ...] = (label, *label.outgoing)
        totals = [await reader.count_nodes(label)]
        totals += [await reader.count_relationships(rel) for rel in label.outgoing]
        done = [0] * len(items)
        for item, total in zip(items, totals, strict=True):
            progress(RebuildProgress(item=item, done=0, total=total))

        async def write(batch: Sequence[NodeWithLinks]) -> None:
            gone = await self._graph.upsert_nodes_with_links(label, batch, run=run, absent=absent)
            for rel, n in gone.items():
                replaced[rel] = replaced.get(rel, 0) + n
            done[0] += len(batch)
            for i in range(1, len(items)):
                done[i] += sum(len(owned.links[i - 1]) for owned in batch)
            for item, n, total in zip(items, done, totals, strict=True):
                progress(RebuildProgress(item=item, done=n, total=max(total, n)))

        batches = reader.nodes_with_links(label, batch_size=self._batch_size)
        first = await anext(batches, None)
        await writes.finish()
        if first:
            await writes.start(write(first))
        async for batch in batches:
            if batch:
                await writes.start(write(batch))
        return done

    async def _audit(self, principal: Principal, result: RebuildResult) -> None:
        async with self._transactions() as tx:
            await tx.audit.append(
                _rebuild_entry(
                    principal,
                    result.run_id,
                    {
                        "outcome": "succeeded",
                        "scope": result.scope.value,
                        "counts": {label.plural: n for label, n in result.counts.items()},
                        "relationships": {rel.wire: n for rel, n in result.relationships.items()},
                        "removed": wire_counts(result.removed),
                        "written": result.written,
                        "duration_ms": result.duration_ms,
                    },
                )
            )
            await tx.commit()

    async def _audit_failure(
        self,
        principal: Principal,
        scope: GraphScope,
        run: str,
        started: float,
        failure: GraphRebuildFailed,
    ) -> None:
        """Best effort: when the database itself is what failed, the rebuild's own error is
        the one the caller must see, and the entry's loss is said in one line."""
        try:
            async with self._transactions() as tx:
                await tx.audit.append(
                    _rebuild_entry(
                        principal,
                        run,
                        {
                            "outcome": "failed",
                            "scope": scope.value,
                            "unreachable": failure.unreachable,
                            "duration_ms": round((time.monotonic() - started) * 1000),
                        },
                    )
                )
                await tx.commit()
        except AdminError as error:  # the database out of reach: said in one line
            log.warning(
                "graph rebuild %s: its failure could not be audited: %s %s",
                run,
                error.code,
                error.message,
            )
        except Exception:
            log.exception("graph rebuild %s: its failure could not be audited", run)


def _rebuild_entry(principal: Principal, run: str, after: dict[str, Any]) -> AuditRecord:
    """The audit entry of one rebuild run, succeeded or failed."""
    return audit_record(
        principal,
        action=REBUILD_ACTION,
        event_type=REBUILD_EVENT,
        resource_type="graph_projection",
        resource_id=run,
        tenant_id=None,
        after=after,
    )


class _Writes:
    """Writes in flight, at most `limit` at a time, each a task; a failed write's error is
    raised by the next `start` or `finish`."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, write: Coroutine[Any, Any, None]) -> None:
        """Start `write` once fewer than `limit` are in flight."""
        try:
            while len(self._tasks) >= self._limit:
                await self._settle()
        except BaseException:
            write.close()  # never started
            raise
        self._tasks.add(asyncio.create_task(write))

    async def finish(self) -> None:
        """Wait until every write started is done."""
        while self._tasks:
            await self._settle()

    async def _settle(self) -> None:
        finished, self._tasks = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        failures = [error for task in finished if (error := task.exception()) is not None]
        if failures:
            raise failures[0]

    async def cancel(self) -> None:
        """Stop the writes still in flight (after a failure)."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()


def _empty_before(label: NodeLabel, before: GraphCounts) -> set[NodeLabel | RelType]:
    """The label and its outgoing types that were empty when the run began: created in bulk,
    and not swept."""
    absent: set[NodeLabel | RelType] = {
        rel for rel in label.outgoing if before.relationships.get(rel, 0) == 0
    }
    if before.nodes.get(label, 0) == 0:
        absent.add(label)
    return absent


def _write_order(labels: Sequence[NodeLabel]) -> list[NodeLabel]:
    """Labels that relationships of the others end at come first (accreditations before the
    providers accredited by them), so every relationship finds its end node."""
    ends = {rel.end for label in labels for rel in label.outgoing}
    return sorted(labels, key=lambda label: label not in ends)


def _unreachable_message(error: Exception) -> str | None:
    """What a rebuild cut short by `error` says: which database was out of reach, if one was."""
    if isinstance(error, DatabaseUnavailable):
        return SOURCE_UNREACHABLE
    return UNREACHABLE if isinstance(error, GraphUnavailable) else None


T = TypeVar("T")


@asynccontextmanager
async def _database_reached(resource: AbstractAsyncContextManager[T]) -> AsyncIterator[T]:
    """`resource` of the source database (its rows, the rebuild lock), with that database out
    of reach said as DATABASE_UNAVAILABLE, as every other use case says it."""
    try:
        async with resource as value:
            yield value
    except GraphUnavailable as error:
        raise DatabaseUnavailable() from error


class ShowGraphStatus:
    """Drift between the source and the graph: rows per label (and relationship type) in the
    source, items in the graph, and the difference (graph − source).

    Rules: needs `graph:rebuild` with platform scope. When the graph cannot be reached the
    source side is still shown, with `graph_available` false and no graph counts.
    """

    def __init__(self, *, source: ProjectionSource, graph: GraphProjection) -> None:
        self._source = source
        self._graph = graph

    async def execute(self, principal: Principal) -> GraphStatus:
        principal.require(Permission.GRAPH_REBUILD, platform=True)
        async with _database_reached(self._source.read()) as reader:
            rows = {label: await reader.count_nodes(label) for label in NodeLabel}
            links = {rel: await reader.count_relationships(rel) for rel in RelType}
        graph: GraphCounts | None = None
        error: str | None = None
        try:
            graph = await self._graph.counts()
        except ProjectionError as failure:
            error = str(failure) or type(failure).__name__
        return GraphStatus(
            labels={
                label: Drift(source=n, graph=graph.nodes.get(label, 0) if graph else None)
                for label, n in rows.items()
            },
            relationships={
                rel: Drift(source=n, graph=graph.relationships.get(rel, 0) if graph else None)
                for rel, n in links.items()
            },
            graph_available=graph is not None,
            graph_error=error,
        )
