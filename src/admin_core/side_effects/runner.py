"""The one mechanism for external side effects (docs/adr/0048, 0051).

A side effect on Flagsmith, Stripe, Razorpay or Clerk cannot share a transaction with the
audit log. So:

1. the intent is committed first: what will be done, its idempotency key, and the audit
   entries that will record it once done — with whatever the area writes beside it (a
   session marked `refund_pending`), and a lease: one caller, on any replica, drives it;
2. the provider is called (idempotently: with the intent's key where the provider takes one);
3. the provider's answer is recorded: applied → the audit entries, the area's own writes
   (`Effect.record`) and the intent done, in one transaction; pending (accepted, not
   confirmed) → the answer kept, the intent still pending; not applied → the intent failed.

A failure at 2 asks the provider what it holds (`Effect.settle`) and goes on at 3 with that
answer; when the provider cannot be asked the intent stays pending and the caller gets the
error. `reconcile` does the same for every intent left pending whose lease has run out (a
crash between any two steps, a pending answer), so each intent ends with its audit entries
written exactly once if and only if the provider acted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from admin_core.audit.model import AuditRecord
from admin_core.kernel.errors import DatabaseUnavailable
from admin_core.kernel.runtime import Clock, IdGenerator
from admin_core.kernel.transaction import Transactions
from admin_core.side_effects.model import (
    NOT_APPLIED,
    Answer,
    Intent,
    IntentStatus,
    Outcome,
    ReconcileReport,
)
from admin_core.side_effects.ports import Effect, SideEffectsTransaction

log = logging.getLogger("admin_core.side_effects")

#: Intents younger than this belong to requests still running; reconcile leaves them alone.
RECONCILE_AFTER = timedelta(seconds=30)
RECONCILE_BATCH = 100
#: How long one caller drives an intent before another may take it over, unless it renews
#: the lease meanwhile: a caller alive renews it every `RENEW_EVERY_SECONDS` for as long as
#: its provider calls take, and a crashed caller's intent is soon finished by the next call
#: or by reconcile.
LEASE = timedelta(seconds=60)
RENEW_EVERY_SECONDS = LEASE.total_seconds() / 3
#: How far ahead of a caller's clock another replica's may be (or step forward) without the
#: other taking over the caller's intent while the caller still drives it: the lease of a
#: caller alive runs at least this long past the time (now) by the caller's clock. The
#: caller's own clock stepping backwards does not shorten its lease (see `SideEffects._renew`).
CLOCK_TOLERANCE = LEASE - timedelta(seconds=RENEW_EVERY_SECONDS)

#: The transaction the runner's own transactions give. Covariant: the one runner of a service,
#: over transactions that satisfy every area's protocol, serves each area as its own.
T_co = TypeVar("T_co", bound=SideEffectsTransaction, covariant=True)


class _ScopeLock:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class IntentInProgress(Exception):
    """Another caller (on this or another replica) is driving the intent now."""


class LeaseLost(Exception):
    """This caller could not renew its lease in time (the database out of reach meanwhile),
    and another caller took the intent over: this caller stopped calling the provider, and
    the other's outcome stands. Areas answer it as their provider being unavailable: the
    change is settled by the other caller, and asking again shows how."""


class _Progress:
    """How far a caller driving an intent got, for what its cancellation leaves to do."""

    __slots__ = ("answer", "called", "error", "held", "held_since", "renewing")

    def __init__(self, held: datetime | None) -> None:
        self.called = False  # the provider's call has started
        self.answer: Answer | None = None  # what the provider said, once it did
        self.error: BaseException | None = None  # what its call raised, if it did
        self.held = held  # the end of this caller's lease, as last written
        #: When (by the event loop's monotonic clock) `held` was written, or later.
        self.held_since = asyncio.get_running_loop().time()
        #: The end a renewal not known to have ended was writing: cancelled while waiting
        #: for its commit's answer, the caller may hold this lease or `held`.
        self.renewing: datetime | None = None


#: Reasons recorded on an intent whose caller was cancelled.
CANCELLED_BEFORE_CALL = "the caller was cancelled before the provider was called"

#: What cancelled callers left to finish, referred to until it ends (a task nobody refers
#: to may be collected before it does).
_FINISHING: set[asyncio.Task[Any]] = set()


def _finished(task: asyncio.Task[Any]) -> None:
    _FINISHING.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.warning("what a cancelled caller left could not be recorded: %r", task.exception())


async def _despite_cancellation(work: Coroutine[Any, Any, Any]) -> None:
    """Do `work` although the caller was just cancelled (docs/adr/0064-cancellation.md): in a
    task of its own, which the caller waits for; cancelled again meanwhile, the caller stops
    waiting and the work goes on. A failure of the work is logged, never raised: what the
    caller raises is its cancellation."""
    task = asyncio.ensure_future(work)
    _FINISHING.add(task)
    task.add_done_callback(_finished)
    with contextlib.suppress(Exception):
        await asyncio.shield(task)


class SubjectBusy(Exception):
    """A change of the subject is still pending: its caller drove it for longer than the
    patience given, or the provider cannot say now what it did."""


#: How often a caller waiting for another change of the same subject looks again.
WAIT_STEP_SECONDS = 0.05
#: How long a change waits for another change of the same subject (a tenant's flags, a
#: membership, a session's refund) to be settled: longer than one provider call with its
#: retries. Then it answers that the other is still in progress.
PATIENCE_SECONDS = 10.0


class SideEffects(Generic[T_co]):
    def __init__(
        self,
        transactions: Transactions[T_co],
        clock: Clock,
        ids: IdGenerator,
        *,
        renew_every_seconds: float = RENEW_EVERY_SECONDS,
        lease: timedelta = LEASE,
    ) -> None:
        self._transactions = transactions
        self._clock = clock
        self._ids = ids
        self._renew_every = renew_every_seconds
        self._lease = lease
        self._locks: dict[str, _ScopeLock] = {}

    @contextlib.asynccontextmanager
    async def serialized(
        self, scope: str, *, patience_seconds: float | None = None
    ) -> AsyncIterator[None]:
        """One change of `scope` (a tenant's flags, a user's membership) at a time in this
        process: what a change reads to compute its audit entries is not stale when it acts.
        A scope's lock lives while someone holds or awaits it. Raises `SubjectBusy` when
        `patience_seconds` pass before the lock is this caller's."""
        lock = self._locks.get(scope)
        if lock is None:
            lock = self._locks[scope] = _ScopeLock()
        lock.users += 1
        try:
            try:
                async with asyncio.timeout(patience_seconds):
                    await lock.lock.acquire()
            except TimeoutError:
                raise SubjectBusy(scope) from None
            try:
                yield
            finally:
                lock.lock.release()
        finally:
            lock.users -= 1
            if lock.users == 0:
                del self._locks[scope]

    def new_intent(
        self,
        *,
        kind: str,
        tenant_id: str | None,
        payload: Mapping[str, Any],
        audit: Sequence[AuditRecord],
        key: str | None = None,
        subject: str | None = None,
    ) -> Intent:
        """An intent leased to the caller, to be added in the caller's transaction (beside the
        area's own writes) and then driven with `drive`. `subject`: what it changes, where
        changes of one thing must not overlap (see `IntentLog.pending_of`)."""
        now = self._clock.now()
        intent_id = self._ids.new_id("int")
        return Intent(
            id=intent_id,
            kind=kind,
            key=key or intent_id,
            tenant_id=tenant_id,
            payload=payload,
            audit=tuple(audit),
            status=IntentStatus.PENDING,
            created_at=now,
            updated_at=now,
            lease_until=now + self._lease,
            subject=subject,
        )

    async def claim(self, tx: SideEffectsTransaction, intent_id: str) -> Intent:
        """Take the lease of a pending intent in the caller's transaction (committed by the
        caller), then `drive` it. Raises `IntentInProgress` while another caller's lease runs;
        returns the intent as it is when it is no longer pending."""
        intent = await tx.intents.get(intent_id, lock=True)
        if intent is None:
            raise LookupError(intent_id)
        if intent.status is not IntentStatus.PENDING:
            return intent
        now = self._clock.now()
        if intent.lease_until is not None and intent.lease_until > now:
            raise IntentInProgress(intent_id)
        until = now + self._lease
        await tx.intents.lease(intent_id, until=until, at=now)
        return replace(intent, lease_until=until)

    async def perform(
        self,
        effect: Effect[T_co],
        *,
        kind: str,
        tenant_id: str | None,
        payload: Mapping[str, Any],
        audit: Sequence[AuditRecord],
        key: str | None = None,
        subject: str | None = None,
        premise: Callable[[], Awaitable[bool]] | None = None,
    ) -> Answer | None:
        """Record the intent, apply the effect, record its outcome. Raises what the effect
        raised unless the provider turned out to have acted; `IntentSubjectBusy`, with
        nothing done, when `subject` has an intent pending.

        `premise`, if given, is asked once the intent is recorded (the subject is this
        caller's): whether what the change was planned on still holds. When it does not (or
        cannot be asked), the intent is withdrawn — recorded not applied, the provider never
        called — and None returned (or the error raised), for the caller to plan again.

        Cancelled before the provider is called, the intent is withdrawn likewise (if its
        commit went through); cancelled later, see `drive`."""
        intent = self.new_intent(
            kind=kind, tenant_id=tenant_id, payload=payload, audit=audit, key=key, subject=subject
        )
        try:
            async with self._transactions() as tx:
                await tx.intents.add(intent)
                await tx.commit()
        except asyncio.CancelledError:
            # The commit may have gone through before the cancellation came: withdrawn, or
            # the intent would keep its subject waiting for its lease to run out.
            await self._withdraw(effect, intent)
            raise
        if premise is not None:
            try:
                holds = await premise()
            except asyncio.CancelledError:
                await self._withdraw(effect, intent)
                raise
            except BaseException as error:
                await self._record(effect, intent, NOT_APPLIED, error)
                raise
            if not holds:
                await self._record(effect, intent, NOT_APPLIED, None)
                return None
        return await self.drive(effect, intent)

    async def drive(
        self, effect: Effect[T_co], intent: Intent, *, ask_first: bool = False
    ) -> Answer:
        """Call the provider for an intent this caller holds the lease of, and record the
        answer. Raises what the provider raised when it did not act, or when whether it acted
        cannot be known now (the intent stays pending: a retry or reconcile finishes it).

        `ask_first`, for an intent driven before (a call that re-drives a pending one): the
        provider is asked what it holds, and called again only when it holds nothing, as
        reconcile does (`Effect.settle` with `redrive`) — what a provider replays for a key is
        its first answer, which may be stale (a refund pending then, confirmed since) or, once
        the provider has forgotten the key, a refusal of a second refund.

        The lease is renewed while the provider is called, however long that takes; when it
        cannot be renewed because another caller took the intent over, the calls stop and
        `LeaseLost` is raised (the other caller settles the intent).

        Cancelled (an embedder's timeout, a server cancelling the request), the caller still
        finishes what it can without waiting on the provider (docs/adr/0064-cancellation.md):
        the provider's answer, once it came, is recorded; a call never started is withdrawn;
        a call cut short leaves the intent pending with its lease ended, for the next change
        of its subject or reconcile to settle at once rather than after the lease."""
        progress = _Progress(intent.lease_until)
        try:
            return await self._drive(effect, intent, progress, ask_first=ask_first)
        except asyncio.CancelledError:
            if progress.answer is not None:
                await _despite_cancellation(
                    self._record(effect, intent, progress.answer, progress.error)
                )
            elif not progress.called and not ask_first:
                await self._withdraw(effect, intent)
            else:
                await _despite_cancellation(self._let_go(intent, progress.held, progress.renewing))
            raise

    async def _drive(
        self, effect: Effect[T_co], intent: Intent, progress: _Progress, *, ask_first: bool
    ) -> Answer:
        async def calls() -> Answer:
            progress.called = True
            if ask_first:
                return await effect.settle(intent, redrive=True)
            return await effect.apply(intent)

        try:
            answer = await self._leased(intent, calls(), progress)
        except LeaseLost:
            raise
        except Exception as error:
            answer = await _settle(effect, intent, redrive=False)
            if answer.outcome is not Outcome.APPLIED and answer.outcome is not Outcome.PENDING:
                progress.answer, progress.error = answer, error
                await self._record(effect, intent, answer, error)
                raise
            log.warning("intent %s: the provider acted despite %r", intent.id, error)
        progress.answer = answer
        await self._record(effect, intent, answer, None)
        return answer

    async def abandon(self, effect: Effect[T_co], intent: Intent, *, claimed: bool) -> None:
        """For a caller cancelled in the commit of its own transaction that added `intent`
        beside the area's rows (or, `claimed`, took its lease), before it drove it: the commit
        may have gone through. A new intent is withdrawn (the provider was never called for
        it); a claimed one, driven before, has this caller's lease ended. Either way the next
        change of the subject goes ahead at once (docs/adr/0064-cancellation.md)."""
        if claimed:
            await _despite_cancellation(self._let_go(intent, intent.lease_until))
        else:
            await self._withdraw(effect, intent)

    async def _withdraw(self, effect: Effect[T_co], intent: Intent) -> None:
        """Record, despite the caller's cancellation, that the provider was never called."""
        await _despite_cancellation(self._withdrawn(effect, intent))

    async def _withdrawn(self, effect: Effect[T_co], intent: Intent) -> None:
        # The add may still be committing (the caller was cancelled waiting for its answer):
        # recorded before it lands, the withdrawal would find no intent, and the intent land
        # pending after it, keeping its subject waiting for its lease to run out.
        async with self._transactions() as tx:  # rolled back: written only to wait
            await tx.intents.await_add(intent)
        await self._record(effect, intent, NOT_APPLIED, CANCELLED_BEFORE_CALL)

    async def _let_go(self, intent: Intent, *held: datetime | None) -> None:
        """End this caller's lease now, if it is still one it holds (`held`: the lease last
        written, and one a renewal cut short may have written since; an update of the row
        waits for that renewal's transaction to end): the intent stays pending, for the next
        caller to settle without waiting for the lease. Ended outright rather than at this
        caller's now, which a replica whose clock is behind would see as a lease still
        running."""
        ends = [end for end in held if end is not None]
        if not ends:
            return
        now = self._clock.now()
        async with self._transactions() as tx:
            for end in ends:
                await tx.intents.renew(intent.id, held_until=end, until=None, at=now)
            await tx.commit()

    async def _leased(
        self, intent: Intent, calls: Awaitable[Answer], progress: _Progress
    ) -> Answer:
        """`calls` awaited while this caller renews the intent's lease every so often."""
        task = asyncio.ensure_future(calls)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self._renew_every)
                if done:
                    return task.result()
                if progress.held is None:
                    continue
                await self._renew(intent, progress)
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await task

    async def _renew(self, intent: Intent, progress: _Progress) -> None:
        """Move the end of this caller's lease (`progress.held`) on; left as it is when the
        database could not be asked (the next turn tries again). Raises `LeaseLost` when the
        lease is no longer this caller's."""
        held = progress.held
        assert held is not None
        now = self._clock.now()
        since = asyncio.get_running_loop().time()
        # Never sooner than the lease held moved on by the time since it was written, as the
        # event loop's monotonic clock measures it: the wall clock stepping backwards (NTP)
        # would otherwise shorten the lease, and another replica take over a caller alive.
        moved_on = held + timedelta(seconds=max(0.0, since - progress.held_since))
        until = max(now + self._lease, moved_on)
        progress.renewing = until  # cleared once the renewal is known to have ended
        try:
            async with self._transactions() as tx:
                renewed = await tx.intents.renew(intent.id, held_until=held, until=until, at=now)
                await tx.commit()
        except DatabaseUnavailable as error:
            progress.renewing = None
            log.warning("intent %s: its lease could not be renewed: %r", intent.id, error)
            return
        progress.renewing = None
        if not renewed:
            raise LeaseLost(intent.id)
        progress.held, progress.held_since = until, since

    async def reconcile(
        self,
        effects: Mapping[str, Effect[T_co]],
        *,
        older_than: timedelta = RECONCILE_AFTER,
        limit: int = RECONCILE_BATCH,
        kinds: Sequence[str] | None = None,
    ) -> ReconcileReport:
        """Finish the intents left pending (of `kinds`, or every kind) whose lease has run
        out: complete those the provider holds, fail those it does not, leave those it cannot
        be asked about or has not confirmed yet. Reads them `limit` at a time, past those it
        leaves, so that intents it cannot finish never hide the ones after them."""
        created_before = self._clock.now() - older_than
        completed: list[str] = []
        abandoned: list[str] = []
        unresolved: list[str] = []
        after: Intent | None = None
        while True:
            async with self._transactions() as tx:
                page = await tx.intents.pending(
                    created_before=created_before, limit=limit, kinds=kinds, after=after
                )
            for found in page:
                effect = effects.get(found.kind)
                if effect is None:
                    unresolved.append(found.id)
                    continue
                try:
                    outcome = await self.finish(effect, found.id)
                except IntentInProgress:
                    unresolved.append(found.id)
                    continue
                if outcome is Outcome.APPLIED:
                    completed.append(found.id)
                elif outcome is Outcome.NOT_APPLIED:
                    abandoned.append(found.id)
                elif outcome is not None:
                    unresolved.append(found.id)
            if len(page) < limit:
                break
            after = page[-1]
        return ReconcileReport(completed=completed, abandoned=abandoned, unresolved=unresolved)

    async def clear(self, effect: Effect[T_co], subject: str, *, patience_seconds: float) -> None:
        """Return once `subject` has no pending intent (see `step_aside`). Raises
        `SubjectBusy` after `patience_seconds`."""
        for _ in range(wait_steps(patience_seconds)):
            async with self._transactions() as tx:
                busy = await tx.intents.pending_of(subject)
            if busy is None:
                return
            await self.step_aside(effect, busy)
        raise SubjectBusy(subject)

    async def step_aside(self, effect: Effect[T_co], busy: Intent) -> None:
        """One step of waiting for `busy`, the pending intent of a subject the caller is about
        to change: a short pause while its caller still drives it (its lease runs), or, when
        its caller is gone, finish it now as reconcile would — so that a change never lands
        beside an older one still unsettled. Raises `SubjectBusy` when the provider cannot
        say what it holds."""
        if busy.lease_until is not None and busy.lease_until > self._clock.now():
            await asyncio.sleep(WAIT_STEP_SECONDS)
            return
        try:
            outcome = await self.finish(effect, busy.id)
        except IntentInProgress:  # taken over by another caller meanwhile
            await asyncio.sleep(WAIT_STEP_SECONDS)
            return
        if outcome is Outcome.UNKNOWN:
            raise SubjectBusy(busy.subject or busy.id)

    async def finish(self, effect: Effect[T_co], intent_id: str) -> Outcome | None:
        """Settle one intent left pending, as reconcile does: take its lease (raises
        `IntentInProgress` while another caller's runs), ask the provider what it holds, and
        record that. None when the intent was no longer pending."""
        claimed: Intent | None = None
        try:
            async with self._transactions() as tx:
                claimed = await self.claim(tx, intent_id)
                await tx.commit()
        except asyncio.CancelledError:
            # The commit may have gone through: the lease it took is ended again.
            if claimed is not None and claimed.status is IntentStatus.PENDING:
                await _despite_cancellation(self._let_go(claimed, claimed.lease_until))
            raise
        intent = claimed
        if intent.status is not IntentStatus.PENDING:
            return None
        answer: Answer | None = None
        try:
            answer = await _settle(effect, intent, redrive=True)
            await self._record(effect, intent, answer, None)
        except asyncio.CancelledError:  # as in `drive`: the answer recorded, else the lease ended
            if answer is not None:
                await _despite_cancellation(self._record(effect, intent, answer, None))
            else:
                await _despite_cancellation(self._let_go(intent, intent.lease_until))
            raise
        return answer.outcome

    async def _record(
        self,
        effect: Effect[T_co],
        intent: Intent,
        answer: Answer,
        error: BaseException | str | None,
    ) -> None:
        """Record the answer once: applied → the area's writes, the audit entries, done;
        not applied → the area's writes, failed; pending or unknown → the answer kept, the
        lease released, still pending. A concurrent recorder (the request and a reconcile)
        finds the intent no longer pending and writes nothing."""
        outcome = answer.outcome
        status = {
            Outcome.APPLIED: IntentStatus.DONE,
            Outcome.NOT_APPLIED: IntentStatus.FAILED,
        }.get(outcome, IntentStatus.PENDING)
        reason = error if error is None or isinstance(error, str) else repr(error)[:500]
        if reason is None and outcome is Outcome.UNKNOWN:
            reason = "the provider could not be asked"
        now = self._clock.now()
        async with self._transactions() as tx:
            # The area's rows first, then the intent: the order in which a caller that starts
            # or claims an intent beside its own rows locks them (no deadlock between them).
            # The area records the answer as of now (the intent's `updated_at` once settled).
            if outcome is not Outcome.UNKNOWN:
                await effect.record(tx, replace(intent, updated_at=now), answer)
            settled = await tx.intents.settle(
                intent.id, status, at=now, error=reason, result=answer.result
            )
            if not settled:  # recorded by another: this transaction's writes roll back
                recorded = await tx.intents.get(intent.id)
                if (
                    recorded is not None
                    and status is not IntentStatus.PENDING
                    and recorded.status not in (status, IntentStatus.PENDING)
                ):
                    raise LeaseLost(intent.id)  # it decided otherwise: never answer ours
                return
            if outcome is Outcome.APPLIED:
                for record in intent.audit:
                    await tx.audit.append(record)
            await tx.commit()


def wait_steps(patience_seconds: float) -> int:
    """How many looks at a busy subject fit in `patience_seconds`."""
    return max(1, round(patience_seconds / WAIT_STEP_SECONDS))


async def _settle(effect: Effect[Any], intent: Intent, *, redrive: bool) -> Answer:
    try:
        return await effect.settle(intent, redrive=redrive)
    except Exception as error:  # an expected outcome (the provider is down): one line
        log.warning("intent %s: the provider could not be asked: %r", intent.id, error)
        log.debug("intent %s: the provider could not be asked", intent.id, exc_info=True)
        return Answer(Outcome.UNKNOWN)
