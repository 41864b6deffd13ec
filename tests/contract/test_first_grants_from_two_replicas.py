"""Role changes of one user that meet on the database from two replicas, on every backend."""

from __future__ import annotations

import asyncio

from adapters.memory.identity import InMemoryIdentityProvider
from adapters.system.runtime import SystemClock
from admin_core.kernel.principal import PLATFORM_TENANT_ID, Principal
from admin_core.kernel.transaction import Transactions
from admin_core.users.ports import IdentityUser
from admin_core.users.use_cases import GrantRole, GrantRoleCommand
from tests.support.use_cases import role_changes

PLATFORM_ORG = "org_platform"
ACTOR = Principal.operator("tester", request_id="t-1")
USERS = [f"user_new_{n}" for n in range(8)]


async def test_first_grants_of_one_user_on_two_replicas_at_once_both_land(
    uow: Transactions,
) -> None:
    """Two replicas (nothing shared but the database) each grant a user nobody granted
    anything yet a different platform role at the same moment: neither is refused nor lost;
    the user ends with both roles and the membership carries the stronger."""
    identity = InMemoryIdentityProvider(
        users=[IdentityUser(id=user_id, email=None, name=None) for user_id in USERS]
    )
    replicas = [
        GrantRole(role_changes(uow, identity, clock=SystemClock(), platform_org=PLATFORM_ORG))
        for _ in range(2)
    ]

    async def grant(replica: GrantRole, user_id: str, role: str) -> None:
        await replica.execute(
            ACTOR, GrantRoleCommand(tenant_id=PLATFORM_TENANT_ID, user_id=user_id, role=role)
        )

    await asyncio.wait_for(
        asyncio.gather(
            *(grant(replicas[0], user_id, "org:coordinator") for user_id in USERS),
            *(grant(replicas[1], user_id, "org:super_admin") for user_id in USERS),
        ),
        60,
    )
    async with uow() as tx:
        for user_id in USERS:
            roles = await tx.user_roles.roles_of(PLATFORM_TENANT_ID, user_id)
            assert roles == ("org:coordinator", "org:super_admin")
    for user_id in USERS:
        page = await identity.list_memberships(PLATFORM_ORG, user_ids=[user_id])
        assert [m.role for m in page.memberships] == ["org:super_admin"]
