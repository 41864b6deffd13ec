"""A back office that embeds Admin Core: tenants, roles, flags and the audit log.

It onboards a hospital (provider and tenant), makes one of its staff the tenant's admin,
turns a feature off for the tenant, then reads and verifies the tenant's audit chain. It
composes the adapters itself, as `embedded_service.py` does, for the use cases of four areas;
the role grant and the flag change reach an external provider (here the in-memory identity
provider and flag store) as side effects, which `ReconcileSideEffects` finishes after a crash.

Run with the repository's virtualenv: `.venv/bin/python examples/back_office.py`.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass

from adapters.config_files import PROJECT_CONFIG
from adapters.config_files.flags import load_flag_catalogue
from adapters.memory.flags import InMemoryFeatureFlags
from adapters.memory.identity import InMemoryIdentityProvider
from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryTransaction, InMemoryTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.audit.use_cases import (
    AuditQuery,
    QueryAuditLog,
    VerifyAuditChain,
    VerifyAuditChainQuery,
)
from admin_core.auth.policy import RolePolicy
from admin_core.flags.tenant_flags import TenantFlags
from admin_core.flags.use_cases import OverrideFlag, OverrideFlagCommand
from admin_core.kernel.errors import AdminError
from admin_core.kernel.principal import Principal
from admin_core.kernel.runtime import IdGenerator
from admin_core.side_effects.runner import SideEffects
from admin_core.side_effects.use_cases import ReconcileCommand, ReconcileSideEffects
from admin_core.tenants.known import KnownTenants
from admin_core.tenants.ports import OrgCache
from admin_core.tenants.use_cases import (
    CreateProviderCommand,
    CreateProviderWithTenant,
    NewProvider,
    NewTenant,
)
from admin_core.users.ports import IdentityUser
from admin_core.users.role_changes import RoleChanges
from admin_core.users.use_cases import GrantRole, GrantRoleCommand

#: The flag catalogue: which flags exist and the values they allow (this project's own).
CATALOGUE = PROJECT_CONFIG / "flags.yaml"
#: The organisation whose members act on every tenant; it never belongs to a tenant.
PLATFORM_ORG = "org_platform"


class NoOrgCache(OrgCache):
    """The tenant use cases tell `Authenticate` when an organisation's tenant changes, so that
    it forgets what it cached. This service authenticates nobody: there is nothing to forget."""

    def forget_org(self, org_id: str) -> None:
        return None


@dataclass(frozen=True, slots=True)
class BackOffice:
    """The use cases this service calls, wired once at start-up."""

    ids: IdGenerator
    create_provider: CreateProviderWithTenant
    grant_role: GrantRole
    override_flag: OverrideFlag
    query_audit_log: QueryAuditLog
    verify_audit_chain: VerifyAuditChain
    reconcile: ReconcileSideEffects[InMemoryTransaction]


def compose(staff: list[IdentityUser]) -> BackOffice:
    """The service's composition root. One store, one transactions object and one side-effect
    runner serve every area."""
    clock, ids = SystemClock(), UlidGenerator()
    transactions = InMemoryTransactions(InMemoryStore(), clock, ids)
    side_effects = SideEffects(transactions, clock, ids)
    tenants = KnownTenants(transactions)  # TENANT_NOT_FOUND for a tenant that does not exist
    roles = RoleChanges(
        transactions,
        InMemoryIdentityProvider(staff),  # Clerk's Backend API in production
        RolePolicy.default(),  # which permissions each role holds
        clock,
        side_effects,
        platform_org=PLATFORM_ORG,
    )
    flags = TenantFlags(
        load_flag_catalogue(CATALOGUE),
        InMemoryFeatureFlags({}),  # the environment's values; the catalogue's defaults else
        tenants,
        side_effects,
    )
    return BackOffice(
        ids=ids,
        create_provider=CreateProviderWithTenant(
            transactions, clock, ids, NoOrgCache(), platform_orgs=(PLATFORM_ORG,)
        ),
        grant_role=GrantRole(roles),
        override_flag=OverrideFlag(flags),
        query_audit_log=QueryAuditLog(transactions, tenants=tenants),
        verify_audit_chain=VerifyAuditChain(transactions, tenants=tenants),
        reconcile=ReconcileSideEffects(side_effects, {**roles.effects, **flags.effects}),
    )


async def run() -> None:
    office = compose([IdentityUser(id="usr_meena", email="meena@example.org", name="Meena")])
    admin = Principal.operator("back-office", request_id=office.ids.new_id("req"))

    made = await office.create_provider.execute(
        admin,
        CreateProviderCommand(
            provider=NewProvider(name="Apollo Hospitals Chennai", country="IN", city="Chennai"),
            tenant=NewTenant(id="apollo-chennai"),
            clerk_org_id="org_apollo",
        ),
    )
    tenant_id = made.tenant.tenant.id
    print(f"tenant: {tenant_id} of {made.provider.id}, organisation {made.tenant.clerk_org_id}")

    grant = GrantRoleCommand(tenant_id=tenant_id, user_id="usr_meena", role="org:admin")
    change = await office.grant_role.execute(admin, grant)
    print(f"role: {change.user_id} holds {', '.join(change.roles)} (membership {change.org_role})")

    override = await office.override_flag.execute(
        admin,
        OverrideFlagCommand(
            tenant_id=tenant_id, flag="enable_mso_booking", value=False, reason="Pilot ended"
        ),
    )
    print(f"flag: {override.flag} {override.previous_value} -> {override.value}")

    page = await office.query_audit_log.execute(admin, AuditQuery(tenant_id=tenant_id))
    print(f"audit: {', '.join(entry.action for entry in reversed(page.entries))}")
    chain = await office.verify_audit_chain.execute(
        admin, VerifyAuditChainQuery(tenant_id=tenant_id)
    )
    print(f"chain {chain.chain}: ok={chain.ok}, entries={chain.entries_checked}")

    report = await office.reconcile.execute(admin, ReconcileCommand())
    print(f"reconcile: {len(report.completed)} completed, {len(report.unresolved)} unresolved")

    try:  # a tenant that does not exist is named as such
        await office.query_audit_log.execute(admin, AuditQuery(tenant_id="no-such-tenant"))
    except AdminError as error:
        print(f"refused: {error.code}")


def main() -> int:
    try:
        asyncio.run(run())
    except AdminError as error:  # every error the core raises on purpose
        print(f"error: {error.code}: {error.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
