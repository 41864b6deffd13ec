"""The sandbox gateway's refunds, in memory."""

from __future__ import annotations

from adapters.memory.store import InMemoryStore
from admin_core.payments.model import Refund


class InMemorySandboxLedger:
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    async def find(
        self, *, key: str | None = None, payment_ref: str | None = None
    ) -> tuple[str, Refund] | None:
        for made_with, paid_by, refund in self._store.sandbox_refunds:
            if made_with == key or (key is None and paid_by == payment_ref):
                return paid_by, refund
        return None

    async def add(self, key: str, payment_ref: str, refund: Refund) -> None:
        self._store.sandbox_refunds.append((key, payment_ref, refund))
