"""The graph projection in process memory (the embedded default), and the in-process rebuild
lock used wherever one process is the whole deployment (memory and SQLite modes)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from admin_core.graph.model import (
    GraphCounts,
    GraphNode,
    GraphRelationship,
    NodeLabel,
    NodeWithLinks,
    PropertyValue,
    RelType,
)
from admin_core.graph.ports import GraphProjection, RebuildLock


def _present(properties: Mapping[str, PropertyValue]) -> dict[str, PropertyValue]:
    """A graph has no null properties: a null column is an absent property."""
    return {
        k: list(v) if isinstance(v, list) else v for k, v in properties.items() if v is not None
    }


@dataclass(slots=True)
class _Node:
    tenant_id: str
    properties: dict[str, PropertyValue]
    run: str | None


@dataclass(slots=True)
class _Relationship:
    properties: dict[str, PropertyValue]


def _run_of(node: _Node | None) -> str | None:
    return node.run if node else None


@dataclass
class InMemoryGraph:
    nodes: dict[NodeLabel, dict[str, _Node]] = field(
        default_factory=lambda: {label: {} for label in NodeLabel}
    )
    relationships: dict[RelType, dict[tuple[str, str], _Relationship]] = field(
        default_factory=lambda: {rel: {} for rel in RelType}
    )


class InMemoryGraphProjection(GraphProjection):
    """Same semantics as the Neo4j adapter, without a server. Each call is atomic (it never
    yields to the event loop halfway)."""

    def __init__(self, graph: InMemoryGraph | None = None) -> None:
        self.graph = graph or InMemoryGraph()

    async def ensure_constraints(self) -> None:
        return None  # keys are dictionary keys: unique by construction

    async def upsert_nodes(
        self, label: NodeLabel, nodes: Sequence[GraphNode], *, run: str, absent: bool = False
    ) -> None:
        table = self.graph.nodes[label]
        for node in nodes:
            table[node.key] = _Node(node.tenant_id, _present(node.properties), run)

    async def upsert_relationships(
        self,
        rel: RelType,
        relationships: Sequence[GraphRelationship],
        *,
        run: str,
        absent: bool = False,
    ) -> None:
        starts, ends = self.graph.nodes[rel.start], self.graph.nodes[rel.end]
        table = self.graph.relationships[rel]
        for r in relationships:
            if r.start in starts and r.end in ends:
                table[(r.start, r.end)] = _Relationship(_present(r.properties))

    async def upsert_nodes_with_links(
        self,
        label: NodeLabel,
        items: Sequence[NodeWithLinks],
        *,
        run: str,
        absent: Collection[NodeLabel | RelType] = (),
    ) -> Mapping[RelType, int]:
        await self.upsert_nodes(label, [item.node for item in items], run=run)
        gone: dict[RelType, int] = {}
        starts = {item.node.key for item in items}
        for i, rel in enumerate(label.outgoing):
            keep = {(item.node.key, link.end) for item in items for link in item.links[i]}
            table = self.graph.relationships[rel]
            stale = [pair for pair in table if pair[0] in starts and pair not in keep]
            for pair in stale:
                del table[pair]
            gone[rel] = len(stale)
            links = [link for item in items for link in item.links[i]]
            await self.upsert_relationships(rel, links, run=run)
        return gone

    async def remove_missing(
        self,
        *,
        labels: Sequence[NodeLabel],
        relationships: Sequence[RelType],
        run: str,
    ) -> GraphCounts:
        removed_rels: dict[RelType, int] = {}
        for rel in relationships:
            starts = self.graph.nodes[rel.start]
            table = self.graph.relationships[rel]
            stale = [pair for pair in table if _run_of(starts.get(pair[0])) != run]
            for pair in stale:
                del table[pair]
            removed_rels[rel] = len(stale)
        removed_nodes: dict[NodeLabel, int] = {}
        for label in labels:
            table_n = self.graph.nodes[label]
            gone = {key for key, n in table_n.items() if n.run != run}
            for key in gone:
                del table_n[key]
            removed_nodes[label] = len(gone)
            if gone:
                self._detach(label, gone)
        return GraphCounts(nodes=removed_nodes, relationships=removed_rels)

    def _detach(self, label: NodeLabel, keys: set[str]) -> None:
        for rel, table in self.graph.relationships.items():
            if rel.start is label:
                for key in [k for k in table if k[0] in keys]:
                    del table[key]
            if rel.end is label:
                for key in [k for k in table if k[1] in keys]:
                    del table[key]

    async def counts(self) -> GraphCounts:
        return GraphCounts(
            nodes={label: len(t) for label, t in self.graph.nodes.items()},
            relationships={rel: len(t) for rel, t in self.graph.relationships.items()},
        )

    async def scan_nodes(
        self, label: NodeLabel, *, after: str | None = None, limit: int = 1000
    ) -> Sequence[GraphNode]:
        table = self.graph.nodes[label]
        keys = sorted(k for k in table if after is None or k > after)[:limit]
        return [
            GraphNode(key=k, tenant_id=table[k].tenant_id, properties=dict(table[k].properties))
            for k in keys
        ]

    async def scan_relationships(
        self, rel: RelType, *, after: tuple[str, str] | None = None, limit: int = 1000
    ) -> Sequence[GraphRelationship]:
        table = self.graph.relationships[rel]
        ends = self.graph.nodes[rel.end]
        keys = sorted(k for k in table if after is None or k > after)[:limit]
        return [
            GraphRelationship(
                start=s,
                end=e,
                end_tenant_id=ends[e].tenant_id,
                properties=dict(table[(s, e)].properties),
            )
            for s, e in keys
        ]


class InProcessRebuildLock(RebuildLock):
    """Single-flight within one process: enough where the process is the whole deployment
    (embedded SQLite, in-memory). Replicas sharing PostgreSQL use the advisory lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        taken = self._lock.acquire(blocking=False)
        try:
            yield taken
        finally:
            if taken:
                self._lock.release()
