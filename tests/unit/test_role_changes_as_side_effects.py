"""Role changes whose membership write fails, or whose caller dies, part way (ADR 0058), on
the in-memory adapters: the local role, the membership and the audit log end agreeing — the
change is there with one entry, or it is not there and has none."""

from __future__ import annotations

import asyncio
import enum
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from admin_core.kernel.principal import PLATFORM_TENANT_ID
from admin_core.side_effects.model import IntentStatus
from admin_core.side_effects.runner import LEASE
from admin_core.users.errors import IdentityProviderUnavailable, RoleNotAllowed
from admin_core.users.use_cases import GrantRole, GrantRoleCommand, RevokeRoleCommand
from tests.support.remote_identity import RemoteIdentity, remote
from tests.support.use_cases import (
    APOLLO,
    APOLLO_ADMIN,
    APOLLO_ORG,
    HIRE,
    PLATFORM_ORG,
    T0,
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


def revoke(role: str) -> RevokeRoleCommand:
    return RevokeRoleCommand(tenant_id=APOLLO, user_id=HIRE, role=role)


async def test_a_grant_the_provider_refused_is_undone_and_not_audited(world: World) -> None:
    remote(world).refuse_writes = True
    with pytest.raises(IdentityProviderUnavailable):
        await world.grant.execute(APOLLO_ADMIN, hire_grant("org:provider:staff"))
    assert await world.roles(APOLLO, HIRE) == ()
    assert await world.membership(APOLLO_ORG, HIRE) is None
    assert world.audit() == []
    assert intent_statuses(world) == [IntentStatus.FAILED]


async def test_a_revoke_the_provider_refused_puts_the_grant_back_as_it_was(world: World) -> None:
    await world.grant.execute(APOLLO_ADMIN, hire_grant("org:provider:staff"))
    granted = world.store.user_roles[(APOLLO, HIRE, "org:provider:staff")]
    world.clock.advance(timedelta(hours=1))
    remote(world).refuse_writes = True
    with pytest.raises(IdentityProviderUnavailable):
        await world.revoke.execute(APOLLO_ADMIN, revoke("org:provider:staff"))
    assert world.store.user_roles[(APOLLO, HIRE, "org:provider:staff")] == granted
    assert await world.membership(APOLLO_ORG, HIRE) == "org:provider:staff"
    assert [e.action for e in world.audit()] == ["user_role.assign"]


async def test_a_write_whose_answer_was_lost_stands_and_is_audited_once(world: World) -> None:
    remote(world).lose_answers = True
    change = await world.grant.execute(APOLLO_ADMIN, hire_grant("org:provider:staff"))
    assert change.changed
    assert await world.roles(APOLLO, HIRE) == ("org:provider:staff",)
    assert await world.membership(APOLLO_ORG, HIRE) == "org:provider:staff"
    assert [e.action for e in world.audit()] == ["user_role.assign"]
    assert intent_statuses(world) == [IntentStatus.DONE]


async def test_a_change_whose_caller_died_is_finished_by_the_next_change(world: World) -> None:
    """The first request dies after the write landed: its grant and intent are committed,
    unrecorded. Once its lease has run out, the next change of the membership finishes it
    (its entry first), then makes its own."""
    remote(world).die_after_write = True
    with pytest.raises(asyncio.CancelledError):
        await world.grant.execute(APOLLO_ADMIN, hire_grant("org:provider:staff"))
    remote(world).die_after_write = False
    assert world.audit() == []
    assert intent_statuses(world) == [IntentStatus.PENDING]

    world.clock.advance(LEASE + timedelta(seconds=1))
    change = await world.grant.execute(APOLLO_ADMIN, hire_grant("org:admin"))
    assert change.org_role == "org:admin"
    assert await world.roles(APOLLO, HIRE) == ("org:admin", "org:provider:staff")
    assert await world.membership(APOLLO_ORG, HIRE) == "org:admin"
    assert [e.after["granted"] for e in world.audit() if e.after] == [
        "org:provider:staff",
        "org:admin",
    ]
    assert intent_statuses(world) == [IntentStatus.DONE, IntentStatus.DONE]


async def test_reconcile_leaves_a_change_alone_while_it_may_still_be_running(world: World) -> None:
    """A change younger than half a minute belongs to a request still under way: reconcile
    neither touches nor reports it; once the caller's lease has run out, reconcile finishes it
    (its one entry written)."""
    remote(world).die_after_write = True
    with pytest.raises(asyncio.CancelledError):
        await world.grant.execute(APOLLO_ADMIN, hire_grant("org:provider:staff"))
    remote(world).die_after_write = False
    changes = world.role_changes

    world.clock.advance(timedelta(seconds=10))
    early = await changes.side_effects.reconcile(changes.effects)
    assert (early.completed, early.abandoned, early.unresolved) == ([], [], [])
    assert intent_statuses(world) == [IntentStatus.PENDING]

    world.clock.advance(LEASE)
    late = await changes.side_effects.reconcile(changes.effects)
    assert (len(late.completed), late.abandoned, late.unresolved) == (1, [], [])
    assert [e.after["granted"] for e in world.audit() if e.after] == ["org:provider:staff"]
    assert intent_statuses(world) == [IntentStatus.DONE]


async def test_a_change_the_provider_cannot_confirm_is_settled_once_it_answers(
    world: World,
) -> None:
    """The write fails and the provider cannot be asked either: the grant stays pending and
    the caller gets 503. The next change, once the provider answers, settles it first (it
    never landed: undone, no entry)."""
    identity = remote(world)
    identity.refuse_writes = identity.then_unreachable = True
    with pytest.raises(IdentityProviderUnavailable):
        await world.grant.execute(APOLLO_ADMIN, hire_grant("org:provider:staff"))
    assert intent_statuses(world) == [IntentStatus.PENDING]
    identity.refuse_writes = identity.then_unreachable = identity.unreachable_reads = False

    change = await world.grant.execute(APOLLO_ADMIN, hire_grant("org:admin"))
    assert change.roles == ("org:admin",)
    assert await world.roles(APOLLO, HIRE) == ("org:admin",)
    assert await world.membership(APOLLO_ORG, HIRE) == "org:admin"
    assert [e.after["granted"] for e in world.audit() if e.after] == ["org:admin"]
    assert intent_statuses(world) == [IntentStatus.FAILED, IntentStatus.DONE]


async def test_a_replica_waits_for_another_replicas_change_of_the_same_membership(
    world: World,
) -> None:
    """Two replicas (nothing shared but the database) change one membership at once: the
    second waits until the first's write is recorded, so the provider ends with the role
    the last change computed from both."""
    identity = remote(world)
    identity.gate = asyncio.Event()
    other = GrantRole(
        role_changes(world.transactions, identity, clock=world.clock, platform_org=PLATFORM_ORG)
    )
    first = asyncio.create_task(world.grant.execute(APOLLO_ADMIN, hire_grant("org:provider:staff")))
    await asyncio.sleep(0.05)  # the first holds the membership's intent, its write waiting
    second = asyncio.create_task(other.execute(APOLLO_ADMIN, hire_grant("org:admin")))
    await asyncio.sleep(0.2)
    assert not second.done()  # waiting for the first
    identity.gate.set()
    changes = await asyncio.gather(first, second)
    assert [c.org_role for c in changes] == ["org:provider:staff", "org:admin"]
    assert await world.membership(APOLLO_ORG, HIRE) == "org:admin"
    assert [e.after["granted"] for e in world.audit() if e.after] == [
        "org:provider:staff",
        "org:admin",
    ]
    assert intent_statuses(world) == [IntentStatus.DONE, IntentStatus.DONE]
    assert world.clock.now() == T0


async def test_two_changes_of_one_membership_on_one_replica_run_one_after_the_other(
    world: World,
) -> None:
    """The second waits for the first to finish, then computes its own from the first's
    outcome; then a third change of the membership is not kept waiting."""
    identity = remote(world)
    identity.gate = asyncio.Event()
    first = asyncio.create_task(world.grant.execute(APOLLO_ADMIN, hire_grant("org:provider:staff")))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(world.grant.execute(APOLLO_ADMIN, hire_grant("org:admin")))
    await asyncio.sleep(0.2)
    assert not second.done()
    identity.gate.set()
    changes = await asyncio.wait_for(asyncio.gather(first, second), 5)
    assert [c.org_role for c in changes] == ["org:provider:staff", "org:admin"]
    third = await asyncio.wait_for(world.revoke.execute(APOLLO_ADMIN, revoke("org:admin")), 2)
    assert third.roles == ("org:provider:staff",)
    assert await world.membership(APOLLO_ORG, HIRE) == "org:provider:staff"
    assert intent_statuses(world) == [IntentStatus.DONE] * 3


# --------------------------------------------------------------------------- state machine

ROLES = ["org:admin", "org:provider:admin", "org:provider:staff", "org:mso:doctor"]
#: The strongest first, as the membership carries it (ADR 0031).
STRONGEST_FIRST = ROLES


class Fault(enum.Enum):
    REFUSE = "refuse"  # the write fails and does not land
    LOSE_ANSWER = "lose_answer"  # the write lands, its answer is lost
    DIE = "die"  # the caller dies once the write has landed
    REFUSE_THEN_UNREACHABLE = "refuse_then_unreachable"  # ... and then cannot be asked


class RoleChangeMachine(RuleBasedStateMachine):
    """Random interleavings of grants and revokes of one user's roles with provider
    failures, dying callers, time passing and reconcile. Whenever no change is pending:
    the membership carries the strongest local role (none: no membership), the audit
    entries replay to the local roles, and there is one entry per change the provider
    took."""

    @initialize()
    def start(self) -> None:
        async def build() -> World:
            w = World(identity=RemoteIdentity(), patience_seconds=0.1)
            await w.add_tenant(APOLLO, name="Apollo Chennai")
            w.add_user(HIRE, "Sam Carter")
            return w

        self.world = asyncio.run(build())

    def _change(self, use_case: Any, command: Any) -> None:
        identity = remote(self.world)
        try:
            asyncio.run(use_case.execute(APOLLO_ADMIN, command))
        except (IdentityProviderUnavailable, asyncio.CancelledError):
            pass
        finally:  # a fault is for one call
            identity.refuse_writes = identity.then_unreachable = False
            identity.lose_answers = identity.die_after_write = False

    @rule(role=st.sampled_from(ROLES))
    def grant(self, role: str) -> None:
        self._change(self.world.grant, hire_grant(role))

    @rule(role=st.sampled_from(ROLES))
    def revoke(self, role: str) -> None:
        self._change(self.world.revoke, revoke(role))

    @rule(fault=st.sampled_from(list(Fault)))
    def provider_fault_next(self, fault: Fault) -> None:
        identity = remote(self.world)
        identity.refuse_writes = fault in (Fault.REFUSE, Fault.REFUSE_THEN_UNREACHABLE)
        identity.then_unreachable = fault is Fault.REFUSE_THEN_UNREACHABLE
        identity.lose_answers = fault is Fault.LOSE_ANSWER
        identity.die_after_write = fault is Fault.DIE

    @rule()
    def provider_answers_again(self) -> None:
        remote(self.world).unreachable_reads = False

    @rule()
    def time_passes(self) -> None:
        self.world.clock.advance(LEASE + timedelta(seconds=1))

    @rule()
    def reconcile(self) -> None:
        changes = self.world.role_changes
        asyncio.run(changes.side_effects.reconcile(changes.effects, older_than=timedelta(0)))

    @precondition(lambda self: hasattr(self, "world"))
    @invariant()
    def one_entry_per_change_the_provider_took(self) -> None:
        done = [i for i in self.world.store.intents.values() if i.status is IntentStatus.DONE]
        assert len(self.world.audit()) == len(done)

    @precondition(
        lambda self: (
            hasattr(self, "world") and IntentStatus.PENDING not in intent_statuses(self.world)
        )
    )
    @invariant()
    def settled_changes_agree_everywhere(self) -> None:
        local = {r for (t, u, r) in self.world.store.user_roles if (t, u) == (APOLLO, HIRE)}
        members = asyncio.run(self.world.identity.list_memberships(APOLLO_ORG, user_ids=[HIRE]))
        held = members.memberships[0].role if members.memberships else None
        assert held == next((r for r in STRONGEST_FIRST if r in local), None)
        replayed: set[str] = set()
        for entry in self.world.audit():
            assert entry.after is not None
            if entry.action == "user_role.assign":
                replayed.add(entry.after["granted"])
            else:
                replayed.discard(entry.after["revoked"])
        assert replayed == local


TestRoleChangeMachine = RoleChangeMachine.TestCase
TestRoleChangeMachine.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)


