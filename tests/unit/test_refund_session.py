"""RefundSession and ReconcileRefunds on the in-memory adapters and the sandbox gateway, with
faults: a refund happens at most once, `refunded` only once the provider confirmed, and a
crash, a lost answer or an unconfirmed refund is finished by the next call or by reconcile
with the same idempotency key (SPEC §6.4, docs/adr/0051)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from adapters.memory.runtime import SequentialIds
from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryTransactions
from admin_core.kernel.errors import InsufficientPermission, ValidationFailed
from admin_core.kernel.principal import Principal
from admin_core.payments.errors import PaymentProviderError, PaymentProviderNotConfigured
from admin_core.payments.model import PaymentProvider, RefundStatus, SessionStatus, refund_key
from admin_core.payments.refunds import GatewayRegistry, SessionRefunds
from admin_core.payments.session_payments import SessionPayments
from admin_core.payments.use_cases import (
    ListMsoSessions,
    ListSessionsQuery,
    ReconcileRefundsCommand,
    RefundSession,
    RefundSessionCommand,
)
from admin_core.side_effects.model import Intent, IntentStatus
from admin_core.side_effects.runner import LEASE, RECONCILE_BATCH
from admin_core.tenants.errors import TenantNotFound
from admin_core.tenants.known import KnownTenants
from tests.support.payments import (
    AdvancingClock,
    Crash,
    Fault,
    PaymentsWorld,
    add_sessions,
    payments_world,
    sessions,
)
from tests.support.use_cases import platform_caller, tenant_caller

NOW = ReconcileRefundsCommand(older_than=timedelta(0))


async def world_with(count: int = 3) -> PaymentsWorld:
    clock = AdvancingClock()
    transactions = InMemoryTransactions(InMemoryStore(), clock, SequentialIds())
    await add_sessions(transactions, sessions(count))
    return payments_world(transactions, clock)


def refund_of(session_id: str) -> RefundSessionCommand:
    return RefundSessionCommand(session_id=session_id, reason="patient asked")


def made(world: PaymentsWorld) -> int:
    """Refunds the provider really made."""
    store = world.payments.transactions.store  # type: ignore[attr-defined]
    return len(store.sandbox_refunds)


async def test_a_refund_is_made_once_and_a_second_call_answers_the_same() -> None:
    world = await world_with()
    first = await world.refund.execute(world.operator, refund_of("mso_00000"))
    assert first.session.status is SessionStatus.REFUNDED
    assert not first.in_progress
    assert first.session.refund is not None
    assert first.session.refund.status is RefundStatus.SUCCEEDED
    second = await world.refund.execute(world.operator, refund_of("mso_00000"))
    assert second.session == first.session
    assert made(world) == 1
    [entry] = await world.audit_entries("mso_00000")
    assert entry.after["idempotency_key"] == refund_key("mso_00000", 1)


async def test_a_crash_after_the_provider_acted_is_finished_by_the_next_call() -> None:
    world = await world_with()
    world.gateway.next(Fault.CRASH_AFTER)
    with pytest.raises(Crash):
        await world.refund.execute(world.operator, refund_of("mso_00000"))
    assert (await world.session("mso_00000")).status is SessionStatus.REFUND_PENDING
    assert made(world) == 1
    busy = await world.refund.execute(world.operator, refund_of("mso_00000"))
    assert busy.in_progress  # the dead caller's lease still runs
    world.clock.advance(LEASE)  # type: ignore[attr-defined]
    done = await world.refund.execute(world.operator, refund_of("mso_00000"))
    assert done.session.status is SessionStatus.REFUNDED
    assert made(world) == 1
    assert len(await world.audit_entries("mso_00000")) == 1


async def test_a_crash_after_the_provider_acted_is_finished_by_reconcile() -> None:
    world = await world_with()
    world.gateway.next(Fault.CRASH_AFTER)
    with pytest.raises(Crash):
        await world.refund.execute(world.operator, refund_of("mso_00001"))
    world.clock.advance(LEASE)  # type: ignore[attr-defined]
    report = await world.reconcile.execute(world.operator, NOW)
    assert len(report.completed) == 1
    assert (await world.session("mso_00001")).status is SessionStatus.REFUNDED
    again = await world.reconcile.execute(world.operator, NOW)
    assert list(again.completed) == []
    assert made(world) == 1
    assert len(await world.audit_entries("mso_00001")) == 1


@pytest.mark.parametrize("every_kind", [False, True], ids=["refunds", "every kind"])
async def test_reconcile_reaches_a_refund_behind_many_older_intents_it_cannot_finish(
    every_kind: bool,
) -> None:
    world = await world_with()
    older = world.clock.now() - timedelta(hours=1)
    async with world.payments.transactions() as tx:
        for n in range(RECONCILE_BATCH + 50):
            await tx.intents.add(foreign_intent(f"int_old_{n:03}", at=older))
        await tx.commit()
    world.gateway.next(Fault.CRASH_AFTER)
    with pytest.raises(Crash):
        await world.refund.execute(world.operator, refund_of("mso_00002"))
    world.clock.advance(LEASE)  # type: ignore[attr-defined]
    if every_kind:  # what `adminctl reconcile` runs: the others stay unresolved
        payments = world.payments
        report = await payments.side_effects.reconcile(payments.effects, older_than=timedelta(0))
        assert len(report.unresolved) == RECONCILE_BATCH + 50
    else:
        report = await world.reconcile.execute(world.operator, NOW)
        assert list(report.unresolved) == []
    assert len(report.completed) == 1
    assert (await world.session("mso_00002")).status is SessionStatus.REFUNDED


def foreign_intent(intent_id: str, *, at: datetime) -> Intent:
    """A pending intent of another area (a membership change Clerk has not confirmed)."""
    return Intent(
        id=intent_id,
        kind="identity.membership",
        key=intent_id,
        tenant_id=None,
        payload={},
        audit=(),
        status=IntentStatus.PENDING,
        created_at=at,
        updated_at=at,
        lease_until=None,
    )


@pytest.mark.parametrize("fault", [Fault.UNREACHABLE, Fault.TIMEOUT_AFTER])
async def test_an_unreachable_provider_is_a_retry_safe_502_and_a_retry_completes_once(
    fault: Fault,
) -> None:
    world = await world_with()
    world.gateway.next(fault)
    with pytest.raises(PaymentProviderError) as raised:
        await world.refund.execute(world.operator, refund_of("mso_00000"))
    assert raised.value.details["retry_safe"] is True
    assert (await world.session("mso_00000")).status is SessionStatus.REFUND_PENDING
    assert await world.audit_entries("mso_00000") == []
    retried = await world.refund.execute(world.operator, refund_of("mso_00000"))
    assert retried.session.status is SessionStatus.REFUNDED
    assert made(world) == 1
    assert len(await world.audit_entries("mso_00000")) == 1


@pytest.mark.parametrize("fault", [Fault.UNREACHABLE, Fault.TIMEOUT_AFTER])
async def test_a_refund_finished_by_another_callers_retry_names_both_calls(fault: Fault) -> None:
    """The entry stays that of who asked for the refund (who, by which request, why), and
    names the call that took the attempt over and finished it."""
    world = await world_with()
    first = replace(world.operator, user_id="user_alice", request_id="req-alice")
    second = replace(world.operator, user_id="user_bob", request_id="req-bob")
    before = (await world.session("mso_00000")).status
    world.gateway.next(fault)
    with pytest.raises(PaymentProviderError):
        await world.refund.execute(
            first, RefundSessionCommand(session_id="mso_00000", reason="alice asked")
        )
    await world.refund.execute(
        second, RefundSessionCommand(session_id="mso_00000", reason="bob retried")
    )
    [entry] = await world.audit_entries("mso_00000")
    assert (entry.actor_id, entry.request_id, entry.after["reason"]) == (
        "user_alice",
        "req-alice",
        "alice asked",
    )
    assert entry.after["completed_by"] == {"actor_id": "user_bob", "request_id": "req-bob"}
    assert (entry.before, entry.after["status"]) == ({"status": before.value}, "refunded")
    assert entry.after["idempotency_key"] == refund_key("mso_00000", 1)


async def test_a_refund_reconcile_completes_stays_the_entry_of_who_asked_for_it() -> None:
    world = await world_with()
    asker = replace(world.operator, user_id="user_alice", request_id="req-alice")
    world.gateway.next(Fault.UNREACHABLE)
    with pytest.raises(PaymentProviderError):
        await world.refund.execute(asker, refund_of("mso_00000"))
    world.clock.advance(LEASE)  # type: ignore[attr-defined]
    report = await world.reconcile.execute(world.operator, NOW)
    assert len(report.completed) == 1
    [entry] = await world.audit_entries("mso_00000")
    assert (entry.actor_id, entry.request_id) == ("user_alice", "req-alice")
    assert "completed_by" not in entry.after  # reconcile finishes the asker's own request


async def test_a_lost_answer_is_found_by_its_key_without_a_second_refund() -> None:
    world = await world_with()
    world.gateway.next(Fault.LOST_ANSWER)
    outcome = await world.refund.execute(world.operator, refund_of("mso_00001"))
    assert outcome.session.status is SessionStatus.REFUNDED
    assert made(world) == 1
    assert len(await world.audit_entries("mso_00001")) == 1


async def test_a_refusal_fails_the_attempt_and_a_later_call_starts_a_new_one() -> None:
    world = await world_with()
    world.gateway.next(Fault.REFUSE)
    with pytest.raises(PaymentProviderError) as raised:
        await world.refund.execute(world.operator, refund_of("mso_00002"))
    assert raised.value.details["retry_safe"] is False
    assert (await world.session("mso_00002")).status is SessionStatus.REFUND_FAILED
    again = await world.refund.execute(world.operator, refund_of("mso_00002"))
    assert again.session.status is SessionStatus.REFUNDED
    assert again.session.refund_attempts == 2
    [entry] = await world.audit_entries("mso_00002")
    assert entry.after["idempotency_key"] == refund_key("mso_00002", 2)


async def test_an_unconfirmed_refund_stays_pending_until_the_provider_confirms() -> None:
    world = await world_with()
    world.gateway.next(Fault.UNCONFIRMED)
    outcome = await world.refund.execute(world.operator, refund_of("mso_00000"))
    assert outcome.in_progress
    assert outcome.session.status is SessionStatus.REFUND_PENDING
    assert outcome.session.refund is not None
    assert outcome.session.refund.status is RefundStatus.PENDING
    world.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
    report = await world.reconcile.execute(world.operator, NOW)
    assert list(report.completed) == []
    assert len(report.unresolved) == 1
    world.gateway.confirm_all()
    report = await world.reconcile.execute(world.operator, NOW)
    assert len(report.completed) == 1
    assert (await world.session("mso_00000")).status is SessionStatus.REFUNDED
    assert made(world) == 1
    assert len(await world.audit_entries("mso_00000")) == 1


async def test_concurrent_calls_make_one_refund_and_each_gets_an_answer() -> None:
    world = await world_with()
    outcomes = await asyncio.gather(
        *(world.refund.execute(world.operator, refund_of("mso_00000")) for _ in range(20))
    )
    assert {o.session.status for o in outcomes} <= {
        SessionStatus.REFUNDED,
        SessionStatus.REFUND_PENDING,
    }
    assert all(o.in_progress for o in outcomes if o.session.status is not SessionStatus.REFUNDED)
    assert made(world) == 1
    assert len(await world.audit_entries("mso_00000")) == 1


# --------------------------------------------------------------------------- state machine

SESSIONS = [f"mso_{n:05d}" for n in range(3)]


class RefundMachine(RuleBasedStateMachine):
    """Random interleavings of refunds, retries, crashes, provider failures, confirmations,
    time passing and reconcile. Invariants: at most one refund per session at the provider;
    `refunded` only when the provider holds a confirmed refund; one audit entry per refunded
    session, none for the others."""

    @initialize()
    def start(self) -> None:
        self.world = asyncio.run(world_with(len(SESSIONS)))

    def _run(self, coroutine: object) -> object:
        return asyncio.run(coroutine)  # type: ignore[arg-type]

    @rule(session=st.sampled_from(SESSIONS))
    def refund(self, session: str) -> None:
        try:
            self._run(self.world.refund.execute(self.world.operator, refund_of(session)))
        except (PaymentProviderError, Crash):
            pass
        except Exception as error:  # MSO_REFUND_NOT_ALLOWED cannot happen: all refundable
            raise AssertionError(f"unexpected {error!r}") from error

    @rule(fault=st.sampled_from(list(Fault)))
    def provider_fault_next(self, fault: Fault) -> None:
        self.world.gateway.next(fault)

    @rule()
    def provider_confirms(self) -> None:
        self.world.gateway.confirm_all()

    @rule()
    def time_passes(self) -> None:
        self.world.clock.advance(LEASE)  # type: ignore[attr-defined]

    @rule()
    def reconcile(self) -> None:
        with contextlib.suppress(Crash):  # reconcile's process can die too
            self._run(self.world.reconcile.execute(self.world.operator, NOW))

    @precondition(lambda self: hasattr(self, "world"))
    @invariant()
    def at_most_one_refund_and_refunded_only_when_confirmed(self) -> None:
        store = self.world.payments.transactions.store  # type: ignore[attr-defined]
        by_payment: dict[str, int] = {}
        for _, payment_ref, _ in store.sandbox_refunds:
            by_payment[payment_ref] = by_payment.get(payment_ref, 0) + 1
        assert all(count == 1 for count in by_payment.values()), by_payment
        refunded_ids = {r.id for _, _, r in store.sandbox_refunds}
        for session_id in SESSIONS:
            session = store.mso_sessions[session_id]
            entries = [
                e
                for e in store.audit_entries
                if e.action == "mso_session.refund" and e.resource_id == session_id
            ]
            if session.status is SessionStatus.REFUNDED:
                assert session.refund is not None
                assert session.refund.id in refunded_ids
                assert session.refund.id not in self.world.gateway.unconfirmed
                assert len(entries) == 1
            else:
                assert entries == []


RefundMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestRefundStateMachine = RefundMachine.TestCase


async def test_a_refunded_session_is_stamped_when_the_refund_was_recorded() -> None:
    """The session's `updated_at` is when its last change (the provider's answer) was
    recorded, not when the attempt began: here a retry a minute after an unreachable
    provider."""
    world = await world_with()
    world.gateway.next(Fault.UNREACHABLE)
    with pytest.raises(PaymentProviderError):
        await world.refund.execute(world.operator, refund_of("mso_00000"))
    began = (await world.session("mso_00000")).updated_at
    assert isinstance(world.clock, AdvancingClock)
    world.clock.advance(timedelta(minutes=1))
    retried = await world.refund.execute(world.operator, refund_of("mso_00000"))
    stored = await world.session("mso_00000")
    assert stored.status is SessionStatus.REFUNDED
    assert stored.updated_at == began + timedelta(minutes=1)
    assert retried.session == stored


async def test_the_refund_entry_names_the_sessions_case_and_patient() -> None:
    """So that the audit log's `case_id` and `patient_id` filters find the refund."""
    world = await world_with()
    await world.refund.execute(world.operator, refund_of("mso_00001"))
    [entry] = await world.audit_entries("mso_00001")
    session = await world.session("mso_00001")
    assert (entry.case_id, entry.patient_id) == (session.case_id, session.patient_id)


