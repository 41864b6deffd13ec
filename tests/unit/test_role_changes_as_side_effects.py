"""Role changes whose membership write fails, or whose caller dies, part way (ADR 0058), on
the in-memory adapters: the local role, the membership and the audit log end agreeing — the
change is there with one entry, or it is not there and has none."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import timedelta

import pytest

from adapters.memory.identity import InMemoryIdentityProvider
from admin_core.side_effects.model import IntentStatus
from admin_core.side_effects.runner import LEASE
from admin_core.users.errors import IdentityProviderUnavailable
from admin_core.users.ports import MembershipPage, OrgMembership
from admin_core.users.use_cases import GrantRole, GrantRoleCommand, RevokeRoleCommand
from tests.support.use_cases import PLATFORM_ORG, T0, World, org_of, role_changes, tenant_caller

APOLLO = "apollo-chennai"
APOLLO_ORG = org_of(APOLLO)
ADMIN = tenant_caller("org:admin", APOLLO, user_id="user_apollo_admin")
HIRE = "user_new_hire"


class Flaky(InMemoryIdentityProvider):
    """The in-memory identity provider with the failures of a remote one."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse_writes = False  # writes fail and do not land
        self.then_unreachable = False  # ... and after a refusal, reads fail too
        self.lose_answers = False  # writes land, their answers are lost
        self.unreachable_reads = False
        self.die_after_write = False  # the caller dies once the write has landed
        self.gate: asyncio.Event | None = None  # writes wait for it

    async def _write(self) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.refuse_writes:
            self.unreachable_reads = self.then_unreachable
            raise IdentityProviderUnavailable()

    def _after_write(self) -> None:
        if self.lose_answers:
            raise IdentityProviderUnavailable()
        if self.die_after_write:
            raise asyncio.CancelledError  # the request is gone before it records anything

    async def create_membership(self, org_id: str, user_id: str, role: str) -> OrgMembership:
        await self._write()
        created = await super().create_membership(org_id, user_id, role)
        self._after_write()
        return created

    async def update_membership(self, org_id: str, user_id: str, role: str) -> OrgMembership:
        await self._write()
        updated = await super().update_membership(org_id, user_id, role)
        self._after_write()
        return updated

    async def delete_membership(self, org_id: str, user_id: str) -> None:
        await self._write()
        await super().delete_membership(org_id, user_id)
        self._after_write()

    async def list_memberships(
        self,
        org_id: str,
        *,
        limit: int = 100,
        offset: int = 0,
        user_ids: Collection[str] = (),
    ) -> MembershipPage:
        if self.unreachable_reads:
            raise IdentityProviderUnavailable()
        return await super().list_memberships(org_id, limit=limit, offset=offset, user_ids=user_ids)


@pytest.fixture
async def world() -> World:
    w = World(identity=Flaky())
    await w.add_tenant(APOLLO, name="Apollo Chennai")
    w.add_user("user_apollo_admin", "Kavya Iyer")
    w.add_user(HIRE, "Sam Carter")
    await w.add_role(APOLLO, "user_apollo_admin", "org:admin")
    return w


def flaky(world: World) -> Flaky:
    assert isinstance(world.identity, Flaky)
    return world.identity


def grant(role: str) -> GrantRoleCommand:
    return GrantRoleCommand(tenant_id=APOLLO, user_id=HIRE, role=role)


def revoke(role: str) -> RevokeRoleCommand:
    return RevokeRoleCommand(tenant_id=APOLLO, user_id=HIRE, role=role)


def statuses(world: World) -> list[IntentStatus]:
    return [i.status for i in world.store.intents.values()]


async def test_a_grant_the_provider_refused_is_undone_and_not_audited(world: World) -> None:
    flaky(world).refuse_writes = True
    with pytest.raises(IdentityProviderUnavailable):
        await world.grant.execute(ADMIN, grant("org:provider:staff"))
    assert await world.roles(APOLLO, HIRE) == ()
    assert await world.membership(APOLLO_ORG, HIRE) is None
    assert world.audit() == []
    assert statuses(world) == [IntentStatus.FAILED]


