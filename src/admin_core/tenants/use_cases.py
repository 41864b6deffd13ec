"""Tenant and provider use cases (SPEC §6.8). Each takes the acting principal and one
command defined beside it; strings arrive as given and are validated here."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from admin_core.audit.recording import audit_record
from admin_core.directory.errors import ProviderNotFound
from admin_core.directory.model import Provider
from admin_core.kernel.errors import InsufficientPermission
from admin_core.kernel.paging import OffsetPage
from admin_core.kernel.principal import Permission, Principal
from admin_core.kernel.runtime import Clock, IdGenerator
from admin_core.kernel.transaction import Transactions
from admin_core.kernel.validation import FieldChecks
from admin_core.tenants.errors import TenantAlreadyExists, TenantNotFound
from admin_core.tenants.model import (
    OrgMapping,
    ProviderWithTenant,
    Tenant,
    TenantSettings,
    TenantStatus,
    TenantView,
)
from admin_core.tenants.ports import OrgCache, TenantsTransaction
from admin_core.tenants.rules import (
    CITY_MAX,
    LIST_MAX,
    TAG_MAX,
    check_country,
    check_languages,
    check_name,
    check_new_tenant_id,
    check_org_id,
    merge_settings,
    settings_view,
    slug,
)

#: Setting changes: a key present sets its value (None clears it); a key absent keeps it.
SettingChanges = Mapping[str, str | None]


@dataclass(frozen=True, slots=True, kw_only=True)
class ListTenantsQuery:
    tenant_id: str | None = None
    status: TenantStatus | None = None
    limit: int = 50
    offset: int = 0
    #: Where the page starts: the `next_cursor` of the page before (instead of `offset`).
    cursor: str | None = None


class ListTenants:
    """List tenants, oldest first (then by id).

    Rules: needs `tenant:manage`; a tenant-scoped caller sees only its own tenant, and naming
    another tenant is refused (403). Suspended tenants are listed too. A page that has a
    next one gives its `next_cursor`: read with it (same filters, no offset), the next page
    starts right after this page's last tenant, so tenants created, suspended or reactivated
    meanwhile shift nothing.
    """

    def __init__(self, transactions: Transactions[TenantsTransaction]) -> None:
        self._transactions = transactions

    async def execute(self, principal: Principal, query: ListTenantsQuery) -> OffsetPage[Tenant]:
        checks = FieldChecks()
        checks.page(query.limit, query.offset)
        scope = ("tenants", query.tenant_id, query.status and query.status.value)
        window = checks.window(
            query.cursor, query.limit, query.offset, scope=scope, shape=(datetime, str)
        )
        checks.done()
        tenant_id = principal.visible_tenant(query.tenant_id, Permission.TENANT_MANAGE)
        async with self._transactions() as tx:
            found = await tx.tenants.list(
                tenant_id=tenant_id,
                status=query.status,
                limit=window.reads,
                offset=window.offset,
                after=cast(tuple[datetime, str] | None, window.after),
            )
        return window.page(found, key=lambda t: (t.created_at, t.id))


def tenant_snapshot(tenant: Tenant, clerk_org_id: str | None) -> dict[str, Any]:
    """A tenant as it appears in audit before/after: identifiers and settings only."""
    return {
        "id": tenant.id,
        "name": tenant.name,
        "status": tenant.status.value,
        "provider_id": tenant.provider_id,
        "clerk_org_id": clerk_org_id,
        "settings": settings_view(tenant.settings),
    }


def _new_tenant_id(ids: IdGenerator, *names: str | None) -> str:
    for name in names:
        if name and (candidate := slug(name)):
            return candidate
    return ids.new_id("tnt").lower().replace("_", "-")


async def _add_tenant(
    tx: TenantsTransaction, principal: Principal, tenant: Tenant, org_id: str | None
) -> None:
    """Add a new tenant, map its organisation, and audit `tenant.create`."""
    await tx.tenants.add(tenant)
    if org_id is not None:
        await _map_org(tx, org_id, tenant.id, tenant.created_at)
    await tx.audit.append(
        audit_record(
            principal,
            action="tenant.create",
            event_type="ADMIN_TENANT_CREATE",
            resource_type="tenant",
            resource_id=tenant.id,
            tenant_id=tenant.id,
            after=tenant_snapshot(tenant, org_id),
        )
    )


async def _map_org(
    tx: TenantsTransaction, org_id: str, tenant_id: str, now: datetime
) -> str | None:
    """Point `org_id` at `tenant_id`. Returns the organisation the tenant had before. An
    organisation belongs to at most one tenant (409 when it is another's)."""
    owner = await tx.org_mappings.tenant_for_org(org_id)
    current = await tx.org_mappings.for_tenant(tenant_id)
    previous = current.org_id if current else None
    if owner == tenant_id:
        return previous
    if owner is not None:
        raise TenantAlreadyExists(
            f"Organisation {org_id} already belongs to tenant {owner}.",
            field="clerk_org_id",
            details={"clerk_org_id": org_id, "tenant_id": owner},
        )
    if current is not None:
        await tx.org_mappings.remove(current.org_id)
    await tx.org_mappings.add(OrgMapping(org_id=org_id, tenant_id=tenant_id, created_at=now))
    return previous


class _OrgRules:
    def __init__(self, platform_orgs: Collection[str]) -> None:
        self.platform_orgs = frozenset(platform_orgs)

    def check(self, checks: FieldChecks, field: str, value: str | None) -> str | None:
        org_id = check_org_id(checks, field, value)
        if org_id is not None and org_id in self.platform_orgs:
            checks.fail(field, "is a platform organisation; it cannot belong to a tenant")
            return None
        return org_id


@dataclass(frozen=True, slots=True, kw_only=True)
class NewTenant:
    """A tenant to create. A missing id is derived from the name; a missing name is the
    provider's. `settings` holds only the keys given."""

    id: str | None = None
    name: str | None = None
    settings: SettingChanges = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateTenantCommand:
    provider_id: str
    tenant: NewTenant = field(default_factory=NewTenant)
    clerk_org_id: str | None = None


class CreateTenant:
    """Create the tenant of an existing provider (the legacy two-step path).

    Rules: platform scope with `tenant:manage`; the provider must exist (404
    PROVIDER_NOT_FOUND); a provider has at most one tenant and tenant ids are unique (409
    TENANT_ALREADY_EXISTS, also when two requests race); the id defaults to a slug of the name,
    the name to the provider's; settings are validated; an optional Clerk organisation is
    mapped in the same transaction (not a platform organisation, not another tenant's). Audit
    `tenant.create`.
    """

    def __init__(
        self,
        transactions: Transactions[TenantsTransaction],
        clock: Clock,
        ids: IdGenerator,
        org_cache: OrgCache,
        platform_orgs: Collection[str],
    ) -> None:
        self._transactions = transactions
        self._clock = clock
        self._ids = ids
        self._org_cache = org_cache
        self._orgs = _OrgRules(platform_orgs)

    async def execute(self, principal: Principal, command: CreateTenantCommand) -> TenantView:
        principal.require(Permission.TENANT_MANAGE, platform=True)
        tenant, clerk_org_id = command.tenant, command.clerk_org_id
        checks = FieldChecks()
        provider_id = checks.text("provider_id", command.provider_id, max_length=128) or ""
        tenant_id = (
            check_new_tenant_id(checks, "tenant_id", tenant.id) if tenant.id is not None else None
        )
        name = check_name(checks, "name", tenant.name, required=False)
        org_id = self._orgs.check(checks, "clerk_org_id", clerk_org_id)
        settings = merge_settings(checks, TenantSettings(), tenant.settings)
        checks.done()
        async with self._transactions() as tx:
            provider = await tx.providers.get(provider_id)
            if provider is None:
                raise ProviderNotFound(details={"provider_id": provider_id})
            existing = await tx.tenants.get_by_provider(provider_id)
            if existing is not None:
                raise TenantAlreadyExists(
                    "The provider already has a tenant.",
                    details={"provider_id": provider_id, "tenant_id": existing.id},
                )
            now = self._clock.now()
            created = Tenant(
                id=tenant_id or _new_tenant_id(self._ids, name, provider.name),
                name=name or provider.name,
                status=TenantStatus.ACTIVE,
                provider_id=provider_id,
                settings=settings,
                created_at=now,
                updated_at=now,
            )
            await _add_tenant(tx, principal, created, org_id)
            await tx.commit()
        if org_id is not None:
            self._org_cache.forget_org(org_id)
        return TenantView(tenant=created, clerk_org_id=org_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class NewProvider:
    name: str | None
    country: str | None = None
    city: str | None = None
    specialties: Sequence[str] = ()
    languages: Sequence[str] = ()
    accreditations: Sequence[str] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateProviderCommand:
    provider: NewProvider
    tenant: NewTenant = field(default_factory=NewTenant)
    clerk_org_id: str | None = None


class CreateProviderWithTenant:
    """Create a provider and its tenant in one transaction (the preferred path).

    Rules: platform scope with `tenant:manage`; the provider's name is required, country is
    ISO 3166-1 alpha-2, languages ISO 639-1, at most 50 specialties/accreditations; the tenant
    follows the rules of `CreateTenant`. Any failure — validation, a taken tenant id or
    organisation, a database error after the provider row was written — leaves neither
    provider nor tenant. Audit `provider.create` and `tenant.create`, in the same transaction.
    """

    def __init__(
        self,
        transactions: Transactions[TenantsTransaction],
        clock: Clock,
        ids: IdGenerator,
        org_cache: OrgCache,
        platform_orgs: Collection[str],
    ) -> None:
        self._transactions = transactions
        self._clock = clock
        self._ids = ids
        self._org_cache = org_cache
        self._orgs = _OrgRules(platform_orgs)

    async def execute(
        self, principal: Principal, command: CreateProviderCommand
    ) -> ProviderWithTenant:
        principal.require(Permission.TENANT_MANAGE, platform=True)
        provider, tenant, clerk_org_id = command.provider, command.tenant, command.clerk_org_id
        checks = FieldChecks()
        name = check_name(checks, "provider.name", provider.name, required=True)
        country = check_country(checks, "provider.country", provider.country)
        city = checks.text("provider.city", provider.city, max_length=CITY_MAX, required=False)
        specialties = checks.texts(
            "provider.specialties", provider.specialties, max_items=LIST_MAX, max_length=TAG_MAX
        )
        languages = check_languages(checks, "provider.languages", list(provider.languages))
        accreditations = checks.texts(
            "provider.accreditations",
            provider.accreditations,
            max_items=LIST_MAX,
            max_length=TAG_MAX,
        )
        tenant_id = (
            check_new_tenant_id(checks, "tenant.id", tenant.id) if tenant.id is not None else None
        )
        tenant_name = check_name(checks, "tenant.name", tenant.name, required=False)
        settings = merge_settings(
            checks, TenantSettings(), tenant.settings, field="tenant.settings"
        )
        org_id = self._orgs.check(checks, "clerk_org_id", clerk_org_id)
        checks.done()
        assert name is not None  # required, checked above
        now = self._clock.now()
        created_provider = Provider(
            id=self._ids.new_id("prv"),
            name=name,
            country=country,
            city=city,
            specialties=specialties,
            languages=languages,
            accreditations=tuple(sorted(accreditations)),
            created_at=now,
            updated_at=now,
        )
        created_tenant = Tenant(
            id=tenant_id or _new_tenant_id(self._ids, tenant_name, name),
            name=tenant_name or name,
            status=TenantStatus.ACTIVE,
            provider_id=created_provider.id,
            settings=settings,
            created_at=now,
            updated_at=now,
        )
        async with self._transactions() as tx:
            await tx.providers.add(created_provider)
            await tx.audit.append(
                audit_record(
                    principal,
                    action="provider.create",
                    event_type="ADMIN_PROVIDER_CREATE",
                    resource_type="provider",
                    resource_id=created_provider.id,
                    tenant_id=created_tenant.id,
                    after=provider_snapshot(created_provider),
                )
            )
            await _add_tenant(tx, principal, created_tenant, org_id)
            await tx.commit()
        if org_id is not None:
            self._org_cache.forget_org(org_id)
        return ProviderWithTenant(
            provider=created_provider,
            tenant=TenantView(tenant=created_tenant, clerk_org_id=org_id),
        )


def provider_snapshot(provider: Provider) -> dict[str, Any]:
    return {
        "id": provider.id,
        "name": provider.name,
        "country": provider.country,
        "city": provider.city,
        "specialties": list(provider.specialties),
        "languages": list(provider.languages),
        "accreditations": list(provider.accreditations),
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateTenantCommand:
    """A partial update: None leaves a field as it is; `settings` merges key by key (a key
    given as None clears that setting)."""

    tenant_id: str
    name: str | None = None
    status: TenantStatus | None = None
    settings: SettingChanges = field(default_factory=dict)


class UpdateTenant:
    """Change a tenant's name, status or settings.

    Rules: `tenant:manage` reaching the tenant (a tenant-scoped caller only its own); changing
    the status (active ⇄ suspended) needs platform scope, so a suspended tenant cannot
    reactivate itself; suspended tenants can be read and updated; settings merge key by key
    and are validated (`payments_provider` stripe|razorpay|null, `data_residency_region`,
    `default_currency` ISO 4217, `timezone` IANA); a request that changes nothing writes
    nothing. Audit `tenant.update` with before/after.
    """

    def __init__(self, transactions: Transactions[TenantsTransaction], clock: Clock) -> None:
        self._transactions = transactions
        self._clock = clock

    async def execute(self, principal: Principal, changes: UpdateTenantCommand) -> TenantView:
        tenant_id = changes.tenant_id
        principal.require(Permission.TENANT_MANAGE, tenant_id=tenant_id)
        if changes.status is not None and not principal.can(
            Permission.TENANT_MANAGE, platform=True
        ):
            raise InsufficientPermission(
                "Only platform operators can change a tenant's status.",
                details={"permission": Permission.TENANT_MANAGE.value, "field": "status"},
            )
        checks = FieldChecks()
        name = check_name(checks, "name", changes.name, required=False)
        # Every value is checked before the tenant is read, so all bad fields are named at once.
        merge_settings(checks, TenantSettings(), changes.settings)
        checks.done()
        async with self._transactions() as tx:
            tenant = await tx.tenants.get(tenant_id, lock=True)
            if tenant is None:
                raise TenantNotFound(details={"tenant_id": tenant_id})
            settings = merge_settings(checks, tenant.settings, changes.settings)
            mapping = await tx.org_mappings.for_tenant(tenant_id)
            org_id = mapping.org_id if mapping else None
            changed = replace(
                tenant,
                name=name or tenant.name,
                status=changes.status or tenant.status,
                settings=settings,
            )
            if changed == tenant:
                return TenantView(tenant=tenant, clerk_org_id=org_id, changed=False)
            changed = replace(changed, updated_at=self._clock.now())
            await tx.tenants.update(changed)
            await tx.audit.append(
                audit_record(
                    principal,
                    action="tenant.update",
                    event_type="ADMIN_TENANT_UPDATE",
                    resource_type="tenant",
                    resource_id=tenant_id,
                    tenant_id=tenant_id,
                    before=tenant_snapshot(tenant, org_id),
                    after=tenant_snapshot(changed, org_id),
                )
            )
            await tx.commit()
        return TenantView(tenant=changed, clerk_org_id=org_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class MapOrganizationCommand:
    tenant_id: str
    clerk_org_id: str


class MapOrganization:
    """Point a Clerk organisation at a tenant, so its members reach that tenant.

    Rules: platform scope with `tenant:manage`; the tenant must exist (404); the organisation
    must not be a platform organisation (422) nor belong to another tenant (409); a tenant has
    one organisation, so mapping a new one replaces the old; mapping the same one again is a
    no-op. This replica's org → tenant cache forgets both organisations at once; other
    replicas within their cache TTL. Audit `tenant.map_org` with before/after.
    """

    def __init__(
        self,
        transactions: Transactions[TenantsTransaction],
        clock: Clock,
        org_cache: OrgCache,
        platform_orgs: Collection[str],
    ) -> None:
        self._transactions = transactions
        self._clock = clock
        self._org_cache = org_cache
        self._orgs = _OrgRules(platform_orgs)

    async def execute(self, principal: Principal, command: MapOrganizationCommand) -> TenantView:
        tenant_id, clerk_org_id = command.tenant_id, command.clerk_org_id
        principal.require(Permission.TENANT_MANAGE, tenant_id=tenant_id, platform=True)
        checks = FieldChecks()
        org_id = self._orgs.check(checks, "clerk_org_id", clerk_org_id)
        if org_id is None and not checks.errors:
            checks.fail("clerk_org_id", "is required")
        checks.done()
        assert org_id is not None
        async with self._transactions() as tx:
            # Locked: a mapping sent twice at once is one mapping and one no-op, and a role
            # change in flight commits for the organisation it planned for or plans again.
            tenant = await tx.tenants.get(tenant_id, lock=True)
            if tenant is None:
                raise TenantNotFound(details={"tenant_id": tenant_id})
            previous = await _map_org(tx, org_id, tenant_id, self._clock.now())
            if previous == org_id:
                return TenantView(tenant=tenant, clerk_org_id=org_id, changed=False)
            await tx.audit.append(
                audit_record(
                    principal,
                    action="tenant.map_org",
                    event_type="ADMIN_TENANT_ORG_MAP",
                    resource_type="tenant",
                    resource_id=tenant_id,
                    tenant_id=tenant_id,
                    before={"clerk_org_id": previous},
                    after={"clerk_org_id": org_id},
                )
            )
            await tx.commit()
        self._org_cache.forget_org(org_id)
        if previous is not None:
            self._org_cache.forget_org(previous)
        return TenantView(tenant=tenant, clerk_org_id=org_id)
