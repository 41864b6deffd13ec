"""Second-opinion (MSO) sessions and their refunds (SPEC §6.4)."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime

#: A session id: also part of its refunds' idempotency keys, which Razorpay limits to
#: `[A-Za-z0-9_-]`.
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class SessionStatus(enum.StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    PAYMENT_FAILED = "payment_failed"
    REFUND_PENDING = "refund_pending"
    REFUNDED = "refunded"
    REFUND_FAILED = "refund_failed"


#: The statuses a refund may start from; `refund_pending` is re-driven with its own key.
REFUNDABLE = frozenset(
    {
        SessionStatus.PAID,
        SessionStatus.SCHEDULED,
        SessionStatus.COMPLETED,
        SessionStatus.CANCELLED,
        SessionStatus.NO_SHOW,
        SessionStatus.REFUND_FAILED,
        SessionStatus.REFUND_PENDING,
    }
)


class PaymentProvider(enum.StrEnum):
    """The provider that took the money (and so the one that refunds it)."""

    STRIPE = "stripe"
    RAZORPAY = "razorpay"
    SANDBOX = "sandbox"


class RefundStatus(enum.StrEnum):
    PENDING = "pending"  # the provider accepted it and has not confirmed it yet
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Refund:
    """A refund as the provider answered it. `provider` is the gateway that made it (in the
    embedded mode `sandbox`, whatever took the money)."""

    id: str
    status: RefundStatus
    amount_minor: int
    currency: str
    provider: str
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class MsoSession:
    id: str
    tenant_id: str
    patient_id: str
    case_id: str
    mso_doctor_id: str
    scheduled_at: datetime
    status: SessionStatus
    amount_minor: int
    currency: str
    payment_provider: PaymentProvider
    payment_ref: str
    refund: Refund | None
    created_at: datetime
    updated_at: datetime
    #: Refund attempts started so far; the idempotency key of attempt n is derived from the
    #: session id and n (`refund_key`).
    refund_attempts: int = 0
    #: The intent of the refund attempt in flight (status `refund_pending`), if any.
    refund_intent_id: str | None = None


def refund_key(session_id: str, attempt: int) -> str:
    """The idempotency key of a session's refund attempt: the same for every call that
    re-drives the attempt, new only for a new attempt after a definite failure. Fits Stripe
    (≤ 255 characters) and Razorpay (≥ 10 of `[A-Za-z0-9_-]`)."""
    return f"mso-refund-{session_id}-{attempt}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionFilter:
    status: SessionStatus | None = None
    tenant_id: str | None = None
    #: Inclusive bounds of `scheduled_at`.
    scheduled_from: datetime | None = None
    scheduled_to: datetime | None = None
