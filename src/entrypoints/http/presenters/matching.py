"""The matching dashboard on the wire (SPEC §6.3): parameters with coverage, domain weights."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from admin_core.matching.model import Domain, Source, Status
from admin_core.matching.use_cases import MatchingParameters, TenantDomainWeights
from entrypoints.http.schemas import Out


class MatchingParameterOut(Out, frozen=True):
    id: str
    domain: Domain
    status: Status
    source: Source
    weight: float
    path: str
    description: str
    #: Share (0..1) of the path's entities with a non-empty value; null without a data source.
    coverage_pct: float | None
    #: When coverage was measured; null where it is not measured.
    last_refresh: datetime | None


class MatchingParametersOut(Out, frozen=True):
    parameters: list[MatchingParameterOut]
    total: int
    active: int
    seeded: int
    unseeded: int
    not_implemented: int


class DomainWeightsOut(Out, frozen=True):
    tenant_id: str
    weights: dict[str, float]
    source: Literal["override", "default"]


def matching_parameters_out(result: MatchingParameters) -> MatchingParametersOut:
    counts = result.counts
    return MatchingParametersOut(
        parameters=[
            MatchingParameterOut(
                id=row.parameter.id,
                domain=row.parameter.domain,
                status=row.parameter.status,
                source=row.parameter.source,
                weight=row.parameter.weight,
                path=row.parameter.path,
                description=row.parameter.description,
                coverage_pct=row.coverage,
                last_refresh=row.last_refresh,
            )
            for row in result.parameters
        ],
        total=result.total,
        active=counts[Status.ACTIVE],
        seeded=counts[Status.SEEDED],
        unseeded=counts[Status.UNSEEDED],
        not_implemented=counts[Status.NOT_IMPLEMENTED],
    )


def domain_weights_out(result: TenantDomainWeights) -> DomainWeightsOut:
    return DomainWeightsOut(
        tenant_id=result.tenant_id,
        weights=result.weights.wire(),
        source="override" if result.source == "override" else "default",
    )
