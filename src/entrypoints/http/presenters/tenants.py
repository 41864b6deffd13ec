"""Tenants and providers on the wire (SPEC §6.8)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from admin_core.directory.model import Provider
from admin_core.kernel.paging import OffsetPage
from admin_core.tenants.model import ProviderWithTenant, Tenant, TenantSettings, TenantView
from entrypoints.http.schemas import Out


class TenantSettingsOut(Out, frozen=True):
    payments_provider: str | None
    data_residency_region: str | None
    default_currency: str | None
    timezone: str | None


class TenantOut(Out, frozen=True):
    id: str
    name: str
    status: str
    provider_id: str | None
    settings: TenantSettingsOut
    created_at: datetime
    updated_at: datetime


class TenantListOut(Out, frozen=True):
    tenants: list[TenantOut]
    total: int
    limit: int
    offset: int
    #: Where the next page starts (null on the last page): send it as `cursor`.
    next_cursor: str | None


class TenantViewOut(TenantOut, frozen=True):
    clerk_org_id: str | None


class ProviderOut(Out, frozen=True):
    id: str
    name: str
    country: str | None
    city: str | None
    specialties: list[str]
    languages: list[str]
    accreditations: list[str]
    created_at: datetime
    updated_at: datetime


class ProviderWithTenantOut(Out, frozen=True):
    provider: ProviderOut
    tenant: TenantViewOut


def settings_out(settings: TenantSettings) -> TenantSettingsOut:
    return TenantSettingsOut(
        payments_provider=settings.payments_provider.value if settings.payments_provider else None,
        data_residency_region=settings.data_residency_region,
        default_currency=settings.default_currency,
        timezone=settings.timezone,
    )


def _tenant_fields(tenant: Tenant) -> dict[str, Any]:
    return {
        "id": tenant.id,
        "name": tenant.name,
        "status": tenant.status.value,
        "provider_id": tenant.provider_id,
        "settings": settings_out(tenant.settings),
        "created_at": tenant.created_at,
        "updated_at": tenant.updated_at,
    }


def tenant_out(tenant: Tenant) -> TenantOut:
    return TenantOut(**_tenant_fields(tenant))


def tenant_list_out(page: OffsetPage[Tenant]) -> TenantListOut:
    return TenantListOut(
        tenants=[tenant_out(t) for t in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
        next_cursor=page.next_cursor,
    )


def tenant_view_out(view: TenantView) -> TenantViewOut:
    return TenantViewOut(**_tenant_fields(view.tenant), clerk_org_id=view.clerk_org_id)


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


def provider_with_tenant_out(created: ProviderWithTenant) -> ProviderWithTenantOut:
    return ProviderWithTenantOut(
        provider=provider_out(created.provider), tenant=tenant_view_out(created.tenant)
    )
