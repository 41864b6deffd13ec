"""The in-memory identity provider: the embedded mode's and the unit tests' twin of Clerk."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from admin_core.users.errors import UserNotFound
from admin_core.users.ports import (
    IdentityProvider,
    IdentityUser,
    MembershipAlreadyExists,
    MembershipNotFound,
    MembershipPage,
    OrgMembership,
)

MAX_LIMIT = 500


class InMemoryIdentityProvider(IdentityProvider):
    """Users and memberships in dictionaries. Organisations exist implicitly: any org id can
    hold memberships. Memberships list in the order they were created."""

    def __init__(
        self, users: Iterable[IdentityUser] = (), memberships: Iterable[OrgMembership] = ()
    ) -> None:
        self._users = {u.id: u for u in users}
        self._memberships: dict[str, dict[str, OrgMembership]] = {}
        for membership in memberships:
            self._memberships.setdefault(membership.org_id, {})[membership.user_id] = membership

    def add_user(self, user: IdentityUser) -> None:
        self._users[user.id] = user

    async def aclose(self) -> None:
        return None

    async def get_user(self, user_id: str) -> IdentityUser:
        user = self._users.get(user_id)
        if user is None:
            raise UserNotFound(details={"user_id": user_id})
        return user

    async def list_memberships(
        self,
        org_id: str,
        *,
        limit: int = 100,
        offset: int = 0,
        user_ids: Collection[str] = (),
    ) -> MembershipPage:
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            raise ValueError("limit must be 1..500 and offset 0 or more")
        members = list(self._memberships.get(org_id, {}).values())
        if user_ids:
            wanted = set(user_ids)
            members = [m for m in members if m.user_id in wanted]
        return MembershipPage(memberships=members[offset : offset + limit], total=len(members))

    async def create_membership(self, org_id: str, user_id: str, role: str) -> OrgMembership:
        user = await self.get_user(user_id)
        members = self._memberships.setdefault(org_id, {})
        if user_id in members:
            raise MembershipAlreadyExists(f"{user_id} is already a member of {org_id}")
        members[user_id] = OrgMembership(
            org_id=org_id, user_id=user_id, role=role, email=user.email, name=user.name
        )
        return members[user_id]

    async def update_membership(self, org_id: str, user_id: str, role: str) -> OrgMembership:
        members = self._memberships.get(org_id, {})
        if user_id not in members:
            raise MembershipNotFound(f"{user_id} is not a member of {org_id}")
        current = members[user_id]
        members[user_id] = OrgMembership(
            org_id=org_id, user_id=user_id, role=role, email=current.email, name=current.name
        )
        return members[user_id]

    async def delete_membership(self, org_id: str, user_id: str) -> None:
        if self._memberships.get(org_id, {}).pop(user_id, None) is None:
            raise MembershipNotFound(f"{user_id} is not a member of {org_id}")