async def test_a_refused_attempt_is_audited_with_who_asked_and_what_failed() -> None:
    """The session went from `completed` to `refund_failed`: that change has its entry too,
    and the refund that follows starts from `refund_failed`."""
    world = await world_with()
    before = (await world.session("mso_00002")).status
    world.gateway.next(Fault.REFUSE)
    with pytest.raises(PaymentProviderError):
        await world.refund.execute(world.operator, refund_of("mso_00002"))
    await world.refund.execute(world.operator, refund_of("mso_00002"))
    store = world.payments.transactions.store  # type: ignore[attr-defined]
    entries = sorted(
        (e for e in store.audit_entries if e.resource_id == "mso_00002"), key=lambda e: e.seq
    )
    assert [(e.action, e.before["status"], e.after["status"]) for e in entries] == [
        ("mso_session.refund_failed", before.value, "refund_failed"),
        ("mso_session.refund", "refund_failed", "refunded"),
    ]
    failed = entries[0]
    assert failed.actor_id == world.operator.user_id
    assert failed.after["idempotency_key"] == refund_key("mso_00002", 1)
    assert failed.after["error"]
    # The attempt's own plan stays in its failure entry: which provider, and why it was asked.
    session = await world.session("mso_00002")
    assert failed.after["provider"] == session.payment_provider.value
    assert failed.after["reason"] == refund_of("mso_00002").reason


