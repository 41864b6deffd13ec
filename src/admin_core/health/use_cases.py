"""Readiness: can this replica reach its database?"""

from __future__ import annotations

from admin_core.kernel.transaction import Transactions
from admin_core.tenants.ports import TenantsTransaction


class CheckReadiness:
    """Ready when a transaction can be opened and the schema answers a query."""

    def __init__(self, transactions: Transactions[TenantsTransaction]) -> None:
        self._transactions = transactions

    async def execute(self) -> bool:
        try:
            async with self._transactions() as tx:
                await tx.tenants.get("")
        except Exception:  # noqa: BLE001 - any failure means "not ready", never a crash
            return False
        return True
