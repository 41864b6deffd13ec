"""Ports of the graph projection: the source it is rebuilt from, the graph it writes, and the
lock that keeps rebuilds single-flight.

Adapters translate their driver's exceptions into `GraphUnavailable` (the graph or source
cannot be reached: connection refused, dropped, timed out) or `ProjectionError` (it answered,
but with an error) at their boundary, so the core never sees a vendor exception.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from admin_core.graph.model import (
    GraphCounts,
    GraphNode,
    GraphRelationship,
    NodeLabel,
    NodeWithLinks,
    RelType,
)


class ProjectionError(Exception):
    """The graph or the source answered with an error."""


class GraphUnavailable(ProjectionError):
    """The graph (or the source) cannot be reached."""


class ProjectionReader(Protocol):
    """One consistent read of the source: every stream and count of one reader sees the same
    snapshot, so no relationship refers to a row the node streams did not see."""

    def nodes(self, label: NodeLabel, *, batch_size: int) -> AsyncIterator[Sequence[GraphNode]]:
        """The label's nodes in key order, `batch_size` at a time (keyset pagination: each
        batch is one index range scan; nothing beyond a batch is held in memory)."""
        ...

    def relationships(
        self, rel: RelType, *, batch_size: int
    ) -> AsyncIterator[Sequence[GraphRelationship]]:
        """The type's relationships in (start, end) order, `batch_size` at a time."""
        ...

    def nodes_with_links(
        self, label: NodeLabel, *, batch_size: int
    ) -> AsyncIterator[Sequence[NodeWithLinks]]:
        """The label's nodes in key order, `batch_size` nodes at a time, each with its
        outgoing relationships of every type in `label.outgoing` (in (start, end) order):
        what a rebuild writes. Memory is bounded by the batch, as for `nodes`."""
        ...

    async def count_nodes(self, label: NodeLabel) -> int: ...

    async def count_relationships(self, rel: RelType) -> int: ...


class ProjectionSource(Protocol):
    def read(self) -> AbstractAsyncContextManager[ProjectionReader]:
        """Open a consistent, read-only view of the source for one rebuild."""
        ...


class GraphProjection(Protocol):
    """The graph store. Every write is idempotent. Every node written by a rebuild is stamped
    with the rebuild's `run`, and a relationship belongs to its start node: that is how
    `remove_missing` tells stale items from current ones without ever deleting an item the
    source still has."""

    async def ensure_constraints(self) -> None:
        """Create the uniqueness constraint on each label's key if absent."""
        ...

    async def upsert_nodes(
        self, label: NodeLabel, nodes: Sequence[GraphNode], *, run: str, absent: bool = False
    ) -> None:
        """Create the nodes, or update them (every given property set; a `None` one removed),
        in one transaction, stamped with `run`. `absent=True` promises that none of them is
        in the graph yet and that this run will not sweep the label (it was empty when the
        single-flight rebuild began): the adapter may then create without looking up, and
        without the stamp."""
        ...

    async def upsert_relationships(
        self,
        rel: RelType,
        relationships: Sequence[GraphRelationship],
        *,
        run: str,
        absent: bool = False,
    ) -> None:
        """Create or update the relationships, in one transaction; other relationships are
        left as they are. One whose start or end node is not in the graph is skipped.
        `absent` promises that the type holds none of them yet."""
        ...

    async def upsert_nodes_with_links(
        self,
        label: NodeLabel,
        items: Sequence[NodeWithLinks],
        *,
        run: str,
        absent: Collection[NodeLabel | RelType] = (),
    ) -> Mapping[RelType, int]:
        """Upsert the nodes as `upsert_nodes` does and, in the same transaction, make each
        node's outgoing relationships of the types in `label.outgoing` exactly its item's
        links: those are created or updated (a relationship has exactly the properties
        given; one whose end node is not in the graph is skipped), and any other of those
        types from the node is deleted. Returns how many relationships of each type were
        deleted so. `absent` names the label and the types that were empty when the
        single-flight rebuild began: the adapter may create those without looking up."""
        ...

    async def remove_missing(
        self,
        *,
        labels: Sequence[NodeLabel],
        relationships: Sequence[RelType],
        run: str,
    ) -> GraphCounts:
        """Delete the relationships of the given types that start at a node `run` did not
        write (or at a node of another label than the type's start label), then the nodes
        of the given labels that `run` did not write, with any relationship they still
        have. Returns what was deleted (relationships counted are those of the given types
        deleted directly)."""
        ...

    async def counts(self) -> GraphCounts:
        """Nodes per label and relationships per type, for every label and type."""
        ...

    async def scan_nodes(
        self, label: NodeLabel, *, after: str | None = None, limit: int = 1000
    ) -> Sequence[GraphNode]:
        """Nodes of a label in key order, after the key `after`: for checks and exports."""
        ...

    async def scan_relationships(
        self, rel: RelType, *, after: tuple[str, str] | None = None, limit: int = 1000
    ) -> Sequence[GraphRelationship]:
        """Relationships of a type in (start, end) order, after `after`."""
        ...


class RebuildLock(Protocol):
    def hold(self) -> AbstractAsyncContextManager[bool]:
        """Try to take the rebuild lock without waiting; yields whether it was taken and
        releases it on exit. Held by at most one rebuild across every replica."""
        ...
