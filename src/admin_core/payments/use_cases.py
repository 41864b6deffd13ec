"""Second-opinion sessions: list them, refund one exactly once, finish what a crash left
(SPEC §6.4, docs/adr/0051)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import cast

from admin_core.audit.recording import audit_record, completed_by
from admin_core.kernel.paging import OffsetPage
from admin_core.kernel.principal import Permission, Principal
from admin_core.kernel.validation import FieldChecks, TimeBound
from admin_core.payments.errors import (
    MsoRefundNotAllowed,
    MsoSessionNotFound,
    PaymentProviderError,
)
from admin_core.payments.model import (
    REFUNDABLE,
    MsoSession,
    SessionFilter,
    SessionStatus,
    refund_key,
)
from admin_core.payments.ports import GatewayUnavailable, PaymentsTransaction
from admin_core.payments.refunds import KIND as REFUND_KIND
from admin_core.payments.refunds import payload as refund_payload
from admin_core.payments.session_payments import SessionPayments
from admin_core.side_effects.model import Intent, IntentStatus, Outcome, ReconcileReport
from admin_core.side_effects.runner import (
    PATIENCE_SECONDS,
    RECONCILE_AFTER,
    WAIT_STEP_SECONDS,
    IntentInProgress,
    LeaseLost,
    wait_steps,
)
from admin_core.tenants.known import KnownTenants

REFUND_EVENT = "ADMIN_MSO_SESSION_REFUND"


@dataclass(frozen=True, slots=True, kw_only=True)
class ListSessionsQuery:
    status: str | None = None
    tenant_id: str | None = None
    from_date: TimeBound = None
    to_date: TimeBound = None
    limit: int = 50
    offset: int = 0
    #: Where the page starts: the `next_cursor` of the page before (instead of `offset`).
    cursor: str | None = None


class ListMsoSessions:
    """Sessions newest `scheduled_at` first (then id), with the total. `tenant:manage`; a
    tenant-scoped caller sees its own tenant only (another tenant named → 403); a tenant
    that does not exist → TENANT_NOT_FOUND (looked up only when the page is empty; without
    `tenants`, its page is just empty). A page that has a next one gives its `next_cursor`:
    read with it, the next page starts right after this page's last session, so sessions
    added or removed meanwhile shift nothing (an offset would read one twice or skip one)."""

    def __init__(self, payments: SessionPayments, *, tenants: KnownTenants | None = None) -> None:
        self._transactions = payments.transactions
        self._tenants = tenants

    async def execute(
        self, principal: Principal, query: ListSessionsQuery
    ) -> OffsetPage[MsoSession]:
        checks = FieldChecks()
        status = None
        if query.status is not None:
            try:
                status = SessionStatus(query.status)
            except ValueError:
                checks.fail("status", f"must be one of {', '.join(SessionStatus)}")
        scheduled_from, scheduled_to = checks.time_range(query.from_date, query.to_date)
        checks.page(query.limit, query.offset)
        scope = ("mso_sessions", status, query.tenant_id, scheduled_from, scheduled_to)
        window = checks.window(
            query.cursor, query.limit, query.offset, scope=scope, shape=(datetime, str)
        )
        checks.done()
        tenant_id = principal.visible_tenant(query.tenant_id, Permission.TENANT_MANAGE)
        where = SessionFilter(
            status=status,
            tenant_id=tenant_id,
            scheduled_from=scheduled_from,
            scheduled_to=scheduled_to,
        )
        async with self._transactions() as tx:
            found = await tx.mso_sessions.page(
                where,
                limit=window.reads,
                offset=window.offset,
                after=cast(tuple[datetime, str] | None, window.after),
            )
        if not found.items and tenant_id is not None and self._tenants is not None:
            await self._tenants.require(tenant_id)
        return window.page(found, key=lambda s: (s.scheduled_at, s.id))


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundSessionCommand:
    session_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundOutcome:
    """The session after the call. `in_progress`: the refund is not confirmed yet (the
    provider has not confirmed it, or another caller is driving it now); the session is
    `refund_pending`, and calling again (or reconcile) finishes it with the same key."""

    session: MsoSession
    in_progress: bool


class RefundSession:
    """Refund a session in full through the provider that took the payment, at most once
    whatever retries, concurrent calls, replicas or crashes do.

    Platform scope with `tenant:manage`. A refunded session is answered as it is (the second
    call returns the first's result); refundable statuses start an attempt (or re-drive the
    pending one with its key); others → MSO_REFUND_NOT_ALLOWED. The session is committed as
    `refund_pending` with the attempt's intent before the provider is called; the provider's
    answer is recorded with the audit entry `mso_session.refund` once it confirmed. A
    provider that cannot be reached → PAYMENT_PROVIDER_ERROR `retry_safe: true` (the session
    stays `refund_pending`); a refusal → PAYMENT_PROVIDER_ERROR `retry_safe: false` (the
    session becomes `refund_failed`; a later call starts a new attempt with a new key). A call
    that finds another call driving the attempt waits for it, up to `patience_seconds`, and
    answers what it left; still in progress then → `in_progress` (HTTP 202)."""

    def __init__(
        self, payments: SessionPayments, *, patience_seconds: float = PATIENCE_SECONDS
    ) -> None:
        self._payments = payments
        self._patience_seconds = patience_seconds

    async def execute(self, principal: Principal, command: RefundSessionCommand) -> RefundOutcome:
        principal.require(Permission.TENANT_MANAGE, platform=True)
        checks = FieldChecks()
        reason = checks.reason(command.reason)
        checks.done()
        assert reason is not None
        for step in range(wait_steps(self._patience_seconds)):
            if step:
                await asyncio.sleep(WAIT_STEP_SECONDS)
                if await self._still_driven(command.session_id):
                    continue
            started = await self._start(principal, command.session_id, reason)
            if isinstance(started, RefundOutcome):
                return started
            if started is not None:
                return await self._drive(*started)
        # Another call drove the attempt the whole time: it is still in progress.
        return RefundOutcome(session=await self._session(command.session_id), in_progress=True)

    async def _start(
        self, principal: Principal, session_id: str, reason: str
    ) -> RefundOutcome | tuple[Intent, MsoSession] | None:
        """The attempt this call is to drive, with the session; the outcome when the session
        is refunded already; None while another call drives the pending attempt."""
        payments = self._payments
        committing: Intent | None = None
        claimed = False
        try:
            async with payments.transactions() as tx:
                session = await tx.mso_sessions.get(session_id, lock=True)
                if session is None:
                    raise MsoSessionNotFound(details={"session_id": session_id})
                if session.status is SessionStatus.REFUNDED:
                    return RefundOutcome(session=session, in_progress=False)
                if session.status not in REFUNDABLE:
                    raise MsoRefundNotAllowed(details={"status": session.status.value})
                payments.refunds.gateway(session)  # PAYMENT_PROVIDER_NOT_CONFIGURED first
                try:
                    intent = await self._attempt(tx, principal, session, reason)
                except IntentInProgress:
                    return None
                committing, claimed = intent, intent.id == session.refund_intent_id
                await tx.commit()
        except asyncio.CancelledError:
            if committing is not None and committing.status is IntentStatus.PENDING:
                await payments.side_effects.abandon(payments.refunds, committing, claimed=claimed)
            raise
        return intent, session

    async def _still_driven(self, session_id: str) -> bool:
        """Whether another call still drives the session's pending attempt (its lease runs),
        read without a lock: a waiting call looks this way, and takes the session's lock only
        once there is something to act on."""
        async with self._payments.transactions() as tx:
            session = await tx.mso_sessions.get(session_id)
            if session is None or session.status is not SessionStatus.REFUND_PENDING:
                return False
            if session.refund_intent_id is None:
                return False
            intent = await tx.intents.get(session.refund_intent_id)
        return (
            intent is not None
            and intent.status is IntentStatus.PENDING
            and intent.lease_until is not None
            and intent.lease_until > self._payments.clock.now()
        )

    async def _session(self, session_id: str) -> MsoSession:
        async with self._payments.transactions() as tx:
            session = await tx.mso_sessions.get(session_id)
        assert session is not None  # sessions are never deleted
        return session

    async def _drive(self, intent: Intent, session: MsoSession) -> RefundOutcome:
        """The attempt this call holds, driven to the provider's answer; the session as the
        answer left it. An attempt driven before (the session `refund_pending` with it) is
        first looked up at the provider: its refund as the provider holds it now, not the
        answer the provider saved for the key."""
        payments = self._payments
        redrive = (
            session.status is SessionStatus.REFUND_PENDING and session.refund_intent_id == intent.id
        )
        if intent.status is IntentStatus.PENDING:
            try:
                answer = await payments.side_effects.drive(
                    payments.refunds, intent, ask_first=redrive
                )
            except (GatewayUnavailable, LeaseLost) as error:
                raise PaymentProviderError(
                    "The payment provider could not be reached; the refund is pending and "
                    "calling again is safe.",
                    retry_safe=True,
                    details={"session_id": session.id, "status": "refund_pending"},
                ) from error
            if answer.outcome is Outcome.NOT_APPLIED:
                result = answer.result or {}
                raise PaymentProviderError(
                    f"The payment provider refused the refund: {result.get('error')}",
                    retry_safe=False,
                    details={"session_id": session.id, "provider_code": result.get("code")},
                )
        current = await self._session(session.id)  # as the answer left it
        return RefundOutcome(
            session=current, in_progress=current.status is SessionStatus.REFUND_PENDING
        )

    async def _attempt(
        self, tx: PaymentsTransaction, principal: Principal, session: MsoSession, reason: str
    ) -> Intent:
        """The attempt to drive, leased to this call (the pending one, or a new one); a new
        one is committed beside the session marked `refund_pending`."""
        side_effects = self._payments.side_effects
        if session.status is SessionStatus.REFUND_PENDING and session.refund_intent_id:
            intent = await side_effects.claim(tx, session.refund_intent_id)
            if intent.status is not IntentStatus.PENDING:
                return intent
            # This call drives the attempt now: its entry, still of who asked for the refund,
            # names this call too.
            audit = tuple(completed_by(r, principal) for r in intent.audit)
            await tx.intents.reassign(intent.id, audit)
            return replace(intent, audit=audit)
        attempt = session.refund_attempts + 1
        gateway = self._payments.refunds.gateway(session)
        record = audit_record(
            principal,
            action="mso_session.refund",
            event_type=REFUND_EVENT,
            resource_type="mso_session",
            resource_id=session.id,
            tenant_id=session.tenant_id,
            case_id=session.case_id,
            patient_id=session.patient_id,
            before={"status": session.status.value},
            after={
                "status": SessionStatus.REFUNDED.value,
                "amount_minor": session.amount_minor,
                "currency": session.currency,
                "provider": gateway.name,
                "idempotency_key": refund_key(session.id, attempt),
                "reason": reason,
            },
        )
        intent = side_effects.new_intent(
            kind=REFUND_KIND,
            tenant_id=session.tenant_id,
            payload=refund_payload(session, reason),
            audit=[record],
            key=refund_key(session.id, attempt),
        )
        pending = replace(
            session,
            status=SessionStatus.REFUND_PENDING,
            refund=None,
            refund_attempts=attempt,
            refund_intent_id=intent.id,
            updated_at=intent.created_at,
        )
        await tx.intents.add(intent)
        await tx.mso_sessions.update(pending)
        return intent


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcileRefundsCommand:
    """Attempts pending for longer than `older_than` (and not driven by a caller now)."""

    older_than: timedelta = RECONCILE_AFTER


class ReconcileRefunds:
    """Finish the refunds left `refund_pending`: each attempt is looked up at its provider by
    its key and re-driven with that key when the provider has none, then recorded — refunded
    (with its audit entry), still pending, or failed. Platform scope with `tenant:manage`;
    `adminctl sessions reconcile` and `adminctl serve`'s periodic reconcile run it."""

    def __init__(self, payments: SessionPayments) -> None:
        self._payments = payments

    async def execute(
        self, principal: Principal, command: ReconcileRefundsCommand
    ) -> ReconcileReport:
        principal.require(Permission.TENANT_MANAGE, platform=True)
        payments = self._payments
        return await payments.side_effects.reconcile(
            payments.effects, older_than=command.older_than, kinds=[REFUND_KIND]
        )
