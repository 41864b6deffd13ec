"""Role rules that depend on the database's isolation, on every backend."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from adapters.memory.identity import InMemoryIdentityProvider
from adapters.system.runtime import SystemClock
from admin_core.kernel.principal import PLATFORM_TENANT_ID, Principal
from admin_core.kernel.transaction import Transactions
from admin_core.users.errors import IdentityProviderUnavailable, RoleNotAllowed
from admin_core.users.model import UserContact, UserRole
from admin_core.users.ports import IdentityUser, OrgMembership
from admin_core.users.use_cases import GrantRole, GrantRoleCommand, RevokeRole, RevokeRoleCommand
from tests.support.use_cases import role_changes

SUPER = "org:super_admin"
PLATFORM_ORG = "org_platform"
ACTOR = Principal.operator("tester", request_id="t-1")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def seed_super_admins(uow: Transactions, *user_ids: str) -> None:
    async with uow() as tx:
        for user_id in user_ids:
            await tx.users.upsert(UserContact(id=user_id, email=None, name=None, updated_at=T0))
            await tx.user_roles.add(
                UserRole(
                    tenant_id=PLATFORM_TENANT_ID,
                    user_id=user_id,
                    role=SUPER,
                    granted_by="seed",
                    granted_at=T0,
                )
            )
        await tx.commit()


async def test_concurrent_revokes_of_the_last_two_super_admins_keep_one(
    uow: Transactions,
) -> None:
    await seed_super_admins(uow, "user_a", "user_b")
    revoke = RevokeRole(role_changes(uow, InMemoryIdentityProvider(), clock=SystemClock()))

    async def attempt(user_id: str) -> str:
        try:
            await revoke.execute(
                ACTOR,
                RevokeRoleCommand(tenant_id=PLATFORM_TENANT_ID, user_id=user_id, role=SUPER),
            )
        except RoleNotAllowed:
            return "refused"
        return "revoked"

    assert sorted(await asyncio.gather(attempt("user_a"), attempt("user_b"))) == [
        "refused",
        "revoked",
    ]
    async with uow() as tx:
        assert len(await tx.user_roles.holders(PLATFORM_TENANT_ID, SUPER)) == 1


async def test_concurrent_grants_of_one_role_leave_one_grant(
    uow: Transactions,
) -> None:
    identity = InMemoryIdentityProvider(users=[IdentityUser(id="user_c", email=None, name=None)])
    grant = GrantRole(role_changes(uow, identity, clock=SystemClock()))
    changes = await asyncio.gather(
        grant.execute(
            ACTOR,
            GrantRoleCommand(
                tenant_id=PLATFORM_TENANT_ID, user_id="user_c", role="org:coordinator"
            ),
        ),
        grant.execute(
            ACTOR,
            GrantRoleCommand(
                tenant_id=PLATFORM_TENANT_ID, user_id="user_c", role="org:coordinator"
            ),
        ),
    )
    assert sorted(c.changed for c in changes) == [False, True]
    async with uow() as tx:
        assert await tx.user_roles.roles_of(PLATFORM_TENANT_ID, "user_c") == ("org:coordinator",)


class SlowRefusingProvider(InMemoryIdentityProvider):
    """An identity provider that answers one user's new membership late, then refuses it
    (a 5xx after its retries, or the user deleted meanwhile)."""

    def __init__(self, refused_user: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.refused_user = refused_user
        self.asked = asyncio.Event()
        self.answer = asyncio.Event()

    async def create_membership(self, org_id: str, user_id: str, role: str) -> OrgMembership:
        if user_id == self.refused_user:
            self.asked.set()
            await self.answer.wait()
            raise IdentityProviderUnavailable("The identity provider answered 503.")
        return await super().create_membership(org_id, user_id, role)


async def test_a_super_admin_grant_still_pending_does_not_let_the_last_settled_one_go(
    uow: Transactions,
) -> None:
    """While user_b's grant waits for the provider, user_a is the only super-admin the
    platform surely has: revoking user_a is refused. Counted, the grant let the revoke
    through, the provider then refused it, and the platform was left with none."""
    provider = SlowRefusingProvider(
        "user_b",
        users=[IdentityUser(id=u, email=None, name=None) for u in ("user_a", "user_b")],
        memberships=[
            OrgMembership(org_id=PLATFORM_ORG, user_id="user_a", role=SUPER, email=None, name=None)
        ],
    )
    await seed_super_admins(uow, "user_a")
    changes = role_changes(uow, provider, clock=SystemClock(), platform_org=PLATFORM_ORG)

    async def grant_b() -> str:
        try:
            await GrantRole(changes).execute(
                ACTOR, GrantRoleCommand(tenant_id=PLATFORM_TENANT_ID, user_id="user_b", role=SUPER)
            )
        except IdentityProviderUnavailable:
            return "grant refused by the provider"
        return "granted"

    async def revoke_a_meanwhile() -> str:
        await provider.asked.wait()  # user_b's grant and its intent are committed
        try:
            await RevokeRole(changes).execute(
                ACTOR, RevokeRoleCommand(tenant_id=PLATFORM_TENANT_ID, user_id="user_a", role=SUPER)
            )
        except RoleNotAllowed:
            return "refused"
        finally:
            provider.answer.set()
        return "revoked"

    outcomes = await asyncio.gather(grant_b(), revoke_a_meanwhile())
    assert outcomes == ["grant refused by the provider", "refused"]
    async with uow() as tx:
        assert await tx.user_roles.holders(PLATFORM_TENANT_ID, SUPER) == ("user_a",)
