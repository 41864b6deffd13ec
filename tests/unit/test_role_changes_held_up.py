"""Role changes and user listings where the identity provider or another replica gets in the
way, on the in-memory adapters: what the caller is told, and that a refused change writes
nothing (ADR 0058)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from adapters.memory.identity import InMemoryIdentityProvider
from admin_core.side_effects.model import IntentStatus
from admin_core.side_effects.runner import LEASE
from admin_core.tenants.use_cases import MapOrganizationCommand
from admin_core.users.errors import IdentityProviderUnavailable
from admin_core.users.use_cases import (
    GrantRole,
    ListTenantUsersQuery,
)
from tests.support.remote_identity import RemoteIdentity, remote
from tests.support.use_cases import (
    APOLLO,
    APOLLO_ADMIN,
    APOLLO_ORG,
    HIRE,
    PLATFORM_ORG,
    World,
    hire_grant,
    hiring_world,
    intent_statuses,
    platform_caller,
    role_changes,
)


@pytest.fixture
async def world() -> World:
    return await hiring_world(RemoteIdentity())


async def test_a_change_kept_waiting_by_another_replica_past_its_patience_writes_nothing(
    world: World,
) -> None:
    """Another replica's change of the membership is still with the provider (its lease
    runs): a change on this replica waits for it no longer than its patience, then answers
    503 saying so, and leaves neither a role nor an entry; the other change ends as it
    would have."""
    identity = remote(world)
    identity.gate = asyncio.Event()
    impatient = GrantRole(
        role_changes(
            world.transactions,
            identity,
            clock=world.clock,
            platform_org=PLATFORM_ORG,
            patience_seconds=0.2,
        )
    )
    first = asyncio.create_task(world.grant.execute(APOLLO_ADMIN, hire_grant("org:provider:staff")))
    await asyncio.sleep(0.05)  # the first holds the membership's intent, its write waiting
    with pytest.raises(IdentityProviderUnavailable, match="still waiting") as refused:
        await asyncio.wait_for(impatient.execute(APOLLO_ADMIN, hire_grant("org:admin")), 5)
    assert refused.value.details == {"tenant_id": APOLLO, "user_id": HIRE}
    assert await world.roles(APOLLO, HIRE) == ("org:provider:staff",)  # the first's only

    identity.gate.set()
    change = await asyncio.wait_for(first, 5)
    assert change.roles == ("org:provider:staff",)
    assert await world.roles(APOLLO, HIRE) == ("org:provider:staff",)
    assert await world.membership(APOLLO_ORG, HIRE) == "org:provider:staff"
    assert [e.after["granted"] for e in world.audit() if e.after] == ["org:provider:staff"]
    assert intent_statuses(world) == [IntentStatus.DONE]


async def test_an_earlier_change_the_provider_cannot_confirm_keeps_the_next_one_out(
    world: World,
) -> None:
    """A grant's caller died once its write had landed, and the provider cannot be asked
    what it holds: the next change of the membership cannot tell what it would build on, so
    it answers 503 naming the earlier change and writes nothing; once the provider answers,
    the next change settles the earlier one first and then makes its own."""
    identity = remote(world)
    identity.die_after_write = True
    with pytest.raises(asyncio.CancelledError):
        await world.grant.execute(APOLLO_ADMIN, hire_grant("org:provider:staff"))
    identity.die_after_write = False
    (pending,) = world.store.intents.values()
    assert pending.status is IntentStatus.PENDING

    world.clock.advance(LEASE + timedelta(seconds=1))  # its caller is gone
    identity.unreachable_reads = True
    with pytest.raises(IdentityProviderUnavailable, match="cannot be confirmed") as refused:
        await world.grant.execute(APOLLO_ADMIN, hire_grant("org:admin"))
    assert refused.value.details == {"intent_id": pending.id}
    assert await world.roles(APOLLO, HIRE) == ("org:provider:staff",)
    assert world.audit() == []
    assert intent_statuses(world) == [IntentStatus.PENDING]

    identity.unreachable_reads = False
    change = await world.grant.execute(APOLLO_ADMIN, hire_grant("org:admin"))
    assert change.roles == ("org:admin", "org:provider:staff")
    assert await world.membership(APOLLO_ORG, HIRE) == "org:admin"
    assert [e.after["granted"] for e in world.audit() if e.after] == [
        "org:provider:staff",
        "org:admin",
    ]
    assert intent_statuses(world) == [IntentStatus.DONE, IntentStatus.DONE]


async def test_a_membership_removed_at_the_provider_meanwhile_is_made_again(
    world: World,
) -> None:
    """The grant read the membership, then someone removed it at the provider before the
    grant's write: the grant creates it with the role it computed, rather than failing."""
    await world.add_role(APOLLO, HIRE, "org:provider:staff")
    identity = remote(world)
    identity.gate = asyncio.Event()
    granting = asyncio.create_task(world.grant.execute(APOLLO_ADMIN, hire_grant("org:admin")))
    await asyncio.sleep(0.05)  # read as org:provider:staff; its update waits at the gate
    await InMemoryIdentityProvider.delete_membership(identity, APOLLO_ORG, HIRE)
    identity.gate.set()
    change = await asyncio.wait_for(granting, 5)
    assert change.org_role == "org:admin"
    assert await world.membership(APOLLO_ORG, HIRE) == "org:admin"
    assert await world.roles(APOLLO, HIRE) == ("org:admin", "org:provider:staff")
    assert [e.after["granted"] for e in world.audit() if e.after] == ["org:admin"]
    assert intent_statuses(world) == [IntentStatus.DONE]


