"""Tenant routes (SPEC §6.8)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from admin_core.audit import Actor
from admin_core.domain.tenant_requests import TenantChanges, TenantDraft
from admin_core.domain.tenants import TenantQuery
from admin_core.kernel.principal import Permission, Principal
from admin_core.tenants.model import Tenant, TenantStatus, TenantView
from admin_core.tenants.use_cases import CreateTenant, ListTenants, MapOrganization, UpdateTenant
from entrypoints.http.envelope import ok, request_id_of
from entrypoints.http.schemas import SuccessEnvelope, TenantListOut, TenantOut, TenantSettingsOut
from entrypoints.http.security import requires
from entrypoints.http.tenant_schemas import (
    CreateTenantIn,
    OrgMappingIn,
    TenantViewOut,
    UpdateTenantIn,
    settings_changes,
)


def tenant_out(tenant: Tenant) -> TenantOut:
    s = tenant.settings
    return TenantOut(
        id=tenant.id,
        name=tenant.name,
        status=tenant.status.value,
        provider_id=tenant.provider_id,
        settings=TenantSettingsOut(
            payments_provider=s.payments_provider.value if s.payments_provider else None,
            data_residency_region=s.data_residency_region,
            default_currency=s.default_currency,
            timezone=s.timezone,
        ),
        created_at=tenant.created_at,
        updated_at=tenant.updated_at,
    )


def tenant_view_out(view: TenantView) -> TenantViewOut:
    base = tenant_out(view.tenant)
    fields = {f: getattr(base, f) for f in base.__struct_fields__}
    return TenantViewOut(**fields, clerk_org_id=view.clerk_org_id)


def actor_of(request: Request[Any, Any, Any], principal: Principal) -> Actor:
    return Actor(principal=principal, request_id=request_id_of(request))


class TenantController(Controller):
    path = "/api/v1/admin/tenants"
    tags = ["tenants"]  # noqa: RUF012 - Litestar reads it as a plain attribute

    @get("/", guards=[requires(Permission.TENANT_MANAGE)], summary="List tenants")
    async def list_tenants(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        list_tenants: NamedDependency[ListTenants],
        status: Annotated[TenantStatus | None, QueryParameter()] = None,
        tenant_id: Annotated[str | None, QueryParameter(min_length=1, max_length=128)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
        offset: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> Response[SuccessEnvelope[TenantListOut]]:
        """Tenants, oldest first. A tenant-scoped caller sees only its own tenant."""
        page = await list_tenants.execute(
            principal, TenantQuery(tenant_id=tenant_id, status=status, limit=limit, offset=offset)
        )
        data = TenantListOut(
            tenants=[tenant_out(t) for t in page.items],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
        )
        return ok(request, data, total=page.total, limit=page.limit, offset=page.offset)

    @post(
        "/",
        guards=[requires(Permission.TENANT_MANAGE, platform=True)],
        summary="Create the tenant of an existing provider",
    )
    async def create_tenant(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        create_tenant: NamedDependency[CreateTenant],
        data: JSONBody[CreateTenantIn],
    ) -> Response[SuccessEnvelope[TenantViewOut]]:
        """The legacy two-step path; `POST /api/v1/admin/providers` does both in one step."""
        view = await create_tenant.execute(
            actor_of(request, principal),
            provider_id=data.provider_id,
            tenant=TenantDraft(
                id=data.tenant_id, name=data.name, settings=settings_changes(data.settings)
            ),
            clerk_org_id=data.clerk_org_id,
        )
        return ok(request, tenant_view_out(view), status_code=201)

    @patch(
        "/{tenant_id:str}",
        guards=[requires(Permission.TENANT_MANAGE)],
        summary="Update a tenant's name, status or settings",
    )
    async def update_tenant(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        update_tenant: NamedDependency[UpdateTenant],
        tenant_id: FromPath[str],
        data: JSONBody[UpdateTenantIn],
    ) -> Response[SuccessEnvelope[TenantViewOut]]:
        """Settings merge key by key; changing the status needs platform scope."""
        view = await update_tenant.execute(
            actor_of(request, principal),
            tenant_id,
            TenantChanges(
                name=data.name,
                status=TenantStatus(data.status) if data.status else None,
                settings=settings_changes(data.settings),
            ),
        )
        return ok(request, tenant_view_out(view))

    @put(
        "/{tenant_id:str}/org-mapping",
        guards=[requires(Permission.TENANT_MANAGE, platform=True)],
        summary="Map a Clerk organisation to a tenant",
    )
    async def map_org(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        map_org: NamedDependency[MapOrganization],
        tenant_id: FromPath[str],
        data: JSONBody[OrgMappingIn],
    ) -> Response[SuccessEnvelope[TenantViewOut]]:
        """Replaces the tenant's previous organisation, if any."""
        view = await map_org.execute(actor_of(request, principal), tenant_id, data.clerk_org_id)
        return ok(request, tenant_view_out(view))
