"""The tenant and user use cases wired on the in-memory adapters, for tests that call them
directly (no HTTP, no container), and the principals SPEC §5 gives each role.

`SPEC_PERMISSIONS` is the SPEC §5 table written out by hand: the tests take their expected
answers from it, never from `RolePolicy`, and build their principals from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.memory.identity import InMemoryIdentityProvider
from adapters.memory.runtime import FixedClock, SequentialIds
from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryTransactions
from adapters.system.runtime import UlidGenerator
from admin_core.audit.model import AuditEntry
from admin_core.auth.policy import RolePolicy
from admin_core.directory.model import Provider
from admin_core.kernel.principal import PLATFORM_TENANT_ID, OrgKind, Permission, Principal, Scope
from admin_core.kernel.runtime import Clock, IdGenerator
from admin_core.kernel.transaction import Transactions
from admin_core.side_effects.model import IntentStatus
from admin_core.side_effects.runner import PATIENCE_SECONDS, SideEffects
from admin_core.tenants.model import OrgMapping, Tenant, TenantSettings, TenantStatus
from admin_core.tenants.ports import OrgCache
from admin_core.tenants.use_cases import (
    CreateProviderWithTenant,
    CreateTenant,
    ListTenants,
    MapOrganization,
    UpdateTenant,
)
from admin_core.users.model import UserContact, UserRole
from admin_core.users.ports import IdentityProvider, IdentityUser, OrgMembership, UsersTransaction
from admin_core.users.role_changes import RoleChanges
from admin_core.users.use_cases import GrantRole, GrantRoleCommand, ListTenantUsers, RevokeRole

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PLATFORM_ORG = "org_platform"
REQUEST_ID = "req-use-case-test"

_P = Permission
#: SPEC §5, "Default role → permission map", column by column. A "—" or "none" cell is an
#: empty set; `org:super_admin` implies every permission.
SPEC_PERMISSIONS: dict[OrgKind, dict[str, frozenset[Permission]]] = {
    OrgKind.PLATFORM: {
        "org:super_admin": frozenset({_P.SUPER_ADMIN}),
        "org:admin": frozenset({_P.TENANT_MANAGE, _P.GRAPH_REBUILD, _P.AUDIT_READ}),
        "org:coordinator": frozenset({_P.AUDIT_READ}),
        "org:provider:admin": frozenset(),
        "org:provider:staff": frozenset(),
        "org:mso:doctor": frozenset(),
        "org:facilitator": frozenset(),
    },
    OrgKind.TENANT: {
        "org:super_admin": frozenset(),  # ignored in a tenant's organisation
        "org:admin": frozenset({_P.TENANT_MANAGE, _P.AUDIT_READ}),
        "org:coordinator": frozenset(),
        "org:provider:admin": frozenset({_P.TENANT_MANAGE, _P.AUDIT_READ}),
        "org:provider:staff": frozenset(),
        "org:mso:doctor": frozenset(),
        "org:facilitator": frozenset(),
    },
}
SPEC_ROLES: tuple[str, ...] = tuple(SPEC_PERMISSIONS[OrgKind.PLATFORM])
#: Roles that exist only in a platform organisation (SPEC §5: tenant-scoped callers grant only
#: tenant roles; ADR 0031: they mean nothing in a tenant's organisation).
PLATFORM_ONLY_ROLES = frozenset({"org:super_admin", "org:coordinator"})
#: The roles each kind of organisation holds: the platform rows of the table that give
#: something, and in a tenant's organisation every role but the platform-only ones.
ROLES_OF = {
    OrgKind.PLATFORM: frozenset({"org:super_admin", "org:admin", "org:coordinator"}),
    OrgKind.TENANT: frozenset(SPEC_ROLES) - PLATFORM_ONLY_ROLES,
}


def spec_permissions(role: str | None, kind: OrgKind) -> frozenset[Permission]:
    return SPEC_PERMISSIONS[kind].get(role or "", frozenset())


def platform_caller(
    role: str = "org:super_admin", *, user_id: str = "user_platform_caller"
) -> Principal:
    """A member of the platform organisation."""
    return Principal(
        user_id=user_id,
        org_id=PLATFORM_ORG,
        role=role,
        tenant_id=None,
        scope=Scope.PLATFORM,
        permissions=spec_permissions(role, OrgKind.PLATFORM),
        request_id=REQUEST_ID,
    )


def tenant_caller(role: str, tenant_id: str, *, user_id: str = "user_tenant_caller") -> Principal:
    """A member of the organisation mapped to `tenant_id`."""
    return Principal(
        user_id=user_id,
        org_id=org_of(tenant_id),
        role=role,
        tenant_id=tenant_id,
        scope=Scope.TENANT,
        permissions=spec_permissions(role, OrgKind.TENANT),
        request_id=REQUEST_ID,
    )


def caller_without_org(user_id: str = "user_no_org") -> Principal:
    return Principal(
        user_id=user_id,
        org_id=None,
        role=None,
        tenant_id=None,
        scope=Scope.NONE,
        request_id=REQUEST_ID,
    )


def org_of(tenant_id: str) -> str:
    """The organisation the tests map to a tenant."""
    return "org_" + tenant_id.replace("-", "_")


class RecordingOrgCache(OrgCache):
    """The org → tenant cache port, remembering which organisations it was told to forget."""

    def __init__(self) -> None:
        self.forgotten: list[str] = []

    def forget_org(self, org_id: str) -> None:
        self.forgotten.append(org_id)


def role_changes(
    transactions: Transactions[UsersTransaction],
    identity: IdentityProvider,
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    policy: RolePolicy | None = None,
    platform_org: str | None = None,
    patience_seconds: float = PATIENCE_SECONDS,
) -> RoleChanges:
    """What `GrantRole` and `RevokeRole` share, on `transactions` and `identity`."""
    clock = clock or FixedClock(T0)
    side_effects = SideEffects(transactions, clock, ids or UlidGenerator())
    return RoleChanges(
        transactions,
        identity,
        policy or RolePolicy.default(),
        clock,
        side_effects,
        platform_org,
        patience_seconds,
    )


@dataclass
class World:
    """One in-memory system: a store, a fixed clock, sequential ids, an identity provider,
    and every tenant and user use case wired on them."""

    store: InMemoryStore = field(default_factory=InMemoryStore)
    clock: FixedClock = field(default_factory=lambda: FixedClock(T0))
    ids: SequentialIds = field(default_factory=SequentialIds)
    identity: InMemoryIdentityProvider = field(default_factory=InMemoryIdentityProvider)
    org_cache: RecordingOrgCache = field(default_factory=RecordingOrgCache)
    policy: RolePolicy = field(default_factory=RolePolicy.default)
    orgs: set[str] = field(default_factory=lambda: {PLATFORM_ORG})
    #: How long a role change waits for another one of the same membership.
    patience_seconds: float = PATIENCE_SECONDS

    def __post_init__(self) -> None:
        self.transactions = InMemoryTransactions(self.store, self.clock, self.ids)
        platform_orgs = [PLATFORM_ORG]
        tx, clock, ids, cache = self.transactions, self.clock, self.ids, self.org_cache
        self.list_tenants = ListTenants(tx)
        self.create_tenant = CreateTenant(tx, clock, ids, cache, platform_orgs)
        self.create_provider = CreateProviderWithTenant(tx, clock, ids, cache, platform_orgs)
        self.update_tenant = UpdateTenant(tx, clock)
        self.map_org = MapOrganization(tx, clock, cache, platform_orgs)
        self.list_users = ListTenantUsers(tx, self.identity, PLATFORM_ORG)
        self.role_changes = role_changes(
            tx,
            self.identity,
            clock=clock,
            ids=ids,
            policy=self.policy,
            platform_org=PLATFORM_ORG,
            patience_seconds=self.patience_seconds,
        )
        self.grant = GrantRole(self.role_changes)
        self.revoke = RevokeRole(self.role_changes)

    # --- seeding, straight through the adapters (no audit entries) ----------------------------

    async def add_provider(self, provider_id: str, name: str) -> Provider:
        provider = Provider(
            id=provider_id, name=name, country="IN", city=None, created_at=T0, updated_at=T0
        )
        async with self.transactions() as tx:
            await tx.providers.add(provider)
            await tx.commit()
        return provider

    async def add_tenant(
        self,
        tenant_id: str,
        *,
        name: str | None = None,
        org: bool = True,
        status: TenantStatus = TenantStatus.ACTIVE,
        settings: TenantSettings | None = None,
        created_at: datetime = T0,
    ) -> Tenant:
        """A provider and its tenant, mapped to `org_of(tenant_id)` unless `org=False`."""
        provider_id = f"prv_{tenant_id.replace('-', '_')}"
        await self.add_provider(provider_id, name or tenant_id.replace("-", " ").title())
        tenant = Tenant(
            id=tenant_id,
            name=name or tenant_id.replace("-", " ").title(),
            status=status,
            provider_id=provider_id,
            settings=settings or TenantSettings(),
            created_at=created_at,
            updated_at=created_at,
        )
        async with self.transactions() as tx:
            await tx.tenants.add(tenant)
            if org:
                await tx.org_mappings.add(
                    OrgMapping(org_id=org_of(tenant_id), tenant_id=tenant_id, created_at=T0)
                )
            await tx.commit()
        if org:
            self.orgs.add(org_of(tenant_id))
        return tenant

    def add_user(self, user_id: str, name: str | None = None) -> IdentityUser:
        """A user the identity provider knows."""
        user = IdentityUser(
            id=user_id, email=f"{user_id.removeprefix('user_')}@example.test", name=name
        )
        self.identity.add_user(user)
        return user

    async def add_role(self, tenant_id: str, user_id: str, role: str) -> None:
        """A role granted earlier: the local row and, where the tenant has an organisation,
        a membership carrying it."""
        async with self.transactions() as tx:
            await tx.user_roles.add(
                UserRole(
                    tenant_id=tenant_id,
                    user_id=user_id,
                    role=role,
                    granted_by="seed",
                    granted_at=T0,
                )
            )
            await tx.commit()
        org = PLATFORM_ORG if tenant_id == PLATFORM_TENANT_ID else org_of(tenant_id)
        if org in self.orgs:
            await self.add_member(org, user_id, role)

    async def add_member(self, org_id: str, user_id: str, role: str) -> None:
        """A membership made at the identity provider directly (no local role)."""
        self.orgs.add(org_id)
        page = await self.identity.list_memberships(org_id, user_ids=[user_id])
        if page.memberships:
            await self.identity.update_membership(org_id, user_id, role)
        else:
            await self.identity.create_membership(org_id, user_id, role)

    # --- reading back what happened -----------------------------------------------------------

    def audit(self, action: str | None = None) -> list[AuditEntry]:
        return [e for e in self.store.audit_entries if action is None or e.action == action]

    async def tenant(self, tenant_id: str) -> Tenant | None:
        async with self.transactions() as tx:
            return await tx.tenants.get(tenant_id)

    async def provider(self, provider_id: str) -> Provider | None:
        async with self.transactions() as tx:
            return await tx.providers.get(provider_id)

    async def stored_grant(self, tenant_id: str, user_id: str, role: str) -> UserRole | None:
        async with self.transactions() as tx:
            return await tx.user_roles.get(tenant_id, user_id, role)

    async def contact(self, user_id: str) -> UserContact | None:
        async with self.transactions() as tx:
            return (await tx.users.get_many([user_id])).get(user_id)

    async def org_for_tenant(self, tenant_id: str) -> str | None:
        async with self.transactions() as tx:
            mapping = await tx.org_mappings.for_tenant(tenant_id)
        return mapping.org_id if mapping else None

    async def roles(self, tenant_id: str, user_id: str) -> tuple[str, ...]:
        async with self.transactions() as tx:
            return await tx.user_roles.roles_of(tenant_id, user_id)

    async def membership(self, org_id: str, user_id: str) -> str | None:
        """The role of the user's membership of `org_id` (None: not a member)."""
        page = await self.identity.list_memberships(org_id, user_ids=[user_id])
        return page.memberships[0].role if page.memberships else None

    async def members(self, org_id: str) -> list[OrgMembership]:
        return list((await self.identity.list_memberships(org_id, limit=500)).memberships)

    async def state(self) -> tuple[Any, ...]:
        """Everything a use case could write: every table and every known membership."""
        s = self.store
        memberships = {
            org: sorted((m.user_id, m.role) for m in await self.members(org))
            for org in sorted(self.orgs)
        }
        return (
            dict(s.providers),
            dict(s.tenants),
            dict(s.org_mappings),
            list(s.audit_entries),
            dict(s.users),
            dict(s.user_roles),
            memberships,
        )


