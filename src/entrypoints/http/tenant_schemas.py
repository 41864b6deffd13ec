"""Wire format of the tenant, provider and user-role routes (SPEC §6.8–6.9).

Request bodies reject unknown fields and bound every string and list, so a 10 KB name or a
thousand specialties is a 422 naming the field before any use case runs. The core then applies
the rules themselves (known currency, IANA time zone, id formats).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from entrypoints.http.schemas import In, Out, TenantOut

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
TenantId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
OrgId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Tags = Annotated[list[Tag], msgspec.Meta(max_length=50)]
Language = Annotated[str, msgspec.Meta(min_length=2, max_length=2)]
Unset = msgspec.UnsetType
UNSET = msgspec.UNSET


class TenantSettingsIn(In, frozen=True):
    """Only the keys given are changed; a key given as null clears that setting."""

    payments_provider: Literal["stripe", "razorpay"] | Unset | None = UNSET
    data_residency_region: Annotated[str, msgspec.Meta(max_length=32)] | Unset | None = UNSET
    default_currency: Annotated[str, msgspec.Meta(max_length=3)] | Unset | None = UNSET
    timezone: Annotated[str, msgspec.Meta(max_length=64)] | Unset | None = UNSET

    def changes(self) -> dict[str, str | None]:
        values: dict[str, Any] = {f: getattr(self, f) for f in self.__struct_fields__}
        return {k: v for k, v in values.items() if v is not UNSET}


def settings_changes(settings: TenantSettingsIn | None) -> dict[str, str | None]:
    return settings.changes() if settings is not None else {}


class CreateTenantIn(In, frozen=True):
    provider_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    tenant_id: TenantId | None = None
    name: Name | None = None
    clerk_org_id: OrgId | None = None
    settings: TenantSettingsIn | None = None


class ProviderIn(In, frozen=True):
    name: Name
    country: Annotated[str, msgspec.Meta(min_length=2, max_length=2)] | None = None
    city: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None
    specialties: Tags = msgspec.field(default_factory=list)
    languages: Annotated[list[Language], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )
    accreditations: Tags = msgspec.field(default_factory=list)


class NewTenantIn(In, frozen=True):
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


class RoleIn(In, frozen=True):
    role: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


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


class TenantUserOut(Out, frozen=True):
    user_id: str
    email: str | None
    name: str | None
    roles: list[str]
    org_role: str | None
    source: str


class TenantUsersOut(Out, frozen=True):
    tenant_id: str
    users: list[TenantUserOut]
    total: int


class RoleChangeOut(Out, frozen=True):
    tenant_id: str
    user_id: str
    role: str
    changed: bool
    roles: list[str]
    org_role: str | None
