"""The ways a role change with a membership ends other than by setting it (ADR 0058), on the
in-memory adapters: kept waiting past its patience by another change of the same membership,
or out-lived by its own lease. Each answers 503 and leaves the user's roles, the membership
and the audit log as the other change has them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from adapters.memory.identity import InMemoryIdentityProvider
from admin_core.side_effects.model import IntentStatus
from admin_core.side_effects.runner import LEASE
from admin_core.users.errors import IdentityProviderUnavailable
from admin_core.users.model import RoleChange
from admin_core.users.ports import OrgMembership
from admin_core.users.use_cases import GrantRole
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
    role_changes,
)

PATIENCE = 0.3


class GatedIdentity(InMemoryIdentityProvider):
    """The in-memory identity provider whose membership creations wait for `gate` (open
    until a test closes it)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()

    async def create_membership(self, org_id: str, user_id: str, role: str) -> OrgMembership:
        await self.gate.wait()
        return await super().create_membership(org_id, user_id, role)


@pytest.fixture
async def world() -> World:
    return await hiring_world(GatedIdentity(), patience_seconds=PATIENCE)


def gate(world: World) -> asyncio.Event:
    assert isinstance(world.identity, GatedIdentity)
    return world.identity.gate


async def _first_change_waiting_at_the_provider(world: World) -> asyncio.Task[RoleChange]:
    gate(world).clear()
    first = asyncio.create_task(world.grant.execute(APOLLO_ADMIN, hire_grant("org:provider:staff")))
    await asyncio.sleep(0.05)  # its intent committed, its membership write waiting
    assert intent_statuses(world) == [IntentStatus.PENDING]
    return first


async def test_a_replica_kept_waiting_past_its_patience_answers_busy_and_changes_nothing(
    world: World,
) -> None:
    """Another replica's change of the membership is still at the provider (its lease runs)
    for longer than the patience: this one answers 503 naming the user, with its own grant
    not kept and no entry of its own; the other's then lands as it would have."""
    first = await _first_change_waiting_at_the_provider(world)
    other = GrantRole(
        role_changes(
            world.transactions,
            world.identity,
            clock=world.clock,
            platform_org=PLATFORM_ORG,
            patience_seconds=PATIENCE,
        )
    )
    with pytest.raises(IdentityProviderUnavailable) as refused:
        await asyncio.wait_for(other.execute(APOLLO_ADMIN, hire_grant("org:admin")), 5)
    assert "still waiting for the identity provider" in refused.value.message
    assert refused.value.details == {"tenant_id": APOLLO, "user_id": HIRE}
    assert await world.roles(APOLLO, HIRE) == ("org:provider:staff",)
    assert intent_statuses(world) == [IntentStatus.PENDING]

    gate(world).set()
    await asyncio.wait_for(first, 5)
    assert await world.membership(APOLLO_ORG, HIRE) == "org:provider:staff"
    assert [e.after["granted"] for e in world.audit() if e.after] == ["org:provider:staff"]


async def test_a_change_queued_in_this_process_past_its_patience_answers_busy(
    world: World,
) -> None:
    """The same on one replica, where the second change waits in the process's own queue
    for the membership: past the patience it answers 503 naming the user, writing nothing."""
    first = await _first_change_waiting_at_the_provider(world)
    with pytest.raises(IdentityProviderUnavailable) as refused:
        await asyncio.wait_for(world.grant.execute(APOLLO_ADMIN, hire_grant("org:admin")), 5)
    assert refused.value.details == {"tenant_id": APOLLO, "user_id": HIRE}
    assert await world.roles(APOLLO, HIRE) == ("org:provider:staff",)
    assert intent_statuses(world) == [IntentStatus.PENDING]

    gate(world).set()
    change = await asyncio.wait_for(first, 5)
    assert change.org_role == "org:provider:staff"
    assert [e.after["granted"] for e in world.audit() if e.after] == ["org:provider:staff"]


async def test_a_change_settled_by_another_caller_after_its_lease_answers_unavailable(
    world: World,
) -> None:
    """The provider takes longer than the change's lease, and another caller settles the
    change meanwhile (the provider held nothing yet: not applied, the grant undone). When
    the provider then answers, the late caller does not record its own outcome over that
    one: it answers 503 naming its intent, and the grant stays undone, with no entry."""
    first = await _first_change_waiting_at_the_provider(world)
    (intent_id,) = world.store.intents
    world.clock.advance(LEASE + timedelta(seconds=1))
    changes = world.role_changes
    settled = await changes.side_effects.reconcile(changes.effects)
    assert settled.abandoned == [intent_id]
    assert await world.roles(APOLLO, HIRE) == ()

    gate(world).set()
    with pytest.raises(IdentityProviderUnavailable) as late:
        await asyncio.wait_for(first, 5)
    assert "longer than this change's lease" in late.value.message
    assert late.value.details == {"intent_id": intent_id}
    assert await world.roles(APOLLO, HIRE) == ()
    assert intent_statuses(world) == [IntentStatus.FAILED]
    assert world.audit("user_role.assign") == []