def fields_of(errors: Iterable[Any]) -> list[str]:
    """The offending fields of a `ValidationFailed`, sorted."""
    return sorted(e.field for e in errors)


# --- one new user's role changes ----------------------------------------------------------------

#: The tenant the role change tests work in (it has an organisation), and its admin.
APOLLO = "apollo-chennai"
APOLLO_ORG = org_of(APOLLO)
APOLLO_ADMIN = tenant_caller("org:admin", APOLLO, user_id="user_apollo_admin")
#: The user whose roles they change, granted nothing yet.
HIRE = "user_new_hire"


async def hiring_world(
    identity: InMemoryIdentityProvider, *, patience_seconds: float = PATIENCE_SECONDS
) -> World:
    """Apollo Chennai with its admin, and the new hire, on `identity`."""
    world = World(identity=identity, patience_seconds=patience_seconds)
    await world.add_tenant(APOLLO, name="Apollo Chennai")
    world.add_user(APOLLO_ADMIN.user_id, "Kavya Iyer")
    world.add_user(HIRE, "Sam Carter")
    await world.add_role(APOLLO, APOLLO_ADMIN.user_id, "org:admin")
    return world


def hire_grant(role: str) -> GrantRoleCommand:
    """A grant of `role` to the new hire at Apollo Chennai."""
    return GrantRoleCommand(tenant_id=APOLLO, user_id=HIRE, role=role)


def intent_statuses(world: World) -> list[IntentStatus]:
    """The status of every intent the world's changes made, oldest first."""
    return [intent.status for intent in world.store.intents.values()]
