"""Second-opinion (MSO) sessions and their refunds (SPEC §6.4)."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from admin_core.side_effects.model import Answer, Outcome

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


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundAnswer:
    """What a provider's answer makes of a session: its status, its refund, and whether the
    attempt is still pending (the session keeps pointing at it)."""

    status: SessionStatus
    refund: Refund | None
    pending: bool

    @classmethod
    def of(cls, answer: Answer) -> RefundAnswer:
        refund = refund_of(answer.result)
        if answer.outcome is Outcome.APPLIED:
            return cls(status=SessionStatus.REFUNDED, refund=refund, pending=False)
        if answer.outcome is Outcome.NOT_APPLIED:
            return cls(status=SessionStatus.REFUND_FAILED, refund=refund, pending=False)
        return cls(status=SessionStatus.REFUND_PENDING, refund=refund, pending=True)


def refund_of(result: Mapping[str, Any] | None) -> Refund | None:
    """The refund a provider's answer describes (`SessionRefunds` writes it), if any."""
    raw = None if result is None else result.get("refund")
    if not isinstance(raw, Mapping):
        return None
    return Refund(
        id=str(raw["id"]),
        status=RefundStatus(raw["status"]),
        amount_minor=int(raw["amount_minor"]),
        currency=str(raw["currency"]),
        provider=str(raw["provider"]),
        created_at=datetime.fromisoformat(str(raw["created_at"])),
    )
