"""Identity: session-token verification (Clerk JWTs in production, a local issuer when
embedded) and the identity provider that knows users and their organisation memberships
(Clerk's Backend API in production, an in-memory twin when embedded)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionClaims:
    """The verified claims the core needs, already normalised from v1 or v2 format."""

    user_id: str
    session_id: str | None = None
    org_id: str | None = None
    org_role: str | None = None
    org_permissions: tuple[str, ...] = field(default_factory=tuple)


class SessionTokenVerifier(Protocol):
    async def verify(self, token: str) -> SessionClaims:
        """Raises `AuthTokenInvalid` or `AuthTokenExpired`."""
        ...


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
        `user_ids` narrows the list to those users. `limit` is 1..500."""
        ...

    async def create_membership(self, org_id: str, user_id: str, role: str) -> OrgMembership:
        """Raises `MembershipAlreadyExists`, or `UserNotFound` for an unknown user."""
        ...

    async def update_membership(self, org_id: str, user_id: str, role: str) -> OrgMembership:
        """Change the role of an existing membership. Raises `MembershipNotFound`."""
        ...

    async def delete_membership(self, org_id: str, user_id: str) -> None:
        """Raises `MembershipNotFound`."""
        ...
