"""`python -m tests.support.killed_refund <database url> <stripe|razorpay>`: refund session
`mso_00000` (paid through that provider) and die (SIGKILL) right after the provider accepted
the refund, before the database recorded it — the crash a refund must survive without being
made twice.

The provider is the real adapter against a fake started by the test, named by the
`ADMIN_TEST_STRIPE_*` / `ADMIN_TEST_RAZORPAY_*` variables (the fakes' `adapter_env`)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from adapters.sql.engine import create_engine
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.kernel.principal import Principal
from admin_core.payments.model import PaymentProvider, Refund
from admin_core.payments.ports import PaymentGateway, RefundRequest
from admin_core.payments.use_cases import RefundSessionCommand
from tests.support.flags import add_tenants
from tests.support.payments import add_sessions, payments_world, sessions


def gateway_for(kind: str) -> Any:
    """The adapter of `kind` configured from the fake's variables (`aclose()` it)."""
    env = os.environ
    if kind == "stripe":
        from adapters.stripe.refunds import StripePaymentGateway

        return StripePaymentGateway(
            env["ADMIN_TEST_STRIPE_API_KEY"],
            api_base=env["ADMIN_TEST_STRIPE_API_BASE"],
            timeout_seconds=5.0,
        )
    from adapters.razorpay.refunds import RazorpayPaymentGateway

    return RazorpayPaymentGateway(
        env["ADMIN_TEST_RAZORPAY_KEY_ID"],
        env["ADMIN_TEST_RAZORPAY_KEY_SECRET"],
        api_base=env["ADMIN_TEST_RAZORPAY_API_BASE"],
        timeout_seconds=5.0,
    )


async def prepare(transactions: Any, kind: str) -> None:
    """The tenant and the session the child refunds (run by the test, before the child)."""
    await add_tenants(transactions, "apollo")
    await add_sessions(transactions, sessions(1, provider=PaymentProvider(kind)))


class DieAfterRefund(PaymentGateway):
    def __init__(self, inner: PaymentGateway) -> None:
        self._inner = inner
        self.name = inner.name

    async def refund(self, request: RefundRequest) -> Refund:
        await self._inner.refund(request)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")

    async def find_refund(self, request: RefundRequest) -> Refund | None:
        return await self._inner.find_refund(request)


async def main(database: str, kind: str) -> None:
    engine = create_engine(database)
    transactions = SqlTransactions(engine, SystemClock(), UlidGenerator())
    world = payments_world(transactions, SystemClock(), DieAfterRefund(gateway_for(kind)))
    principal = Principal.operator("killed", request_id="req-killed-refund")
    await world.refund.execute(
        principal, RefundSessionCommand(session_id="mso_00000", reason="patient asked")
    )
    raise SystemExit("the process was not killed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
