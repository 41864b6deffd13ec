"""A role grant cancelled at any of its awaits, on every database (ADR 0058,
docs/adr/0064-cancellation.md): the next change of the user's membership goes ahead at once
— even when the cancellation landed in the round trip of the commit that records the grant
beside its intent (PostgreSQL), which may or may not have gone through — and leaves the
local roles and the provider's membership agreeing, with nothing pending."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from adapters.memory.identity import InMemoryIdentityProvider
from adapters.system.runtime import SystemClock
from admin_core.kernel.principal import Principal
from admin_core.kernel.transaction import Transactions
from admin_core.side_effects.runner import LEASE
from admin_core.tenants.model import OrgMapping
from admin_core.users.ports import IdentityUser
from admin_core.users.use_cases import GrantRole, GrantRoleCommand, RevokeRole, RevokeRoleCommand
from tests.support.cancelling import at_every_suspension
from tests.support.flags import add_tenants
from tests.support.use_cases import role_changes

TENANT, ORG, USER, ROLE = "apollo", "org_apollo", "user_new_hire", "org:admin"
#: How long the next change waits for the cancelled one: far less than a lease.
PATIENCE_S = 2.0


async def test_a_role_grant_cancelled_at_any_point_leaves_the_next_change_free(
    uow: Transactions,
) -> None:
    identity = InMemoryIdentityProvider([IdentityUser(id=USER, email=None, name="Sam")])
    await add_tenants(uow, TENANT)
    async with uow() as tx:
        await tx.org_mappings.add(
            OrgMapping(org_id=ORG, tenant_id=TENANT, created_at=datetime(2026, 1, 1, tzinfo=UTC))
        )
        await tx.commit()
    changes = role_changes(
        uow, identity, clock=SystemClock(), platform_org="org_platform", patience_seconds=PATIENCE_S
    )
    operator = Principal.operator("ops", request_id="req-cancel")
    grant = GrantRoleCommand(tenant_id=TENANT, user_id=USER, role=ROLE)
    revoke = RevokeRoleCommand(tenant_id=TENANT, user_id=USER, role=ROLE)

    async def granting() -> None:
        await GrantRole(changes).execute(operator, grant)

    async def check(k: int) -> None:
        await asyncio.wait_for(RevokeRole(changes).execute(operator, revoke), 10)
        async with uow() as tx:
            roles = await tx.user_roles.roles_of(TENANT, USER)
            left = await tx.intents.pending(created_before=datetime.now(UTC) + LEASE, limit=10)
        assert roles == (), k
        assert (await identity.list_memberships(ORG)).memberships == [], k
        assert list(left) == [], k

    assert await at_every_suspension(granting, check) >= 0