async def test_a_call_meeting_a_refund_in_flight_waits_and_answers_its_result() -> None:
    """SPEC §6.4: two concurrent calls make one refund and the second returns the same
    result — not 202 while the provider takes a moment to answer the first."""
    world = await world_with()
    world.patience_seconds = 5.0
    world.gateway.next(Fault.SLOW)
    first, second = await asyncio.gather(
        world.refund.execute(world.operator, refund_of("mso_00000")),
        world.refund.execute(world.operator, refund_of("mso_00000")),
    )
    assert (first.in_progress, second.in_progress) == (False, False)
    assert first.session == second.session
    assert first.session.status is SessionStatus.REFUNDED
    assert made(world) == 1
    assert len(await world.audit_entries("mso_00000")) == 1


async def test_a_call_gives_up_waiting_after_its_patience_with_202() -> None:
    world = await world_with()
    world.patience_seconds = 0.1  # shorter than the slow provider's answer
    world.gateway.next(Fault.SLOW)
    first, second = await asyncio.gather(
        world.refund.execute(world.operator, refund_of("mso_00000")),
        world.refund.execute(world.operator, refund_of("mso_00000")),
    )
    assert sorted([first.in_progress, second.in_progress]) == [False, True]
    assert made(world) == 1


async def test_a_session_whose_provider_has_no_gateway_is_not_configured_and_keeps_its_status() -> (
    None
):
    """PAYMENT_PROVIDER_NOT_CONFIGURED before anything is written: no attempt, no refund."""
    clock = AdvancingClock()
    transactions = InMemoryTransactions(InMemoryStore(), clock, SequentialIds())
    await add_sessions(transactions, sessions(1, provider=PaymentProvider.STRIPE))
    world = payments_world(transactions, clock)
    only_sandbox = GatewayRegistry({PaymentProvider.SANDBOX: world.gateway})
    payments = SessionPayments(
        transactions=transactions,
        refunds=SessionRefunds(only_sandbox),
        side_effects=world.payments.side_effects,
        clock=clock,
    )
    with pytest.raises(PaymentProviderNotConfigured) as refused:
        await RefundSession(payments).execute(world.operator, refund_of("mso_00000"))
    assert refused.value.details == {"payment_provider": "stripe"}
    session = await world.session("mso_00000")
    assert (session.status, session.refund_attempts, session.refund) == (
        SessionStatus.COMPLETED,
        0,
        None,
    )
    assert made(world) == 0
    assert await world.audit_entries("mso_00000") == []


