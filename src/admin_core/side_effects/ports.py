"""Where intents are kept, and what performs them."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from admin_core.audit.model import AuditRecord
from admin_core.audit.ports import AuditTransaction
from admin_core.side_effects.model import Answer, Intent, IntentStatus


class IntentLog(Protocol):
    async def add(self, intent: Intent) -> None:
        """Raises `IntentSubjectBusy` when the intent's subject has a pending intent."""
        ...

    async def await_add(self, intent: Intent) -> None:
        """Return once no other transaction that added `intent` is still in flight, so that
        what is read next finds the intent exactly when that add was committed: a caller
        cancelled while it waited for its commit's answer cannot tell whether the commit
        went through, and the server may still be committing it. Whatever this writes is
        not to be committed (the caller rolls this transaction back)."""
        ...

    async def get(self, intent_id: str, *, lock: bool = False) -> Intent | None:
        """`lock=True`: a concurrent settle of the same intent waits until this transaction
        ends, then reads what it wrote."""
        ...

    async def settle(
        self,
        intent_id: str,
        status: IntentStatus,
        *,
        at: datetime,
        error: str | None = None,
        result: Mapping[str, Any] | None = None,
    ) -> bool:
        """Record the end of an intent still pending (or, with PENDING, one more attempt) and
        release its lease; `result` replaces the provider's last answer when given. False,
        and nothing written, when the intent is no longer pending (another caller recorded
        it: a concurrent settle waits for that caller's transaction, then finds it so)."""
        ...

    async def lease(self, intent_id: str, *, until: datetime, at: datetime) -> None:
        """Mark the intent as driven by the caller until `until`."""
        ...

    async def renew(
        self, intent_id: str, *, held_until: datetime, until: datetime | None, at: datetime
    ) -> bool:
        """Extend the lease of a caller still driving the intent to `until` (None: end it,
        the intent free for the next caller whatever its clock): only while the intent is
        pending and its lease is still the one the caller holds (`held_until`). False, and
        nothing written, when another caller took it over or it was settled."""
        ...

    async def reassign(self, intent_id: str, audit: Sequence[AuditRecord]) -> None:
        """Replace the entries the intent writes once settled: a caller that takes over a
        pending intent answers for it."""
        ...

    async def pending(
        self,
        *,
        created_before: datetime,
        limit: int,
        kinds: Collection[str] | None = None,
        after: Intent | None = None,
    ) -> Sequence[Intent]:
        """Pending intents recorded before `created_before`, oldest first: of `kinds` (or
        every kind), and, for the next page, those after `after` in that order."""
        ...

    async def pending_of(self, subject: str) -> Intent | None:
        """The pending intent of `subject`, if there is one. `add` refuses a second one
        (`IntentSubjectBusy`); callers that add one first lock what the subject belongs to,
        so that they find each other's here rather than there."""
        ...


class IntentSubjectBusy(Exception):
    """An intent was added for a subject that already has one pending."""


class SideEffectsTransaction(AuditTransaction, Protocol):
    intents: IntentLog


T_contra = TypeVar("T_contra", bound=SideEffectsTransaction, contravariant=True)


class Effect(Protocol[T_contra]):
    """Performs one kind of side effect from an intent's payload."""

    async def apply(self, intent: Intent) -> Answer:
        """Do it (idempotently: the provider may have done it already). Answers APPLIED,
        PENDING (accepted, not confirmed) or NOT_APPLIED (a definite failure); raises when the
        provider refuses or cannot be reached. A partial effect is put back before raising
        where it can be."""
        ...

    async def settle(self, intent: Intent, *, redrive: bool) -> Answer:
        """After a failure or a crash: whether the provider holds the effect now (UNKNOWN when
        it cannot tell). A partial effect is put back first (then NOT_APPLIED). `redrive`:
        the effect may also be done again with the intent's key, where that is how the
        provider is asked safely (reconcile does; a failing call does not, to answer soon)."""
        ...

    async def record(self, tx: T_contra, intent: Intent, answer: Answer) -> None:
        """The area's own writes for the provider's answer, in the transaction that records
        the intent's outcome (and, once applied, its audit entries)."""
        ...
