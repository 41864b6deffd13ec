"""Tenants (a hospital or clinic on the marketplace) and their settings."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from admin_core.directory.model import Provider


class TenantStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class PaymentsProvider(enum.StrEnum):
    STRIPE = "stripe"
    RAZORPAY = "razorpay"


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantSettings:
    payments_provider: PaymentsProvider | None = None
    data_residency_region: str | None = None
    default_currency: str | None = None
    timezone: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Tenant:
    id: str
    name: str
    status: TenantStatus
    provider_id: str | None
    settings: TenantSettings = field(default_factory=TenantSettings)
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class OrgMapping:
    """A Clerk organisation that belongs to a tenant."""

    org_id: str
    tenant_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantView:
    """A tenant with the Clerk organisation mapped to it, if any. `changed` is False when the
    update or mapping that answered it had nothing to change: nothing was written."""

    tenant: Tenant
    clerk_org_id: str | None
    changed: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderWithTenant:
    provider: Provider
    tenant: TenantView
