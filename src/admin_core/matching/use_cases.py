"""The matching dashboard's use cases (SPEC §6.3): the parameter registry with its measured
coverage, and a tenant's domain weights."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from admin_core.flags.model import Provenance
from admin_core.flags.tenant_flags import TenantFlags
from admin_core.kernel.principal import Permission, Principal
from admin_core.kernel.validation import FieldChecks
from admin_core.matching.coverage import CoverageCache
from admin_core.matching.model import (
    Domain,
    DomainWeights,
    Parameter,
    Registry,
    Status,
)

#: The flag that holds a tenant's own domain weights.
WEIGHTS_FLAG = "matching_domain_weights"


@dataclass(frozen=True, slots=True, kw_only=True)
class ParametersQuery:
    """Filters (None: all) and whether to measure coverage again."""

    domain: str | None = None
    status: str | None = None
    refresh: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ParameterCoverage:
    """A parameter with its coverage: `coverage` None where there is no data source (a
    `reference` or `computed` parameter), where the source cannot be read now, or where its
    entity has no row; `last_refresh` None where coverage is not measured."""

    parameter: Parameter
    coverage: float | None
    last_refresh: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchingParameters:
    """The selected parameters, and the counts of the whole registry (the files)."""

    parameters: Sequence[ParameterCoverage]
    total: int
    counts: Mapping[Status, int]
    last_refresh: datetime | None


E = TypeVar("E", Domain, Status)


def _choice(checks: FieldChecks, field: str, value: str | None, kind: type[E]) -> E | None:
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        checks.fail(field, "must be one of " + ", ".join(kind))
        return None


class ShowMatchingParameters:
    """The registry's parameters, filtered by `domain` and `status`, each with its coverage
    (measured, cached in this process; `refresh` measures again). Platform scope
    (`tenant:manage` in a platform org): the registry is the platform's. An unknown domain or
    status is a VALIDATION_ERROR naming the filter. The counts (`total` and one per status)
    are those of the whole registry, whatever the filters."""

    def __init__(self, registry: Registry, coverage: CoverageCache) -> None:
        self._registry = registry
        self._coverage = coverage

    async def execute(self, principal: Principal, query: ParametersQuery) -> MatchingParameters:
        principal.require(Permission.TENANT_MANAGE, platform=True)
        checks = FieldChecks()
        domain = _choice(checks, "domain", query.domain, Domain)
        status = _choice(checks, "status", query.status, Status)
        checks.done()
        snapshot = await self._coverage.get(refresh=query.refresh)
        rows = []
        for p in self._registry.select(domain=domain, status=status):
            measured = p.source.measured and (p.source, p.path) in snapshot.shares
            rows.append(
                ParameterCoverage(
                    parameter=p,
                    coverage=snapshot.share(p.source, p.path) if measured else None,
                    last_refresh=snapshot.measured_at if measured else None,
                )
            )
        return MatchingParameters(
            parameters=rows,
            total=len(self._registry.parameters),
            counts=self._registry.counts,
            last_refresh=snapshot.measured_at,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainWeightsQuery:
    tenant_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantDomainWeights:
    """`source`: "override" (the tenant's `matching_domain_weights` flag) or "default"
    (`config/matching/domains.yaml`). `stale`: the flag provider is unreachable and its last
    known values were used."""

    tenant_id: str
    weights: DomainWeights
    source: str
    stale: bool = False


class ShowDomainWeights:
    """A tenant's domain weights: its `matching_domain_weights` override when it has one,
    the defaults otherwise. `tenant:manage` reaching the tenant; TENANT_NOT_FOUND for a
    tenant that does not exist. An override was checked against the flag catalogue when it
    was written (FLAG_VALUE_INVALID), so what is read is a valid set of weights."""

    def __init__(self, flags: TenantFlags, defaults: DomainWeights) -> None:
        self._flags = flags
        self._defaults = defaults

    async def execute(self, principal: Principal, query: DomainWeightsQuery) -> TenantDomainWeights:
        principal.require(Permission.TENANT_MANAGE, tenant_id=query.tenant_id)
        await self._flags.tenants.require(query.tenant_id)
        flags = await self._flags.effective(query.tenant_id)
        if flags.sources.get(WEIGHTS_FLAG) is Provenance.OVERRIDE:
            return TenantDomainWeights(
                tenant_id=query.tenant_id,
                weights=DomainWeights.of(flags.values[WEIGHTS_FLAG]),
                source="override",
                stale=flags.stale,
            )
        return TenantDomainWeights(
            tenant_id=query.tenant_id, weights=self._defaults, source="default", stale=flags.stale
        )
