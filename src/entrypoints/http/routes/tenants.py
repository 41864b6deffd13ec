"""Tenant and provider routes (SPEC §6.8).

Request bodies reject unknown fields and bound every string and list, so a 10 KB name or a
thousand specialties is a 422 naming the field before any use case runs. The core then
applies the rules themselves (known currency, IANA time zone, id formats).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from litestar import Controller, Request, Response, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter

from admin_core.directory.errors import ProviderNotFound
from admin_core.kernel.paging import MAX_OFFSET, MAX_OFFSET_LIMIT
from admin_core.kernel.principal import Permission, Principal
from admin_core.tenants.errors import TenantAlreadyExists, TenantNotFound
from admin_core.tenants.model import TenantStatus
from admin_core.tenants.rules import check_new_tenant_id
from admin_core.tenants.use_cases import (
    CreateProviderCommand,
    CreateProviderWithTenant,
    CreateTenant,
    CreateTenantCommand,
    ListTenants,
    ListTenantsQuery,
    MapOrganization,
    MapOrganizationCommand,
    NewProvider,
    NewTenant,
    UpdateTenant,
    UpdateTenantCommand,
)
from entrypoints.http.dependencies import use_case
from entrypoints.http.envelope import ok
from entrypoints.http.fields import (
    City,
    Country,
    Currency,
    Language,
    Name,
    OrgId,
    PageCursor,
    ProviderId,
    Region,
    Tags,
    TenantFilter,
    TenantId,
    TenantPath,
    TimeZone,
)
from entrypoints.http.openapi import WRITE, errors
from entrypoints.http.presenters.tenants import (
    ProviderWithTenantOut,
    TenantListOut,
    TenantViewOut,
    provider_with_tenant_out,
    tenant_list_out,
    tenant_view_out,
)
from entrypoints.http.schemas import FieldRule, In, SuccessEnvelope
from entrypoints.http.security import requires

Unset = msgspec.UnsetType
UNSET = msgspec.UNSET


class TenantSettingsIn(In, frozen=True):
    """Only the keys given are changed; a key given as null clears that setting."""

    payments_provider: Literal["stripe", "razorpay"] | Unset | None = UNSET
    data_residency_region: Region | Unset | None = UNSET
    default_currency: Currency | Unset | None = UNSET
    timezone: TimeZone | Unset | None = UNSET

    def changes(self) -> dict[str, str | None]:
        values: dict[str, Any] = {f: getattr(self, f) for f in self.__struct_fields__}
        return {k: v for k, v in values.items() if v is not UNSET}


def settings_changes(settings: TenantSettingsIn | None) -> dict[str, str | None]:
    return settings.changes() if settings is not None else {}


def _tenant_id(field: str) -> FieldRule:
    """The core's rule for a tenant id at `field` (the pattern, and `platform` reserved)."""
    return lambda checks, value: check_new_tenant_id(checks, field, value)


class CreateTenantIn(In, frozen=True):
    field_rules: ClassVar[Mapping[str, FieldRule]] = {"tenant_id": _tenant_id("tenant_id")}

    provider_id: ProviderId
    tenant_id: TenantId | None = None
    name: Name | None = None
    clerk_org_id: OrgId | None = None
    settings: TenantSettingsIn | None = None


class ProviderIn(In, frozen=True):
    """The fields of `NewProvider`, bounded."""

    name: Name
    country: Country | None = None
    city: City | None = None
    specialties: Tags = msgspec.field(default_factory=list)
    languages: Annotated[list[Language], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )
    accreditations: Tags = msgspec.field(default_factory=list)


class NewTenantIn(In, frozen=True):
    field_rules: ClassVar[Mapping[str, FieldRule]] = {"id": _tenant_id("id")}

    id: TenantId | None = None
    name: Name | None = None
    settings: TenantSettingsIn | None = None


class CreateProviderIn(In, frozen=True):
    provider: ProviderIn
    tenant: NewTenantIn = msgspec.field(default_factory=NewTenantIn)
    clerk_org_id: OrgId | None = None


class UpdateTenantIn(In, frozen=True):
    name: Name | None = None
    status: Literal["active", "suspended"] | None = None
    settings: TenantSettingsIn | None = None


class OrgMappingIn(In, frozen=True):
    clerk_org_id: OrgId


def new_tenant(
    tenant_id: str | None, name: str | None, settings: TenantSettingsIn | None
) -> NewTenant:
    return NewTenant(id=tenant_id, name=name, settings=settings_changes(settings))