async def test_listing_sessions_refuses_an_unknown_status_by_name() -> None:
    world = await world_with()
    with pytest.raises(ValidationFailed) as refused:
        await world.list_sessions.execute(world.operator, ListSessionsQuery(status="lost"))
    [error] = refused.value.errors
    assert error.field == "status"
    assert "refund_pending" in error.message


async def test_listing_sessions_of_a_tenant_that_does_not_exist_is_tenant_not_found() -> None:
    clock = AdvancingClock()
    store = InMemoryStore()
    transactions = InMemoryTransactions(store, clock, SequentialIds())
    await add_sessions(transactions, sessions(2))
    world = payments_world(transactions, clock)
    listing = ListMsoSessions(world.payments, tenants=KnownTenants(transactions))
    with pytest.raises(TenantNotFound):
        await listing.execute(world.operator, ListSessionsQuery(tenant_id="nowhere"))


@pytest.mark.parametrize(
    ("limit", "offset", "fields"),
    [(0, 0, {"limit"}), (201, 0, {"limit"}), (1, -1, {"offset"}), (0, -1, {"limit", "offset"})],
)
async def test_listing_sessions_refuses_a_page_out_of_bounds(
    limit: int, offset: int, fields: set[str]
) -> None:
    world = await world_with()
    with pytest.raises(ValidationFailed) as refused:
        await world.list_sessions.execute(
            world.operator, ListSessionsQuery(limit=limit, offset=offset)
        )
    assert {e.field for e in refused.value.errors} == fields


