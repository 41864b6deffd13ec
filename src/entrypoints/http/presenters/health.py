"""The external dependencies' health on the wire (SPEC §6.10), shared by the API and
`adminctl health`."""

from __future__ import annotations

from datetime import datetime

from admin_core.health.model import DependencyStatus, ExternalHealth, OverallStatus
from entrypoints.http.schemas import Out


class DependencyOut(Out, frozen=True):
    status: DependencyStatus
    #: How long the probe took (to the answer or the failure); null when not configured.
    latency_ms: int | None
    #: Why it is down (no secret in it); null otherwise.
    error: str | None


class ExternalDependenciesOut(Out, frozen=True):
    status: OverallStatus
    checked_at: datetime
    #: By name: postgres, neo4j, redis, flagsmith, stripe, razorpay, clerk, daily_co,
    #: qdrant, anthropic, langfuse.
    dependencies: dict[str, DependencyOut]


def external_dependencies_out(health: ExternalHealth) -> ExternalDependenciesOut:
    return ExternalDependenciesOut(
        status=health.status,
        checked_at=health.checked_at,
        dependencies={
            name: DependencyOut(
                status=d.status,
                latency_ms=d.latency_ms,
                error=d.error,
            )
            for name, d in health.dependencies.items()
        },
    )
