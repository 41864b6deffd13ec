"""Provider routes (SPEC §6.8): a provider and its tenant in one step."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from admin_core.directory.model import Provider
from admin_core.domain.tenant_requests import ProviderDraft, TenantDraft
from admin_core.kernel.principal import Permission, Principal
from admin_core.tenants.use_cases import CreateProviderWithTenant
from entrypoints.http.envelope import ok
from entrypoints.http.routes.tenants import actor_of, tenant_view_out
from entrypoints.http.schemas import SuccessEnvelope
from entrypoints.http.security import requires
from entrypoints.http.tenant_schemas import (
    CreateProviderIn,
    ProviderOut,
    ProviderWithTenantOut,
    settings_changes,
)


def provider_out(provider: Provider) -> ProviderOut:
    return ProviderOut(
        id=provider.id,
        name=provider.name,
        country=provider.country,
        city=provider.city,
        specialties=list(provider.specialties),
        languages=list(provider.languages),
        accreditations=list(provider.accreditations),
        created_at=provider.created_at,
        updated_at=provider.updated_at,
    )


@post(
    "/api/v1/admin/providers",
    guards=[requires(Permission.TENANT_MANAGE, platform=True)],
    summary="Create a provider and its tenant in one transaction",
    tags=["tenants"],
)
async def create_provider(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    create_provider: NamedDependency[CreateProviderWithTenant],
    data: JSONBody[CreateProviderIn],
) -> Response[SuccessEnvelope[ProviderWithTenantOut]]:
    """A failure leaves neither provider nor tenant."""
    p, t = data.provider, data.tenant
    created = await create_provider.execute(
        actor_of(request, principal),
        provider=ProviderDraft(
            name=p.name,
            country=p.country,
            city=p.city,
            specialties=p.specialties,
            languages=p.languages,
            accreditations=p.accreditations,
        ),
        tenant=TenantDraft(id=t.id, name=t.name, settings=settings_changes(t.settings)),
        clerk_org_id=data.clerk_org_id,
    )
    body = ProviderWithTenantOut(
        provider=provider_out(created.provider), tenant=tenant_view_out(created.tenant)
    )
    return ok(request, body, status_code=201)
