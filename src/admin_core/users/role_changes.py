"""What the role use cases share (SPEC §6.9, ADR 0058)."""

from __future__ import annotations

from admin_core.auth.policy import RolePolicy
from admin_core.kernel.runtime import Clock
from admin_core.kernel.transaction import Transactions
from admin_core.side_effects.runner import PATIENCE_SECONDS, SideEffects
from admin_core.users import memberships
from admin_core.users.memberships import MembershipChanges
from admin_core.users.ports import IdentityProvider, UsersTransaction


class RoleChanges:
    """What the role use cases share: their transactions, the identity provider, the role
    policy, the membership effect and the side-effect mechanism that drives it.
    `patience_seconds`: how long a change waits for another caller's change of the same
    membership before answering that the identity provider is still busy with it."""

    def __init__(
        self,
        transactions: Transactions[UsersTransaction],
        identity: IdentityProvider,
        policy: RolePolicy,
        clock: Clock,
        side_effects: SideEffects[UsersTransaction],
        platform_org: str | None,
        patience_seconds: float = PATIENCE_SECONDS,
    ) -> None:
        self.transactions = transactions
        self.identity = identity
        self.policy = policy
        self.clock = clock
        self.side_effects = side_effects
        self.platform_org = platform_org
        self.memberships = MembershipChanges(identity)
        self.patience_seconds = patience_seconds

    @property
    def effects(self) -> dict[str, MembershipChanges]:
        """The effects of the intents role changes leave, for `reconcile`."""
        return {memberships.KIND: self.memberships}
