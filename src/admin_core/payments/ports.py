"""What payments need from the outside: the sessions' store and the payment gateways."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from admin_core.kernel.paging import OffsetPage
from admin_core.payments.model import (
    MsoSession,
    PaymentProvider,
    Refund,
    RefundAnswer,
    SessionFilter,
)
from admin_core.side_effects.ports import SideEffectsTransaction


class MsoSessionRepository(Protocol):
    async def get(self, session_id: str, *, lock: bool = False) -> MsoSession | None:
        """`lock=True`: other locking reads and writes of the session wait for this
        transaction (the refund's single flight across replicas)."""
        ...

    async def page(
        self,
        where: SessionFilter,
        *,
        limit: int,
        offset: int,
        after: tuple[datetime, str] | None = None,
    ) -> OffsetPage[MsoSession]:
        """Newest `scheduled_at` first (then id, highest first), with the total matching
        `where`; `after` (a session's `scheduled_at` and id): only the sessions that come
        after it in that order (the total still counts every match). The page and its total
        are read at one instant, a page past the end too."""
        ...

    async def add(self, session: MsoSession) -> None: ...

    async def update(self, session: MsoSession) -> None:
        """Store the session's status, refund and refund bookkeeping."""
        ...

    async def add_many(self, sessions: Sequence[MsoSession]) -> None: ...

    async def record_refund(
        self, session_id: str, intent_id: str, answer: RefundAnswer, *, at: datetime
    ) -> None:
        """Store a provider's answer on the session, if its refund attempt in flight is
        still `intent_id` (a session that moved on is left alone)."""
        ...


class PaymentsTransaction(SideEffectsTransaction, Protocol):
    mso_sessions: MsoSessionRepository


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundRequest:
    """A full refund of one payment. `key` is the idempotency key: the provider makes at most
    one refund per key, and answers a repeated request with the first refund."""

    key: str
    session_id: str
    payment_ref: str
    amount_minor: int
    currency: str
    reason: str


class GatewayUnavailable(Exception):
    """The provider could not be reached or failed (timeout, 5xx, 429, a concurrent request
    with the same key): whether it refunded is unknown, and a retry with the same key is
    safe."""


class GatewayFailureReplayed(GatewayUnavailable):
    """The provider answered with the failure it saved for the key (Stripe replays a saved
    5xx for the key's lifetime, 24 hours or more): the first request has ended, and every
    retry with this key will fail the same way. Whether that first request refunded is still
    to be asked (`find_refund`)."""


class GatewayRefused(Exception):
    """The provider answered that it will not refund (a definite failure: nothing was
    refunded). `code` is the provider's error code."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class PaymentGateway(Protocol):
    """One payment provider's refunds."""

    #: What the refunds it makes say in their `provider` field.
    name: str

    async def refund(self, request: RefundRequest) -> Refund:
        """Refund the payment in full, once per `request.key`. The answer may be PENDING
        (accepted, not confirmed) or FAILED (the provider's refund failed after acceptance).
        Raises `GatewayUnavailable` or `GatewayRefused`."""
        ...

    async def find_refund(self, request: RefundRequest) -> Refund | None:
        """The refund made with `request.key`, as the provider holds it now; None when the
        provider made none. Raises `GatewayUnavailable`."""
        ...


class Gateways(Protocol):
    """The gateway of each payment provider this deployment can refund through."""

    def gateway(self, provider: PaymentProvider) -> PaymentGateway:
        """Raises `PaymentProviderNotConfigured` for a provider without credentials."""
        ...