async def test_listing_sessions_takes_the_bounds_of_a_page() -> None:
    world = await world_with(3)
    first = await world.list_sessions.execute(world.operator, ListSessionsQuery(limit=1))
    assert [s.id for s in first.items] == ["mso_00000"]
    assert first.total == 3
    last = await world.list_sessions.execute(world.operator, ListSessionsQuery(limit=200, offset=2))
    assert [s.id for s in last.items] == ["mso_00002"]


@pytest.mark.parametrize(
    "caller",
    [
        tenant_caller("org:admin", "apollo"),
        tenant_caller("org:provider:admin", "apollo"),
        platform_caller("org:coordinator"),
    ],
    ids=["tenant admin", "provider admin", "coordinator"],
)
async def test_only_platform_managers_refund_and_a_refused_caller_changes_nothing(
    caller: Principal,
) -> None:
    world = await world_with(1)
    with pytest.raises(InsufficientPermission):
        await world.refund.execute(caller, refund_of("mso_00000"))
    session = await world.session("mso_00000")
    assert (session.status, session.refund_attempts) == (SessionStatus.COMPLETED, 0)
    assert made(world) == 0


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
async def test_a_refund_without_a_fit_reason_is_refused_and_changes_nothing(reason: str) -> None:
    world = await world_with(1)
    with pytest.raises(ValidationFailed) as refused:
        await world.refund.execute(
            world.operator, RefundSessionCommand(session_id="mso_00000", reason=reason)
        )
    assert [e.field for e in refused.value.errors] == ["reason"]
    assert (await world.session("mso_00000")).status is SessionStatus.COMPLETED
    assert made(world) == 0
