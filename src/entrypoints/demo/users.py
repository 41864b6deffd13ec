"""Demo users and their roles: the platform's operators and a few hospital staff.

The same list seeds the local role table (`seed_demo_users`) and the in-memory identity
provider of the embedded mode (`demo_identity`), so the two agree on first start.
"""

from __future__ import annotations

from dataclasses import dataclass

from admin_core.kernel.principal import PLATFORM_TENANT_ID
from admin_core.kernel.runtime import Clock
from admin_core.kernel.transaction import Transaction
from admin_core.users.model import UserContact, UserRole
from admin_core.users.ports import IdentityUser, OrgMembership

SEEDED_BY = "demo:seed"


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoUser:
    id: str
    email: str
    name: str
    grants: tuple[tuple[str, str], ...] = ()  # (tenant id or "platform", role)


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser(
        id="user_platform_owner",
        email="owner@admin-core.example",
        name="Priya Raman",
        grants=((PLATFORM_TENANT_ID, "org:super_admin"),),
    ),
    DemoUser(
        id="user_local_admin",
        email="admin@admin-core.example",
        name="Local Admin",
        grants=((PLATFORM_TENANT_ID, "org:admin"),),
    ),
    DemoUser(
        id="user_platform_coordinator",
        email="coordinator@admin-core.example",
        name="Tomás Ortega",
        grants=((PLATFORM_TENANT_ID, "org:coordinator"),),
    ),
    DemoUser(
        id="user_apollo_admin",
        email="it-admin@apollo.example",
        name="Kavya Iyer",
        grants=(("apollo-chennai", "org:admin"),),
    ),
    DemoUser(
        id="user_apollo_staff",
        email="intl-desk@apollo.example",
        name="Arjun Menon",
        grants=(("apollo-chennai", "org:provider:staff"),),
    ),
    DemoUser(
        id="user_bumrungrad_admin",
        email="admin@bumrungrad.example",
        name="Somchai Wongsa",
        grants=(("bumrungrad-bangkok", "org:provider:admin"),),
    ),
    DemoUser(
        id="user_acibadem_doctor",
        email="dr.yilmaz@acibadem.example",
        name="Dr. Elif Yılmaz",
        grants=(("acibadem-istanbul", "org:mso:doctor"),),
    ),
    DemoUser(id="user_new_hire", email="sam.carter@admin-core.example", name="Sam Carter"),
)


def demo_identity(
    platform_org: str | None,
) -> tuple[list[IdentityUser], list[OrgMembership]]:
    """Users and organisation memberships for the in-memory identity provider."""
    from entrypoints.demo.seed import DEMO_TENANTS

    orgs: dict[str, str | None] = {t.tenant_id: t.org_id for t in DEMO_TENANTS}
    orgs[PLATFORM_TENANT_ID] = platform_org
    users = [IdentityUser(id=u.id, email=u.email, name=u.name) for u in DEMO_USERS]
    memberships = [
        OrgMembership(org_id=org_id, user_id=u.id, role=role, email=u.email, name=u.name)
        for u in DEMO_USERS
        for tenant_id, role in u.grants
        if (org_id := orgs.get(tenant_id))
    ]
    return users, memberships


async def seed_demo_users(uow: Transaction, clock: Clock) -> int:
    """Add the demo users' roles inside the caller's transaction. Idempotent: returns how many
    roles were new."""
    now = clock.now()
    added = 0
    for user in DEMO_USERS:
        if not user.grants:
            continue
        await uow.users.upsert(
            UserContact(id=user.id, email=user.email, name=user.name, updated_at=now)
        )
        for tenant_id, role in user.grants:
            grant = UserRole(
                tenant_id=tenant_id,
                user_id=user.id,
                role=role,
                granted_by=SEEDED_BY,
                granted_at=now,
            )
            added += await uow.user_roles.add(grant)
    return added
