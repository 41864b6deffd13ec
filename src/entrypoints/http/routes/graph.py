"""Graph routes (SPEC §6.1): rebuild the projection, show drift."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from admin_core.graph.errors import GraphRebuildInProgress
from admin_core.graph.model import GraphScope
from admin_core.graph.use_cases import RebuildCommand, RebuildProjection, ShowGraphStatus
from admin_core.kernel.principal import Permission, Principal
from entrypoints.http.dependencies import use_case
from entrypoints.http.envelope import ok
from entrypoints.http.openapi import WRITE, errors
from entrypoints.http.presenters.graph import GraphStatusOut, RebuildOut, rebuild_out, status_out
from entrypoints.http.schemas import In, SuccessEnvelope
from entrypoints.http.security import requires


class RebuildIn(In, frozen=True):
    scope: Literal["all", "providers", "doctors", "procedures"] = "all"


class GraphController(Controller):
    path = "/api/v1/admin/graph"
    tags = ["graph"]  # noqa: RUF012 - Litestar reads it as a plain attribute
    opt = requires(Permission.GRAPH_REBUILD, platform=True)
    dependencies = {  # noqa: RUF012
        "rebuild_graph": use_case(lambda c: c.graph.rebuild_graph),
        "graph_status": use_case(lambda c: c.graph.graph_status),
    }

    @post(
        "/rebuild",
        status_code=200,
        summary="Rebuild the graph projection (all or one scope)",
        operation_id="rebuildGraph",
        responses=errors(GraphRebuildInProgress, 503, base=WRITE),
    )
    async def rebuild(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        rebuild_graph: NamedDependency[RebuildProjection],
        data: JSONBody[RebuildIn | None] = None,
    ) -> Response[SuccessEnvelope[RebuildOut]]:
        """Synchronous; one rebuild at a time across replicas (409 otherwise). The body is
        optional (scope `all`)."""
        command = RebuildCommand(scope=GraphScope(data.scope if data else "all"))
        return ok(request, rebuild_out(await rebuild_graph.execute(principal, command)))

    @get(
        "/status",
        summary="Rows in the source, items in the graph, and the drift per label",
        operation_id="graphStatus",
        responses=errors(),
    )
    async def status(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        graph_status: NamedDependency[ShowGraphStatus],
    ) -> Response[SuccessEnvelope[GraphStatusOut]]:
        return ok(request, status_out(await graph_status.execute(principal)))
