"""Refunds wired for tests: the session use cases over any transactions, a gateway of
choice, and `FaultyGateway`, a real gateway (the sandbox, or one on a fake provider) with
faults switched on: unreachable before it acts, unreachable after it acted (a lost answer),
a process that dies right after the provider acted, a refusal, unconfirmed refunds."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.memory.runtime import SequentialIds
from adapters.sandbox.gateway import SandboxPaymentGateway
from admin_core.kernel.principal import Principal
from admin_core.kernel.runtime import Clock
from admin_core.payments.model import (
    MsoSession,
    PaymentProvider,
    Refund,
    RefundStatus,
    SessionStatus,
)
from admin_core.payments.ports import (
    GatewayRefused,
    GatewayUnavailable,
    PaymentGateway,
    RefundRequest,
)
from admin_core.payments.refunds import GatewayRegistry, SessionRefunds
from admin_core.payments.session_payments import SessionPayments
from admin_core.payments.use_cases import (
    ListMsoSessions,
    ReconcileRefunds,
    RefundSession,
)
from admin_core.side_effects.runner import SideEffects
from tests.support.use_cases import platform_caller

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Crash(BaseException):
    """The process dies here: nothing after it runs (not an `Exception`: no handler of ours
    catches it)."""


#: How long a `Fault.SLOW` provider takes to answer.
SLOW_SECONDS = 0.3


class Fault(enum.Enum):
    UNREACHABLE = "unreachable"  # fails before the provider acts
    LOST_ANSWER = "lost_answer"  # the provider acts; its answer never arrives
    TIMEOUT_AFTER = "timeout_after"  # the provider acts; the answer and the lookup time out
    CRASH_AFTER = "crash_after"  # the provider acts; the process dies before recording it
    REFUSE = "refuse"  # the provider refuses (a definite failure)
    UNCONFIRMED = "unconfirmed"  # the provider accepts; confirms only on `confirm_all`
    SLOW = "slow"  # the provider answers after `SLOW_SECONDS`


class FaultyGateway(PaymentGateway):
    def __init__(self, inner: PaymentGateway) -> None:
        self.inner = inner
        self.name = inner.name
        self.faults: list[Fault] = []
        self.unconfirmed: set[str] = set()
        self.calls = 0
        self._lookups_down = 0

    def next(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def confirm_all(self) -> None:
        self.unconfirmed.clear()

    async def refund(self, request: RefundRequest) -> Refund:
        self.calls += 1
        fault = self.faults.pop(0) if self.faults else None
        if fault is Fault.UNREACHABLE:
            raise GatewayUnavailable("connection refused")
        if fault is Fault.REFUSE:
            raise GatewayRefused("card issuer declined the refund", code="refund_declined")
        if fault is Fault.SLOW:
            await asyncio.sleep(SLOW_SECONDS)
        refund = await self.inner.refund(request)
        if fault is Fault.UNCONFIRMED:
            self.unconfirmed.add(refund.id)
        if fault is Fault.LOST_ANSWER:
            raise GatewayUnavailable("read timed out")
        if fault is Fault.TIMEOUT_AFTER:
            self._lookups_down += 1
            raise GatewayUnavailable("read timed out")
        if fault is Fault.CRASH_AFTER:
            raise Crash
        return self._as_confirmed(refund)

    async def find_refund(self, request: RefundRequest) -> Refund | None:
        if self._lookups_down:
            self._lookups_down -= 1
            raise GatewayUnavailable("read timed out")
        found = await self.inner.find_refund(request)
        return None if found is None else self._as_confirmed(found)

    def _as_confirmed(self, refund: Refund) -> Refund:
        if refund.id in self.unconfirmed:
            return replace(refund, status=RefundStatus.PENDING)
        return refund


class AdvancingClock(Clock):
    """Time that moves only when told to (`advance`)."""

    def __init__(self, start: datetime = T0) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, by: timedelta) -> None:
        self.current += by


@dataclass
class PaymentsWorld:
    payments: SessionPayments
    gateway: FaultyGateway
    clock: Clock
    operator: Principal = field(default_factory=lambda: platform_caller("org:admin"))
    #: How long a refund waits for another call driving the same attempt; none by default
    #: here: a crash leaves a live lease behind, and the next call answers at once.
    patience_seconds: float = 0.0

    @property
    def refund(self) -> RefundSession:
        return RefundSession(self.payments, patience_seconds=self.patience_seconds)

    @property
    def reconcile(self) -> ReconcileRefunds:
        return ReconcileRefunds(self.payments)

    @property
    def list_sessions(self) -> ListMsoSessions:
        return ListMsoSessions(self.payments)

    async def session(self, session_id: str) -> MsoSession:
        async with self.payments.transactions() as tx:
            found = await tx.mso_sessions.get(session_id)
        assert found is not None
        return found

    async def audit_entries(self, session_id: str) -> list[Any]:
        from admin_core.audit.model import AuditFilter

        async with self.payments.transactions() as tx:
            entries = await tx.audit.query(
                AuditFilter(action="mso_session.refund"), before=None, limit=500
            )
        return [e for e in entries if e.resource_id == session_id]


def payments_world(
    transactions: Any, clock: Clock, gateway: PaymentGateway | None = None
) -> PaymentsWorld:
    """The session use cases on `transactions`, every provider refunded by `gateway` (the
    sandbox on the same transactions by default) wrapped in a `FaultyGateway`."""
    inner = gateway or SandboxPaymentGateway(transactions, clock, SequentialIds())
    faulty = FaultyGateway(inner)
    registry = GatewayRegistry(dict.fromkeys(PaymentProvider, faulty))
    payments = SessionPayments(
        transactions=transactions,
        refunds=SessionRefunds(registry),
        side_effects=SideEffects(transactions, clock, SequentialIds()),
        clock=clock,
    )
    return PaymentsWorld(payments=payments, gateway=faulty, clock=clock)


def sessions(
    count: int,
    *,
    tenant_id: str = "apollo",
    status: SessionStatus = SessionStatus.COMPLETED,
    provider: PaymentProvider = PaymentProvider.SANDBOX,
    prefix: str = "mso",
    payment_prefix: str | None = None,
) -> list[MsoSession]:
    refs = payment_prefix or {"stripe": "pi_", "razorpay": "pay_", "sandbox": "sbx_pay_"}[provider]
    return [
        MsoSession(
            id=f"{prefix}_{n:05d}",
            tenant_id=tenant_id,
            patient_id=f"pat_{n}",
            case_id=f"case_{n}",
            mso_doctor_id="msd_1",
            scheduled_at=T0 - timedelta(hours=n),
            status=status,
            amount_minor=250_000,
            currency="INR",
            payment_provider=provider,
            payment_ref=f"{refs}{prefix}{n:05d}",
            refund=None,
            created_at=T0 - timedelta(days=3),
            updated_at=T0 - timedelta(days=3),
        )
        for n in range(count)
    ]


async def add_sessions(transactions: Any, items: Sequence[MsoSession]) -> None:
    async with transactions() as tx:
        await tx.mso_sessions.add_many(items)
        await tx.commit()
