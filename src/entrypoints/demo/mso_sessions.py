"""The demo's second-opinion sessions: every status in every tenant, paid through all three
gateways. Sessions are booked and paid by the booking service, not by an admin action, so
they are written as rows (no audit entry); the refunded ones carry their sandbox refund."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from admin_core.payments.model import (
    MsoSession,
    PaymentProvider,
    Refund,
    RefundStatus,
    SessionStatus,
)

#: What a second opinion costs, per tenant currency (minor units).
_FEES = {"INR": 1_500_000, "THB": 650_000, "TRY": 600_000, "EUR": 18_000, "USD": 20_000}
_PROVIDERS = (PaymentProvider.STRIPE, PaymentProvider.RAZORPAY, PaymentProvider.SANDBOX)
#: Where each status sits in time: booked sessions ahead, finished ones behind.
_FUTURE = {
    SessionStatus.PENDING_PAYMENT,
    SessionStatus.PAID,
    SessionStatus.SCHEDULED,
    SessionStatus.IN_PROGRESS,
}


def demo_sessions(
    tenants: Mapping[str, str],
    doctors: Mapping[str, Sequence[str]],
    *,
    now: datetime,
) -> list[MsoSession]:
    """Sessions of each tenant (`tenants`: tenant id → currency), one per status and
    gateway, with that tenant's doctors (`doctors`: tenant id → doctor ids)."""
    sessions = []
    for t, (tenant_id, currency) in enumerate(sorted(tenants.items())):
        team = doctors.get(tenant_id) or ("msd_unassigned",)
        for s, status in enumerate(SessionStatus):
            for p, provider in enumerate(_PROVIDERS):
                n = (t * len(SessionStatus) + s) * len(_PROVIDERS) + p
                ahead = timedelta(days=1 + n % 20, hours=n % 9)
                scheduled = now + ahead if status in _FUTURE else now - ahead - timedelta(days=2)
                created = min(scheduled, now) - timedelta(days=3)
                amount = _FEES.get(currency, 20_000)
                sessions.append(
                    MsoSession(
                        id=f"mso_{tenant_id.split('-')[0]}_{s:02d}{p}",
                        tenant_id=tenant_id,
                        patient_id=f"pat_{n:04d}",
                        case_id=f"case_{n:04d}",
                        mso_doctor_id=team[n % len(team)],
                        scheduled_at=scheduled,
                        status=status,
                        amount_minor=amount,
                        currency=currency,
                        payment_provider=provider,
                        payment_ref=_payment_ref(provider, n),
                        refund=_refund(status, n, amount, currency, created),
                        created_at=created,
                        updated_at=created,
                    )
                )
    return sessions


def _payment_ref(provider: PaymentProvider, n: int) -> str:
    if provider is PaymentProvider.STRIPE:
        return f"pi_demo{n:06d}"
    if provider is PaymentProvider.RAZORPAY:
        return f"pay_demo{n:06d}"
    return f"sbx_pay_{n:06d}"


def _refund(
    status: SessionStatus, n: int, amount: int, currency: str, at: datetime
) -> Refund | None:
    if status is not SessionStatus.REFUNDED:
        return None
    return Refund(
        id=f"sbx_re_demo{n:04d}",
        status=RefundStatus.SUCCEEDED,
        amount_minor=amount,
        currency=currency,
        provider="sandbox",
        created_at=at + timedelta(days=1),
    )
