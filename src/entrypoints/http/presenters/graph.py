"""Rebuild results and drift on the wire (SPEC §6.1)."""

from __future__ import annotations

from admin_core.graph.model import Drift, GraphStatus, RebuildResult, wire_counts
from entrypoints.http.schemas import Out


class RebuildOut(Out, frozen=True):
    scope: str
    counts: dict[str, int]
    relationships: dict[str, int]
    removed: dict[str, int]
    duration_ms: int
    run_id: str


class DriftOut(Out, frozen=True):
    source: int
    graph: int | None
    drift: int | None


class GraphStatusOut(Out, frozen=True):
    labels: dict[str, DriftOut]
    relationships: dict[str, DriftOut]
    graph_available: bool
    graph_error: str | None
    in_sync: bool


def rebuild_out(result: RebuildResult) -> RebuildOut:
    return RebuildOut(
        scope=result.scope.value,
        counts={label.plural: n for label, n in result.counts.items()},
        relationships={rel.wire: n for rel, n in result.relationships.items()},
        removed=wire_counts(result.removed),
        duration_ms=result.duration_ms,
        run_id=result.run_id,
    )


def drift_out(d: Drift) -> DriftOut:
    return DriftOut(source=d.source, graph=d.graph, drift=d.drift)


def status_out(status: GraphStatus) -> GraphStatusOut:
    return GraphStatusOut(
        labels={label.plural: drift_out(d) for label, d in status.labels.items()},
        relationships={rel.wire: drift_out(d) for rel, d in status.relationships.items()},
        graph_available=status.graph_available,
        graph_error=status.graph_error,
        in_sync=status.in_sync,
    )
