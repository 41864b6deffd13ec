"""Where intents are kept, and what performs them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from admin_core.audit.ports import AuditTransaction
from admin_core.side_effects.model import Intent, IntentStatus, Outcome


class IntentLog(Protocol):
    async def add(self, intent: Intent) -> None: ...

    async def get(self, intent_id: str, *, lock: bool = False) -> Intent | None:
        """`lock=True`: a concurrent settle of the same intent waits until this transaction
        ends, then reads what it wrote."""
        ...

    async def settle(
        self, intent_id: str, status: IntentStatus, *, at: datetime, error: str | None = None
    ) -> None:
        """Record the intent's end (or, with PENDING, one more attempt)."""
        ...

    async def pending(self, *, created_before: datetime, limit: int) -> Sequence[Intent]:
        """Pending intents recorded before `created_before`, oldest first."""
        ...


class SideEffectsTransaction(AuditTransaction, Protocol):
    intents: IntentLog


class Effect(Protocol):
    """Performs one kind of side effect from an intent's payload."""

    async def apply(self, intent: Intent) -> None:
        """Do it (idempotently: the provider may have done it already). Raises when the
        provider refuses or cannot be reached; a partial effect is put back before raising
        where it can be."""
        ...

    async def settle(self, intent: Intent) -> Outcome:
        """After a failure or a crash: whether the provider holds the effect now. A partial
        effect is put back first (then NOT_APPLIED)."""
        ...
