"""What reconcile reports of the intents it finds pending, on the in-memory adapters and the
role changes' membership effect (ADR 0048): those it cannot settle are reported and left,
and never hide the ones after them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from admin_core.side_effects.model import IntentStatus
from admin_core.side_effects.runner import LEASE
from admin_core.users.errors import IdentityProviderUnavailable
from admin_core.users.use_cases import GrantRoleCommand
from tests.support.remote_identity import RemoteIdentity, remote
from tests.support.use_cases import World, org_of, tenant_caller

APOLLO = "apollo-chennai"
APOLLO_ORG = org_of(APOLLO)
ADMIN = tenant_caller("org:admin", APOLLO, user_id="user_apollo_admin")
HIRES = [f"user_hire_{n}" for n in range(5)]


@pytest.fixture
async def world() -> World:
    w = World(identity=RemoteIdentity())
    await w.add_tenant(APOLLO, name="Apollo Chennai")
    w.add_user("user_apollo_admin", "Kavya Iyer")
    for user_id in HIRES:
        w.add_user(user_id)
    await w.add_role(APOLLO, "user_apollo_admin", "org:admin")
    return w


def grant(user_id: str) -> GrantRoleCommand:
    return GrantRoleCommand(tenant_id=APOLLO, user_id=user_id, role="org:provider:staff")


def statuses(world: World) -> list[IntentStatus]:
    return [i.status for i in world.store.intents.values()]


async def left_by_dying_callers(world: World, user_ids: list[str]) -> list[str]:
    """Grants whose caller died once the provider took the membership: each leaves its
    intent pending, unrecorded; their ids, oldest first."""
    remote(world).die_after_write = True
    for user_id in user_ids:
        with pytest.raises(asyncio.CancelledError):
            await world.grant.execute(ADMIN, grant(user_id))
    remote(world).die_after_write = False
    return list(world.store.intents)


async def test_intents_the_provider_cannot_be_asked_about_are_reported_and_read_past(
    world: World,
) -> None:
    """Five changes left pending, reconciled two at a time while the provider cannot be
    asked: every one is reported unresolved and left pending (none hides the ones after it);
    once it answers, the next pass completes all five, each with its one entry."""
    ids = await left_by_dying_callers(world, HIRES)
    world.clock.advance(LEASE + timedelta(seconds=1))
    changes = world.role_changes
    remote(world).unreachable_reads = True
    report = await changes.side_effects.reconcile(changes.effects, limit=2)
    assert (report.completed, report.abandoned, report.unresolved) == ([], [], ids)
    assert statuses(world) == [IntentStatus.PENDING] * 5
    assert world.audit() == []

    remote(world).unreachable_reads = False
    report = await changes.side_effects.reconcile(changes.effects, limit=2)
    assert (report.completed, report.abandoned, report.unresolved) == (ids, [], [])
    assert statuses(world) == [IntentStatus.DONE] * 5
    assert [e.resource_id for e in world.audit("user_role.assign")] == HIRES


async def test_a_change_the_provider_never_took_is_reported_abandoned_and_undone(
    world: World,
) -> None:
    """The write failed and the provider could not be asked either (the grant stays
    pending); once it answers, reconcile finds the membership absent: the grant is undone,
    reported abandoned, and leaves no entry."""
    identity = remote(world)
    identity.refuse_writes = identity.then_unreachable = True
    with pytest.raises(IdentityProviderUnavailable):
        await world.grant.execute(ADMIN, grant(HIRES[0]))
    identity.refuse_writes = identity.then_unreachable = identity.unreachable_reads = False
    (pending,) = world.store.intents

    world.clock.advance(LEASE + timedelta(seconds=1))
    changes = world.role_changes
    report = await changes.side_effects.reconcile(changes.effects)
    assert (report.completed, report.abandoned, report.unresolved) == ([], [pending], [])
    assert statuses(world) == [IntentStatus.FAILED]
    assert await world.roles(APOLLO, HIRES[0]) == ()
    assert await world.membership(APOLLO_ORG, HIRES[0]) is None
    assert world.audit() == []


async def test_a_change_still_driven_by_its_caller_is_reported_and_left_alone(
    world: World,
) -> None:
    """Reconcile told to take every intent, however young, finds one whose caller's lease
    still runs (its provider write under way): reported unresolved, untouched; the caller
    then finishes it as if reconcile had never looked."""
    identity = remote(world)
    identity.gate = asyncio.Event()
    granting = asyncio.create_task(world.grant.execute(ADMIN, grant(HIRES[0])))
    await asyncio.sleep(0.05)  # committed with its intent; its write waits at the gate
    (pending,) = world.store.intents
    world.clock.advance(timedelta(seconds=1))  # older than `older_than`, leased still
    changes = world.role_changes
    report = await changes.side_effects.reconcile(changes.effects, older_than=timedelta(0))
    assert (report.completed, report.abandoned, report.unresolved) == ([], [], [pending])
    assert statuses(world) == [IntentStatus.PENDING]

    identity.gate.set()
    change = await asyncio.wait_for(granting, 5)
    assert change.org_role == "org:provider:staff"
    assert statuses(world) == [IntentStatus.DONE]
    assert [e.resource_id for e in world.audit("user_role.assign")] == [HIRES[0]]


async def test_an_intent_of_a_kind_no_area_settles_is_reported_and_left_pending(
    world: World,
) -> None:
    """A reconcile run that knows no effect for an intent's kind (an area this process does
    not serve) reports it unresolved and leaves it for one that does."""
    (pending,) = await left_by_dying_callers(world, HIRES[:1])
    world.clock.advance(LEASE + timedelta(seconds=1))
    changes = world.role_changes
    report = await changes.side_effects.reconcile({})
    assert (report.completed, report.abandoned, report.unresolved) == ([], [], [pending])
    assert statuses(world) == [IntentStatus.PENDING]

    report = await changes.side_effects.reconcile(changes.effects)
    assert report.completed == [pending]
