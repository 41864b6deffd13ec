"""Health of the external dependencies (SPEC §6.10); liveness and readiness stay in
`system.py`, outside the admin document."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency

from admin_core.health.use_cases import CheckExternalDependencies
from admin_core.kernel.principal import Permission, Principal
from entrypoints.http.dependencies import use_case
from entrypoints.http.envelope import ok
from entrypoints.http.openapi import errors
from entrypoints.http.presenters.health import (
    ExternalDependenciesOut,
    external_dependencies_out,
)
from entrypoints.http.schemas import SuccessEnvelope
from entrypoints.http.security import requires


class HealthController(Controller):
    path = "/api/v1/admin/health"
    tags = ["health"]  # noqa: RUF012 - Litestar reads it as a plain attribute
    opt = requires(Permission.TENANT_MANAGE, platform=True)
    dependencies = {  # noqa: RUF012
        "check_external_dependencies": use_case(lambda c: c.health.check_external_dependencies),
    }

    @get(
        "/external-deps",
        summary="Health of every external dependency",
        operation_id="externalDependencyHealth",
        responses=errors(),
    )
    async def external_deps(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        check_external_dependencies: NamedDependency[CheckExternalDependencies],
    ) -> Response[SuccessEnvelope[ExternalDependenciesOut]]:
        """Each dependency `ok`, `down` (with why) or `not_configured`, with the probe's
        latency; `degraded` when a configured one is down (still 200: the report is the
        answer). Probes run at once with a timeout each, so the answer comes within about
        `ADMIN_HEALTH_TIMEOUT_SECONDS`; it is reused for `ADMIN_HEALTH_CACHE_SECONDS`."""
        health = await check_external_dependencies.execute(principal)
        return ok(request, external_dependencies_out(health))
