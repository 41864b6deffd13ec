"""What callers ask for when they create or change tenants and providers, and what they get
back. Strings arrive as given; the use cases validate them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from admin_core.domain.providers import Provider
from admin_core.domain.tenants import Tenant, TenantStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantDraft:
    """A tenant to create. A missing id is derived from the name; a missing name is the
    provider's. `settings` holds only the keys given."""

    id: str | None = None
    name: str | None = None
    settings: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderDraft:
    name: str | None
    country: str | None = None
    city: str | None = None
    specialties: Sequence[str] = ()
    languages: Sequence[str] = ()
    accreditations: Sequence[str] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantChanges:
    """A partial update: None leaves a field as it is; `settings` merges key by key (a key
    given as None clears that setting)."""

    name: str | None = None
    status: TenantStatus | None = None
    settings: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantView:
    """A tenant with the Clerk organisation mapped to it, if any."""

    tenant: Tenant
    clerk_org_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderWithTenant:
    provider: Provider
    tenant: TenantView
