"""The in-memory identity provider with what a remote one does to its callers, for the role
change tests: writes held at a gate, refused, or landed with their answers lost; the caller
gone once a write has landed; reads refused; organisations deleted on the provider's side."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from adapters.memory.identity import InMemoryIdentityProvider
from admin_core.users.errors import IdentityProviderUnavailable
from admin_core.users.ports import MembershipPage, OrganizationNotFound, OrgMembership
from tests.support.use_cases import World


class RemoteIdentity(InMemoryIdentityProvider):
    def __init__(self) -> None:
        super().__init__()
        self.gate: asyncio.Event | None = None  # writes wait for it
        self.refuse_writes = False  # writes fail and do not land
        self.then_unreachable = False  # ... and after a refusal, reads fail too
        self.lose_answers = False  # writes land, their answers are lost
        self.die_after_write = False  # the caller dies once the write has landed
        self.unreachable_reads = False
        self.deleted_orgs: set[str] = set()

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
        if org_id in self.deleted_orgs:
            raise OrganizationNotFound(org_id)
        return await super().list_memberships(org_id, limit=limit, offset=offset, user_ids=user_ids)


def remote(world: World) -> RemoteIdentity:
    """The world's identity provider, a `RemoteIdentity`."""
    assert isinstance(world.identity, RemoteIdentity)
    return world.identity