class TenantController(Controller):
    path = "/api/v1/admin/tenants"
    tags = ["tenants"]  # noqa: RUF012 - Litestar reads it as a plain attribute
    dependencies = {  # noqa: RUF012
        "list_tenants": use_case(lambda c: c.tenants.list_tenants),
        "create_tenant": use_case(lambda c: c.tenants.create_tenant),
        "update_tenant": use_case(lambda c: c.tenants.update_tenant),
        "map_org": use_case(lambda c: c.tenants.map_org),
    }

    @get(
        "/",
        opt=requires(Permission.TENANT_MANAGE),
        summary="List tenants",
        operation_id="listTenants",
        responses=errors(),
    )
    async def list_tenants(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        list_tenants: NamedDependency[ListTenants],
        status: Annotated[TenantStatus | None, QueryParameter()] = None,
        tenant_id: TenantFilter = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_OFFSET_LIMIT)] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)] = 0,
        cursor: PageCursor = None,
    ) -> Response[SuccessEnvelope[TenantListOut]]:
        """Tenants, oldest first, then by id. A tenant-scoped caller sees only its own tenant.
        A page with a next one gives `next_cursor`: sent as `cursor` (same filters, no
        offset), the next page starts right after this one's last tenant, so none is read
        twice or skipped when tenants are created or change status between pages."""
        page = await list_tenants.execute(
            principal,
            ListTenantsQuery(
                tenant_id=tenant_id, status=status, limit=limit, offset=offset, cursor=cursor
            ),
        )
        return ok(
            request,
            tenant_list_out(page),
            total=page.total,
            limit=page.limit,
            offset=page.offset,
            next_cursor=page.next_cursor,
        )

    @post(
        "/",
        opt=requires(Permission.TENANT_MANAGE, platform=True),
        summary="Create the tenant of an existing provider",
        operation_id="createTenant",
        responses=errors(ProviderNotFound, TenantAlreadyExists, base=WRITE),
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
            principal,
            CreateTenantCommand(
                provider_id=data.provider_id,
                tenant=new_tenant(data.tenant_id, data.name, data.settings),
                clerk_org_id=data.clerk_org_id,
            ),
        )
        return ok(request, tenant_view_out(view), status_code=201)

    @patch(
        "/{tenant_id:str}",
        opt=requires(Permission.TENANT_MANAGE),
        summary="Update a tenant's name, status or settings",
        operation_id="updateTenant",
        responses=errors(TenantNotFound, base=WRITE),
    )
    async def update_tenant(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        update_tenant: NamedDependency[UpdateTenant],
        tenant_id: TenantPath,
        data: JSONBody[UpdateTenantIn],
    ) -> Response[SuccessEnvelope[TenantViewOut]]:
        """Settings merge key by key; changing the status needs platform scope."""
        view = await update_tenant.execute(
            principal,
            UpdateTenantCommand(
                tenant_id=tenant_id,
                name=data.name,
                status=TenantStatus(data.status) if data.status else None,
                settings=settings_changes(data.settings),
            ),
        )
        return ok(request, tenant_view_out(view))

    @put(
        "/{tenant_id:str}/org-mapping",
        opt=requires(Permission.TENANT_MANAGE, platform=True),
        summary="Map a Clerk organisation to a tenant",
        operation_id="mapTenantOrganization",
        responses=errors(TenantNotFound, TenantAlreadyExists, base=WRITE),
    )
    async def map_org(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        map_org: NamedDependency[MapOrganization],
        tenant_id: TenantPath,
        data: JSONBody[OrgMappingIn],
    ) -> Response[SuccessEnvelope[TenantViewOut]]:
        """Replaces the tenant's previous organisation, if any."""
        view = await map_org.execute(
            principal, MapOrganizationCommand(tenant_id=tenant_id, clerk_org_id=data.clerk_org_id)
        )
        return ok(request, tenant_view_out(view))


class ProviderController(Controller):
    path = "/api/v1/admin/providers"
    tags = ["tenants"]  # noqa: RUF012
    dependencies = {"create_provider": use_case(lambda c: c.tenants.create_provider)}  # noqa: RUF012

    @post(
        "/",
        opt=requires(Permission.TENANT_MANAGE, platform=True),
        summary="Create a provider and its tenant in one transaction",
        operation_id="createProvider",
        responses=errors(TenantAlreadyExists, base=WRITE),
    )
    async def create_provider(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        create_provider: NamedDependency[CreateProviderWithTenant],
        data: JSONBody[CreateProviderIn],
    ) -> Response[SuccessEnvelope[ProviderWithTenantOut]]:
        """A failure leaves neither provider nor tenant."""
        t = data.tenant
        created = await create_provider.execute(
            principal,
            CreateProviderCommand(
                provider=NewProvider(**msgspec.structs.asdict(data.provider)),
                tenant=new_tenant(t.id, t.name, t.settings),
                clerk_org_id=data.clerk_org_id,
            ),
        )
        return ok(request, provider_with_tenant_out(created), status_code=201)
