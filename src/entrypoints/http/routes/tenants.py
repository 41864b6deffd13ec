"""Tenant routes (SPEC §6.8)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from admin_core.auth import Permission, Principal
from admin_core.domain.tenants import Tenant, TenantQuery, TenantStatus
from admin_core.usecases.tenants import ListTenants
from entrypoints.http.envelope import ok
from entrypoints.http.schemas import SuccessEnvelope, TenantListOut, TenantOut, TenantSettingsOut
from entrypoints.http.security import requires


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
