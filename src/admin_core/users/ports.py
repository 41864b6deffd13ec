"""Ports of the users area: the identity provider that knows users and their organisation
memberships (Clerk's Backend API in production, an in-memory twin when embedded), the local
record of role grants and users' contact details, and the transaction user use cases work
in."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from admin_core.side_effects.ports import SideEffectsTransaction
from admin_core.tenants.ports import OrgMappingRepository, TenantRepository
from admin_core.users.model import UserContact, UserRole


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityUser:
    """A user as the identity provider knows them (contact details, never credentials)."""

    id: str
    email: str | None
    name: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrgMembership:
    """A user's membership of an organisation. The provider keeps one role per membership."""

    org_id: str
    user_id: str
    role: str
    email: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MembershipPage:
    memberships: Sequence[OrgMembership]
    total: int


class MembershipAlreadyExists(Exception):
    """`create_membership` on a user who is already a member. A signal the core handles (it
    then changes the role instead); never an API error."""


class MembershipNotFound(Exception):
    """`update_membership`/`delete_membership` on a user who is not a member. A signal the core
    handles; never an API error."""


class OrganizationNotFound(Exception):
    """The provider does not know the organisation: deleted there since the tenant was mapped
    to it, or never one of its own. Nobody is a member of it, and no membership can be
    written to it. A signal the core handles (a membership change then knows it was not
    made); to a caller, the provider is not usable for the tenant (503)."""

    def __init__(self, org_id: str) -> None:
        super().__init__(f"The identity provider does not know organisation {org_id}.")
        self.org_id = org_id


class IdentityProvider(Protocol):
    """Users and organisation memberships. Every method raises `IdentityProviderUnavailable`
    when the provider cannot be reached or keeps failing after bounded retries."""

    async def get_user(self, user_id: str) -> IdentityUser:
        """Raises `UserNotFound` when the provider does not know `user_id`."""
        ...

    async def list_memberships(
        self,
        org_id: str,
        *,
        limit: int = 100,
        offset: int = 0,
        user_ids: Collection[str] = (),
    ) -> MembershipPage:
        """Members of `org_id`, oldest membership first; `total` counts all that match.
        `user_ids` narrows the list to those users. `limit` is 1..500 and `offset` 0 or more
        (ValueError otherwise). Raises `OrganizationNotFound` when the provider does not know
        `org_id`."""
        ...

    async def create_membership(self, org_id: str, user_id: str, role: str) -> OrgMembership:
        """Raises `MembershipAlreadyExists`, `UserNotFound` for an unknown user, or
        `OrganizationNotFound` for an unknown organisation."""
        ...

    async def update_membership(self, org_id: str, user_id: str, role: str) -> OrgMembership:
        """Change the role of an existing membership. Raises `MembershipNotFound`."""
        ...

    async def delete_membership(self, org_id: str, user_id: str) -> None:
        """Raises `MembershipNotFound`."""
        ...


class UserContacts(Protocol):
    """Users' contact details, cached from the identity provider."""

    async def upsert(self, user: UserContact) -> None: ...

    async def get_many(self, user_ids: Collection[str]) -> dict[str, UserContact]: ...


class UserRoleRepository(Protocol):
    async def add(self, grant: UserRole) -> bool:
        """False (and nothing written) when the user already holds the role in the tenant."""
        ...

    async def get(self, tenant_id: str, user_id: str, role: str) -> UserRole | None:
        """The grant of `role` to the user in the tenant, if there is one."""
        ...

    async def remove(self, tenant_id: str, user_id: str, role: str) -> bool:
        """False when there was nothing to remove."""
        ...

    async def roles_of(
        self, tenant_id: str, user_id: str, *, lock: bool = False
    ) -> tuple[str, ...]:
        """The user's roles in the tenant, sorted. `lock=True` for roles about to be changed
        from what is read: it locks the user (whose contact every grant refers to), so a
        concurrent change of the user's roles waits until this transaction ends, then reads
        what it wrote."""
        ...

    async def for_tenant(self, tenant_id: str) -> Sequence[UserRole]:
        """Every grant in the tenant, ordered by user id, then role."""
        ...

    async def holders(self, tenant_id: str, role: str, *, lock: bool = False) -> tuple[str, ...]:
        """Ids of the users holding `role` in the tenant, sorted. `lock=True` locks those
        grants until the transaction ends, so a concurrent revoke waits and then counts
        again."""
        ...


class UsersTransaction(SideEffectsTransaction, Protocol):
    """What user and role use cases read and write in one transaction, with the intents of
    membership changes and the audit log."""

    tenants: TenantRepository
    org_mappings: OrgMappingRepository
    users: UserContacts
    user_roles: UserRoleRepository
