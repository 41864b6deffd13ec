"""What the session use cases share (SPEC §6.4)."""

from __future__ import annotations

from admin_core.kernel.runtime import Clock
from admin_core.kernel.transaction import Transactions
from admin_core.payments.ports import PaymentsTransaction
from admin_core.payments.refunds import KIND as REFUND_KIND
from admin_core.payments.refunds import SessionRefunds
from admin_core.side_effects.runner import SideEffects


class SessionPayments:
    """What the session use cases share: their transactions, the refund effect (with the
    gateways) and the side-effect mechanism that drives it."""

    def __init__(
        self,
        transactions: Transactions[PaymentsTransaction],
        refunds: SessionRefunds,
        side_effects: SideEffects[PaymentsTransaction],
        clock: Clock,
    ) -> None:
        self.transactions = transactions
        self.refunds = refunds
        self.side_effects = side_effects
        self.clock = clock

    @property
    def effects(self) -> dict[str, SessionRefunds]:
        """The effects of the intents payments leave, for `reconcile`."""
        return {REFUND_KIND: self.refunds}
