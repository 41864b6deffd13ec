"""A user's organisation membership at the identity provider, changed as an external side
effect (docs/adr/0058): the local role change and the intent commit first, then the
membership is written, then the audit entry — or, when the provider did not take it, the
local change is undone.

The intent's payload says what to set and what to undo:
- `org_id`, `user_id`: whose membership;
- `previous`, `target`: the role the membership carried when the change was planned, and
  the one it must carry afterwards (None: no membership);
- `grant`: the local grant the change added (`assign`) or removed (`revoke`), in full, so
  that it can be removed or put back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from admin_core.side_effects.model import APPLIED, NOT_APPLIED, Answer, Intent, Outcome
from admin_core.side_effects.ports import Effect
from admin_core.users.errors import IdentityProviderUnavailable
from admin_core.users.model import UserRole
from admin_core.users.ports import (
    IdentityProvider,
    MembershipAlreadyExists,
    MembershipNotFound,
    OrganizationNotFound,
    UsersTransaction,
)

KIND = "identity.membership"
ASSIGN, REVOKE = "assign", "revoke"


def subject(org_id: str, user_id: str) -> str:
    """Changes of one membership never overlap: at most one is pending at a time."""
    return f"membership:{org_id}:{user_id}"


def payload(
    *,
    org_id: str,
    verb: str,
    grant: UserRole,
    previous: str | None,
    target: str | None,
) -> dict[str, Any]:
    return {
        "org_id": org_id,
        "user_id": grant.user_id,
        "verb": verb,
        "previous": previous,
        "target": target,
        "grant": {
            "tenant_id": grant.tenant_id,
            "role": grant.role,
            "granted_by": grant.granted_by,
            "granted_at": grant.granted_at.isoformat(),
        },
    }


def grants_pending(intent: Intent | None, role: str) -> bool:
    """Whether `intent` is a grant of `role` still waiting for the identity provider: a grant
    it may yet refuse, which is then undone."""
    return (
        intent is not None
        and intent.payload["verb"] == ASSIGN
        and intent.payload["grant"]["role"] == role
    )


def _grant(values: Mapping[str, Any]) -> UserRole:
    grant = values["grant"]
    return UserRole(
        tenant_id=grant["tenant_id"],
        user_id=values["user_id"],
        role=grant["role"],
        granted_by=grant["granted_by"],
        granted_at=datetime.fromisoformat(grant["granted_at"]),
    )


def organization_unknown(error: OrganizationNotFound) -> IdentityProviderUnavailable:
    """What a caller is told of an organisation the provider does not know: the provider is
    not usable for the tenant until it is mapped to one the provider has."""
    return IdentityProviderUnavailable(str(error), details={"clerk_org_id": error.org_id})


class MembershipSync:
    """Reads a user's membership of an organisation, and sets it to a given role (or to no
    membership). An organisation the provider does not know is IDENTITY_PROVIDER_UNAVAILABLE
    to the caller, except to `held`."""

    def __init__(self, identity: IdentityProvider) -> None:
        self._identity = identity

    async def current(self, org_id: str, user_id: str) -> str | None:
        try:
            return await self._role(org_id, user_id)
        except OrganizationNotFound as error:
            raise organization_unknown(error) from error

    async def held(self, org_id: str, user_id: str) -> str | None:
        """As `current`, but an organisation the provider does not know (deleted there) holds
        no membership: None."""
        try:
            return await self._role(org_id, user_id)
        except OrganizationNotFound:
            return None

    async def _role(self, org_id: str, user_id: str) -> str | None:
        page = await self._identity.list_memberships(org_id, user_ids=[user_id], limit=10)
        return next((m.role for m in page.memberships if m.user_id == user_id), None)

    async def set(self, org_id: str, user_id: str, current: str | None, target: str | None) -> None:
        """From `current` (as last read; a membership found otherwise is handled) to
        `target`."""
        try:
            await self._set(org_id, user_id, current, target)
        except OrganizationNotFound as error:
            raise organization_unknown(error) from error

    async def _set(
        self, org_id: str, user_id: str, current: str | None, target: str | None
    ) -> None:
        if target == current:
            return
        if target is None:
            with contextlib.suppress(MembershipNotFound):
                await self._identity.delete_membership(org_id, user_id)
        elif current is None:
            try:
                await self._identity.create_membership(org_id, user_id, target)
            except MembershipAlreadyExists:  # a retried create that had gone through
                await self._identity.update_membership(org_id, user_id, target)
        else:
            try:
                await self._identity.update_membership(org_id, user_id, target)
            except MembershipNotFound:
                await self._identity.create_membership(org_id, user_id, target)


class MembershipChanges(Effect[UsersTransaction]):
    """The membership write of one role change, and what records its outcome locally."""

    def __init__(self, identity: IdentityProvider) -> None:
        self.sync = MembershipSync(identity)

    async def apply(self, intent: Intent) -> Answer:
        values = intent.payload
        await self.sync.set(
            values["org_id"], values["user_id"], values["previous"], values["target"]
        )
        return APPLIED

    async def settle(self, intent: Intent, *, redrive: bool) -> Answer:
        """Applied when the membership carries the target role (a write that timed out but
        went through); otherwise not applied: a membership write is one call, so nothing
        partial is left to put back. An organisation the provider does not know (deleted
        there meanwhile) holds no membership. Raises when the provider cannot be asked."""
        values = intent.payload
        current = await self.sync.held(values["org_id"], values["user_id"])
        return APPLIED if current == values["target"] else NOT_APPLIED

    async def record(self, tx: UsersTransaction, intent: Intent, answer: Answer) -> None:
        """Not applied: the local change committed with the intent is undone (a revoked grant
        is put back as it was). Applied: it stands as committed."""
        if answer.outcome is not Outcome.NOT_APPLIED:
            return
        grant = _grant(intent.payload)
        if intent.payload["verb"] == ASSIGN:
            await tx.user_roles.remove(grant.tenant_id, grant.user_id, grant.role)
        else:
            await tx.user_roles.add(grant)
