"""The one mechanism for external side effects (docs/adr/0048).

A side effect on Flagsmith, Stripe, Razorpay or Clerk cannot share a transaction with the
audit log. So:

1. the intent is committed first: what will be done, and the audit entries that will record
   it once done;
2. the provider is called (idempotently: with the intent's key where the provider takes one);
3. the audit entries are written and the intent marked done, in one transaction.

A failure at 2 asks the provider what it holds (`Effect.settle`): applied after all → step 3;
not applied → the intent fails and the caller gets the error; the provider cannot be asked →
the intent stays pending and the caller gets the error. `reconcile` does the same for every
intent left pending (a crash between any two steps), so each intent ends with its audit
entries written exactly once if and only if the provider acted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from admin_core.audit.model import AuditRecord
from admin_core.kernel.runtime import Clock, IdGenerator
from admin_core.kernel.transaction import Transactions
from admin_core.side_effects.model import Intent, IntentStatus, Outcome, ReconcileReport
from admin_core.side_effects.ports import Effect, SideEffectsTransaction

log = logging.getLogger("admin_core.side_effects")

#: Intents younger than this belong to requests still running; reconcile leaves them alone.
RECONCILE_AFTER = timedelta(seconds=30)
RECONCILE_BATCH = 100


class SideEffects:
    def __init__(
        self,
        transactions: Transactions[SideEffectsTransaction],
        clock: Clock,
        ids: IdGenerator,
    ) -> None:
        self._transactions = transactions
        self._clock = clock
        self._ids = ids
        self._locks: dict[str, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def serialized(self, scope: str) -> AsyncIterator[None]:
        """One change of `scope` (a tenant's flags, a session's payment) at a time in this
        process: what a change reads to compute its audit entries is not stale when it acts."""
        lock = self._locks.setdefault(scope, asyncio.Lock())
        async with lock:
            yield

    async def perform(
        self,
        effect: Effect,
        *,
        kind: str,
        tenant_id: str | None,
        payload: Mapping[str, Any],
        audit: Sequence[AuditRecord],
        key: str | None = None,
    ) -> Intent:
        """Record the intent, apply the effect, record its outcome. Raises what the effect
        raised unless the provider turned out to have acted."""
        now = self._clock.now()
        intent_id = self._ids.new_id("int")
        intent = Intent(
            id=intent_id,
            kind=kind,
            key=key or intent_id,
            tenant_id=tenant_id,
            payload=payload,
            audit=tuple(audit),
            status=IntentStatus.PENDING,
            created_at=now,
            updated_at=now,
        )
        async with self._transactions() as tx:
            await tx.intents.add(intent)
            await tx.commit()
        try:
            await effect.apply(intent)
        except Exception as error:
            outcome = await _settle(effect, intent)
            if outcome is not Outcome.APPLIED:
                await self._end(intent, outcome, error)
                raise
            log.warning("intent %s: the provider acted despite %r", intent.id, error)
        await self._complete(intent)
        return replace(intent, status=IntentStatus.DONE)

    async def reconcile(
        self,
        effects: Mapping[str, Effect],
        *,
        older_than: timedelta = RECONCILE_AFTER,
        limit: int = RECONCILE_BATCH,
    ) -> ReconcileReport:
        """Finish the intents left pending: complete those the provider holds, fail those it
        does not, leave those it cannot be asked about."""
        async with self._transactions() as tx:
            pending = await tx.intents.pending(
                created_before=self._clock.now() - older_than, limit=limit
            )
        completed: list[str] = []
        abandoned: list[str] = []
        unresolved: list[str] = []
        for intent in pending:
            effect = effects.get(intent.kind)
            outcome = Outcome.UNKNOWN if effect is None else await _settle(effect, intent)
            if outcome is Outcome.APPLIED:
                await self._complete(intent)
                completed.append(intent.id)
            else:
                await self._end(intent, outcome, None)
                (abandoned if outcome is Outcome.NOT_APPLIED else unresolved).append(intent.id)
        return ReconcileReport(completed=completed, abandoned=abandoned, unresolved=unresolved)

    async def _complete(self, intent: Intent) -> None:
        """Write the audit entries and mark the intent done, once: a concurrent completion
        (the request and a reconcile) finds it done and writes nothing."""
        async with self._transactions() as tx:
            current = await tx.intents.get(intent.id, lock=True)
            if current is None or current.status is IntentStatus.DONE:
                return
            for record in intent.audit:
                await tx.audit.append(record)
            await tx.intents.settle(intent.id, IntentStatus.DONE, at=self._clock.now())
            await tx.commit()

    async def _end(self, intent: Intent, outcome: Outcome, error: BaseException | None) -> None:
        status = IntentStatus.FAILED if outcome is Outcome.NOT_APPLIED else IntentStatus.PENDING
        reason = repr(error) if error is not None else f"reconcile: {outcome.value}"
        async with self._transactions() as tx:
            current = await tx.intents.get(intent.id, lock=True)
            if current is None or current.status is not IntentStatus.PENDING:
                return
            await tx.intents.settle(intent.id, status, at=self._clock.now(), error=reason[:500])
            await tx.commit()


async def _settle(effect: Effect, intent: Intent) -> Outcome:
    try:
        return await effect.settle(intent)
    except Exception:
        log.warning("intent %s: the provider could not be asked", intent.id, exc_info=True)
        return Outcome.UNKNOWN
