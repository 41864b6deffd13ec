"""Graph routes (SPEC §6.1): rebuild the projection, show drift."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from admin_core.audit import Actor
from admin_core.graph.model import Drift, GraphScope, GraphStatus, RebuildResult
from admin_core.graph.use_cases import RebuildProjection, ShowGraphStatus, removed_view
from admin_core.kernel.principal import Permission, Principal
from entrypoints.http.envelope import ok, request_id_of
from entrypoints.http.schemas import In, Out, SuccessEnvelope
from entrypoints.http.security import requires


class RebuildIn(In, frozen=True):
    scope: Literal["all", "providers", "doctors", "procedures"] = "all"


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
        removed=removed_view(result.removed),
        duration_ms=result.duration_ms,
        run_id=result.run_id,
    )


def _drift(d: Drift) -> DriftOut:
    return DriftOut(source=d.source, graph=d.graph, drift=d.drift)


def status_out(status: GraphStatus) -> GraphStatusOut:
    return GraphStatusOut(
        labels={label.plural: _drift(d) for label, d in status.labels.items()},
        relationships={rel.wire: _drift(d) for rel, d in status.relationships.items()},
        graph_available=status.graph_available,
        graph_error=status.graph_error,
        in_sync=status.in_sync,
    )


class GraphController(Controller):
    path = "/api/v1/admin/graph"
    tags = ["graph"]  # noqa: RUF012 - Litestar reads it as a plain attribute

    @post(
        "/rebuild",
        status_code=200,
        guards=[requires(Permission.GRAPH_REBUILD, platform=True)],
        summary="Rebuild the graph projection (all or one scope)",
    )
    async def rebuild(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        rebuild_graph: NamedDependency[RebuildProjection],
        data: JSONBody[RebuildIn | None] = None,
    ) -> Response[SuccessEnvelope[RebuildOut]]:
        """Synchronous; one rebuild at a time across replicas (409 otherwise)."""
        scope = GraphScope(data.scope if data else "all")
        actor = Actor(principal=principal, request_id=request_id_of(request))
        return ok(request, rebuild_out(await rebuild_graph.execute(actor, scope)))

    @get(
        "/status",
        guards=[requires(Permission.GRAPH_REBUILD, platform=True)],
        summary="Rows in the source, items in the graph, and the drift per label",
    )
    async def status(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        graph_status: NamedDependency[ShowGraphStatus],
    ) -> Response[SuccessEnvelope[GraphStatusOut]]:
        return ok(request, status_out(await graph_status.execute(principal)))
