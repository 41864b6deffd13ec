"""The matching dashboard (SPEC §6.3): the parameter registry with measured coverage
(platform scope), and a tenant's domain weights (`tenant:manage` reaching the tenant)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from admin_core.kernel.principal import Permission, Principal
from admin_core.matching.model import Domain, Status
from admin_core.matching.use_cases import (
    DomainWeightsQuery,
    ParametersQuery,
    ShowDomainWeights,
    ShowMatchingParameters,
)
from admin_core.tenants.errors import TenantNotFound
from entrypoints.http.dependencies import use_case
from entrypoints.http.envelope import ok
from entrypoints.http.fields import TenantQuery
from entrypoints.http.openapi import errors
from entrypoints.http.presenters.matching import (
    DomainWeightsOut,
    MatchingParametersOut,
    domain_weights_out,
    matching_parameters_out,
)
from entrypoints.http.schemas import SuccessEnvelope
from entrypoints.http.security import requires


class MatchingController(Controller):
    path = "/api/v1/admin/matching"
    tags = ["matching"]  # noqa: RUF012 - Litestar reads it as a plain attribute
    opt = requires(Permission.TENANT_MANAGE)
    dependencies = {  # noqa: RUF012
        "show_matching_parameters": use_case(lambda c: c.matching.show_matching_parameters),
        "show_domain_weights": use_case(lambda c: c.matching.show_domain_weights),
    }

    @get(
        "/parameters",
        summary="The matching-parameter registry with measured coverage",
        operation_id="listMatchingParameters",
        responses=errors(),
        opt=requires(Permission.TENANT_MANAGE, platform=True),
    )
    async def list_parameters(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        show_matching_parameters: NamedDependency[ShowMatchingParameters],
        domain: Annotated[Domain | None, QueryParameter()] = None,
        status: Annotated[Status | None, QueryParameter()] = None,
        refresh: Annotated[
            bool,
            QueryParameter(description="Measure coverage again instead of reading the cache."),
        ] = False,
    ) -> Response[SuccessEnvelope[MatchingParametersOut]]:
        """Platform scope. `coverage_pct` (0..1) is measured on the database that holds the
        parameter's data and cached per replica with its `last_refresh`; null for `reference`
        and `computed` parameters, for a source that cannot be read now, and for an entity
        without rows. The counts are those of the whole registry, whatever the filters."""
        result = await show_matching_parameters.execute(
            principal,
            ParametersQuery(
                domain=None if domain is None else domain.value,
                status=None if status is None else status.value,
                refresh=refresh,
            ),
        )
        return ok(request, matching_parameters_out(result))

    @get(
        "/domain-weights",
        summary="A tenant's matching domain weights",
        operation_id="showDomainWeights",
        responses=errors(TenantNotFound, 503),
    )
    async def domain_weights(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        show_domain_weights: NamedDependency[ShowDomainWeights],
        tenant_id: TenantQuery,
    ) -> Response[SuccessEnvelope[DomainWeightsOut]]:
        """The tenant's `matching_domain_weights` flag override (`source: override`), or the
        defaults of `config/matching/domains.yaml` (`source: default`)."""
        result = await show_domain_weights.execute(
            principal, DomainWeightsQuery(tenant_id=tenant_id)
        )
        return ok(request, domain_weights_out(result), stale=result.stale)