async def test_a_super_admin_grant_still_pending_does_not_count_beside_the_last_one(
    world: World,
) -> None:
    """The provider may yet refuse a pending grant, which is then undone: while it is pending,
    the one settled super-admin stays the last and cannot be revoked."""
    owner = platform_caller("org:super_admin", user_id="user_owner")
    world.add_user("user_owner", "Olivia Owner")
    await world.add_role(PLATFORM_TENANT_ID, "user_owner", "org:super_admin")
    identity = remote(world)
    identity.refuse_writes = identity.then_unreachable = True
    with pytest.raises(IdentityProviderUnavailable):
        await world.grant.execute(
            owner,
            GrantRoleCommand(tenant_id=PLATFORM_TENANT_ID, user_id=HIRE, role="org:super_admin"),
        )
    assert intent_statuses(world) == [IntentStatus.PENDING]
    identity.refuse_writes = identity.then_unreachable = identity.unreachable_reads = False

    with pytest.raises(RoleNotAllowed):
        await world.revoke.execute(
            owner,
            RevokeRoleCommand(
                tenant_id=PLATFORM_TENANT_ID, user_id="user_owner", role="org:super_admin"
            ),
        )
    assert await world.roles(PLATFORM_TENANT_ID, "user_owner") == ("org:super_admin",)
    assert await world.membership(PLATFORM_ORG, "user_owner") == "org:super_admin"