async def test_listing_the_users_of_a_tenant_whose_organisation_the_provider_deleted(
    world: World,
) -> None:
    """The tenant is mapped to an organisation the provider no longer has: its user list
    answers 503 naming the organisation (the tenant must be mapped to another), not an
    empty list and not a crash."""
    remote(world).deleted_orgs.add(APOLLO_ORG)
    with pytest.raises(IdentityProviderUnavailable) as refused:
        await world.list_users.execute(APOLLO_ADMIN, ListTenantUsersQuery(tenant_id=APOLLO))
    assert refused.value.details == {"clerk_org_id": APOLLO_ORG}
    assert APOLLO_ORG in refused.value.message


async def test_a_grant_queued_while_the_tenant_is_mapped_to_another_organisation_lands_there(
    world: World,
) -> None:
    """A grant waits behind another change of the user's membership in the tenant's
    organisation; meanwhile the tenant is mapped to a new organisation. The waiting grant
    plans again for the new one: the role is granted and the membership made there, with
    the strongest of the user's roles, while the earlier change ends in the old one."""
    identity = remote(world)
    identity.gate = asyncio.Event()
    first = asyncio.create_task(world.grant.execute(APOLLO_ADMIN, hire_grant("org:provider:staff")))
    await asyncio.sleep(0.05)  # committed for the old organisation; its write waits
    second = asyncio.create_task(world.grant.execute(APOLLO_ADMIN, hire_grant("org:admin")))
    await asyncio.sleep(0.05)  # queued behind the first
    await world.map_org.execute(
        platform_caller(), MapOrganizationCommand(tenant_id=APOLLO, clerk_org_id="org_apollo_new")
    )
    identity.gate.set()
    changes = await asyncio.wait_for(asyncio.gather(first, second), 5)
    assert [c.org_role for c in changes] == ["org:provider:staff", "org:admin"]
    assert await world.roles(APOLLO, HIRE) == ("org:admin", "org:provider:staff")
    assert await world.membership(APOLLO_ORG, HIRE) == "org:provider:staff"
    assert await world.membership("org_apollo_new", HIRE) == "org:admin"
    assert [e.after["granted"] for e in world.audit() if e.after and "granted" in e.after] == [
        "org:provider:staff",
        "org:admin",
    ]
    assert intent_statuses(world) == [IntentStatus.DONE, IntentStatus.DONE]


async def test_a_change_queued_on_this_replica_past_its_patience_writes_nothing() -> None:
    """Changes of one membership on one replica run one after the other; one kept in that
    queue longer than its patience (the one ahead waits on the provider) answers 503 saying
    so, and leaves neither a role nor an entry; the one ahead ends as it would have."""
    w = await hiring_world(RemoteIdentity(), patience_seconds=0.2)
    identity = remote(w)
    identity.gate = asyncio.Event()
    first = asyncio.create_task(w.grant.execute(APOLLO_ADMIN, hire_grant("org:provider:staff")))
    await asyncio.sleep(0.05)
    with pytest.raises(IdentityProviderUnavailable, match="still waiting"):
        await asyncio.wait_for(w.grant.execute(APOLLO_ADMIN, hire_grant("org:admin")), 5)
    identity.gate.set()
    change = await asyncio.wait_for(first, 5)
    assert change.roles == ("org:provider:staff",)
    assert await w.roles(APOLLO, HIRE) == ("org:provider:staff",)
    assert await w.membership(APOLLO_ORG, HIRE) == "org:provider:staff"
    assert [e.after["granted"] for e in w.audit() if e.after] == ["org:provider:staff"]
    assert intent_statuses(w) == [IntentStatus.DONE]