async def test_a_revoke_the_provider_refused_puts_the_grant_back_as_it_was(world: World) -> None:
    await world.grant.execute(ADMIN, grant("org:provider:staff"))
    granted = world.store.user_roles[(APOLLO, HIRE, "org:provider:staff")]
    world.clock.advance(timedelta(hours=1))
    flaky(world).refuse_writes = True
    with pytest.raises(IdentityProviderUnavailable):
        await world.revoke.execute(ADMIN, revoke("org:provider:staff"))
    assert world.store.user_roles[(APOLLO, HIRE, "org:provider:staff")] == granted
    assert await world.membership(APOLLO_ORG, HIRE) == "org:provider:staff"
    assert [e.action for e in world.audit()] == ["user_role.assign"]


async def test_a_write_whose_answer_was_lost_stands_and_is_audited_once(world: World) -> None:
    flaky(world).lose_answers = True
    change = await world.grant.execute(ADMIN, grant("org:provider:staff"))
    assert change.changed
    assert await world.roles(APOLLO, HIRE) == ("org:provider:staff",)
    assert await world.membership(APOLLO_ORG, HIRE) == "org:provider:staff"
    assert [e.action for e in world.audit()] == ["user_role.assign"]
    assert statuses(world) == [IntentStatus.DONE]


async def test_a_change_whose_caller_died_is_finished_by_the_next_change(world: World) -> None:
    """The first request dies after the write landed: its grant and intent are committed,
    unrecorded. Once its lease has run out, the next change of the membership finishes it
    (its entry first), then makes its own."""
    flaky(world).die_after_write = True
    with pytest.raises(asyncio.CancelledError):
        await world.grant.execute(ADMIN, grant("org:provider:staff"))
    flaky(world).die_after_write = False
    assert world.audit() == []
    assert statuses(world) == [IntentStatus.PENDING]

    world.clock.advance(LEASE + timedelta(seconds=1))
    change = await world.grant.execute(ADMIN, grant("org:admin"))
    assert change.org_role == "org:admin"
    assert await world.roles(APOLLO, HIRE) == ("org:admin", "org:provider:staff")
    assert await world.membership(APOLLO_ORG, HIRE) == "org:admin"
    assert [e.after["granted"] for e in world.audit() if e.after] == [
        "org:provider:staff",
        "org:admin",
    ]
    assert statuses(world) == [IntentStatus.DONE, IntentStatus.DONE]


async def test_a_change_the_provider_cannot_confirm_is_settled_once_it_answers(
    world: World,
) -> None:
    """The write fails and the provider cannot be asked either: the grant stays pending and
    the caller gets 503. The next change, once the provider answers, settles it first (it
    never landed: undone, no entry)."""
    identity = flaky(world)
    identity.refuse_writes = identity.then_unreachable = True
    with pytest.raises(IdentityProviderUnavailable):
        await world.grant.execute(ADMIN, grant("org:provider:staff"))
    assert statuses(world) == [IntentStatus.PENDING]
    identity.refuse_writes = identity.then_unreachable = identity.unreachable_reads = False

    change = await world.grant.execute(ADMIN, grant("org:admin"))
    assert change.roles == ("org:admin",)
    assert await world.roles(APOLLO, HIRE) == ("org:admin",)
    assert await world.membership(APOLLO_ORG, HIRE) == "org:admin"
    assert [e.after["granted"] for e in world.audit() if e.after] == ["org:admin"]
    assert statuses(world) == [IntentStatus.FAILED, IntentStatus.DONE]


async def test_a_replica_waits_for_another_replicas_change_of_the_same_membership(
    world: World,
) -> None:
    """Two replicas (nothing shared but the database) change one membership at once: the
    second waits until the first's write is recorded, so the provider ends with the role
    the last change computed from both."""
    identity = flaky(world)
    identity.gate = asyncio.Event()
    other = GrantRole(
        role_changes(world.transactions, identity, clock=world.clock, platform_org=PLATFORM_ORG)
    )
    first = asyncio.create_task(world.grant.execute(ADMIN, grant("org:provider:staff")))
    await asyncio.sleep(0.05)  # the first holds the membership's intent, its write waiting
    second = asyncio.create_task(other.execute(ADMIN, grant("org:admin")))
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
    assert statuses(world) == [IntentStatus.DONE, IntentStatus.DONE]
    assert world.clock.now() == T0
