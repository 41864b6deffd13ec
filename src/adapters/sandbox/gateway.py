"""A payment gateway that moves no money (the embedded mode's stand-in for Stripe and
Razorpay). It keeps the refunds it "makes" in the database, in the table `sandbox_refunds`,
and follows the providers' rules that matter to a refund's state machine: one refund per
idempotency key (a repeated key answers with the first refund; the key of another refund is
refused, as Stripe's `idempotency_error`), one full refund per payment (another key →
refused, as Stripe's `charge_already_refunded`). It knows no payments: any reference is a
payment it took. Its refunds say `sandbox` in
their `provider` field, so nobody mistakes them for real ones."""

from __future__ import annotations

from typing import Any, Protocol

from admin_core.kernel.runtime import Clock, IdGenerator
from admin_core.kernel.transaction import Transaction, Transactions
from admin_core.payments.model import Refund, RefundStatus
from admin_core.payments.ports import GatewayRefused, PaymentGateway, RefundRequest

NAME = "sandbox"


class SandboxLedger(Protocol):
    async def find(
        self, *, key: str | None = None, payment_ref: str | None = None
    ) -> tuple[str, Refund] | None:
        """(payment ref, refund) of the refund made with `key`, or of `payment_ref`."""
        ...

    async def add(self, key: str, payment_ref: str, refund: Refund) -> None: ...


class SandboxTransaction(Transaction, Protocol):
    sandbox_refunds: SandboxLedger


class SandboxPaymentGateway(PaymentGateway):
    name = NAME

    def __init__(
        self, transactions: Transactions[SandboxTransaction], clock: Clock, ids: IdGenerator
    ) -> None:
        self._transactions = transactions
        self._clock = clock
        self._ids = ids

    async def refund(self, request: RefundRequest) -> Refund:
        async with self._transactions() as tx:
            ledger = tx.sandbox_refunds
            made = await ledger.find(key=request.key)
            if made is not None:
                payment_ref, refund = made
                if (payment_ref, refund.amount_minor, refund.currency) != (
                    request.payment_ref,
                    request.amount_minor,
                    request.currency,
                ):
                    raise GatewayRefused(
                        "The idempotency key was used for another refund.",
                        code="idempotency_error",
                    )
                return refund
            if await ledger.find(payment_ref=request.payment_ref) is not None:
                raise GatewayRefused(
                    "The payment has already been refunded.", code="charge_already_refunded"
                )
            refund = Refund(
                id=self._ids.new_id("sbx_re"),
                status=RefundStatus.SUCCEEDED,
                amount_minor=request.amount_minor,
                currency=request.currency,
                provider=NAME,
                created_at=self._clock.now(),
            )
            await ledger.add(request.key, request.payment_ref, refund)
            await tx.commit()
            return refund

    async def find_refund(self, request: RefundRequest) -> Refund | None:
        async with self._transactions() as tx:
            made = await tx.sandbox_refunds.find(key=request.key)
        return None if made is None else made[1]


def sandbox_gateway(transactions: Any, clock: Clock, ids: IdGenerator) -> SandboxPaymentGateway:
    """For the composition root, whose transactions satisfy `SandboxTransaction`."""
    return SandboxPaymentGateway(transactions, clock, ids)
