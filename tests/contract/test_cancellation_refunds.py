"""A session's refund cancelled at any of its awaits, on every database (SPEC §6.4,
docs/adr/0064-cancellation.md): calling again refunds the session once — never refused as
already refunded by a refund the cancelled call made, never a second refund — with one
audit entry."""

from __future__ import annotations

import asyncio

from admin_core.kernel.transaction import Transactions
from admin_core.payments.model import SessionStatus
from admin_core.payments.use_cases import RefundSessionCommand
from admin_core.side_effects.runner import LEASE
from tests.support.cancelling import at_every_suspension
from tests.support.flags import add_tenants
from tests.support.payments import AdvancingClock, add_sessions, payments_world, sessions

RUNS = 80


async def test_a_refund_cancelled_at_any_point_is_made_once_by_the_next_call(
    uow: Transactions,
) -> None:
    """The next call goes ahead at once, without waiting for the cancelled call's lease to run
    out: even cancelled in the round trip of the commit that marks the session
    `refund_pending` beside its attempt (PostgreSQL), which may or may not have landed."""
    clock = AdvancingClock()
    world = payments_world(uow, clock)
    world.patience_seconds = 2.0
    await add_tenants(uow, "apollo")
    made = sessions(RUNS)
    await add_sessions(uow, made)
    run = 0
    leases_waited = 0

    async def refund() -> None:
        await world.refund.execute(
            world.operator, RefundSessionCommand(session_id=made[run].id, reason="patient asked")
        )

    async def check(k: int) -> None:
        nonlocal run, leases_waited
        command = RefundSessionCommand(session_id=made[k].id, reason="asked again")
        outcome = await asyncio.wait_for(world.refund.execute(world.operator, command), 10)
        if outcome.in_progress:
            leases_waited += 1
            clock.advance(LEASE)
            outcome = await asyncio.wait_for(world.refund.execute(world.operator, command), 10)
        assert outcome.session.status is SessionStatus.REFUNDED, k
        async with uow() as tx:
            refunded = await tx.sandbox_refunds.find(payment_ref=made[k].payment_ref)
        assert refunded is not None, k
        assert outcome.session.refund is not None
        assert outcome.session.refund.id == refunded[1].id, k  # the one refund the provider made
        assert len(await world.audit_entries(made[k].id)) == 1, k
        run = k + 1

    assert await at_every_suspension(refund, check) >= 1
    assert leases_waited == 0
