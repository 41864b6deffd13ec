"""Leases of external side effects between replicas whose clocks disagree, and under a clock
that steps (docs/adr/0048, "Later: clocks of replicas").

Each replica judges a lease written by another with its own wall clock. A caller alive is
never taken over while the clocks agree within `CLOCK_TOLERANCE`; its own clock stepping
backwards (NTP) never shortens its lease; and the intent of a crashed caller is taken over
once its lease has run out by the clock of the replica that looks."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from adapters.system.runtime import UlidGenerator
from admin_core.audit.model import AuditFilter
from admin_core.kernel.transaction import Transactions
from admin_core.side_effects.model import APPLIED, NOT_APPLIED, Answer, Intent, IntentStatus
from admin_core.side_effects.runner import (
    CLOCK_TOLERANCE,
    LEASE,
    RENEW_EVERY_SECONDS,
    IntentInProgress,
    LeaseLost,
    SideEffects,
)
from tests.contract.test_side_effect_leases import RECORD, T0, SlowProvider, started, status_of
from tests.support.clock import LaterClock, ManualClock

#: A lease, renewals and the tolerance scaled down, for replicas on real clocks.
SHORT_LEASE = timedelta(seconds=1.5)
SHORT_RENEWAL = 0.5
SHORT_TOLERANCE = SHORT_LEASE - timedelta(seconds=SHORT_RENEWAL)


class Live:
    """Two replicas on one database in real time: `a` drives an intent, `b` keeps trying to
    take it over. Each clock is the system's moved by an offset, which a test steps."""

    def __init__(self, uow: Transactions, *, b_ahead: timedelta) -> None:
        self.uow = uow
        self.a_clock, self.b_clock = LaterClock(timedelta(0)), LaterClock(b_ahead)
        self.a = SideEffects(
            uow, self.a_clock, UlidGenerator(), renew_every_seconds=SHORT_RENEWAL, lease=SHORT_LEASE
        )
        self.b = SideEffects(uow, self.b_clock, UlidGenerator(), lease=SHORT_LEASE)

    async def b_never_takes_over(self, seconds: float) -> None:
        provider = SlowProvider()
        intent, driving = await started(self.uow, self.a, provider)
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            with pytest.raises(IntentInProgress):
                await self.b.finish(provider, intent.id)
            await asyncio.sleep(0.05)
        provider.answer.set()
        assert (await driving).outcome is APPLIED.outcome
        assert await status_of(self.uow, intent.id) is IntentStatus.DONE


@pytest.mark.parametrize(
    "ahead", [timedelta(seconds=0.2), SHORT_TOLERANCE - timedelta(seconds=0.3)]
)
async def test_a_replica_ahead_within_the_tolerance_never_takes_over_a_live_caller(
    uow: Transactions, ahead: timedelta
) -> None:
    """Three leases' worth of provider calls, the other replica trying all along."""
    await Live(uow, b_ahead=ahead).b_never_takes_over(3 * SHORT_LEASE.total_seconds())


@pytest.mark.parametrize("back", [SHORT_TOLERANCE + timedelta(seconds=0.2), timedelta(hours=1)])
async def test_a_caller_whose_clock_steps_back_keeps_its_lease(
    uow: Transactions, back: timedelta
) -> None:
    """Past the tolerance, and by an hour: its renewals never write a lease shorter than
    the one it holds moved on by the time passed, and the other replica, whose clock is
    right, sees it driven for as long as it is."""
    live = Live(uow, b_ahead=timedelta(0))

    async def step_back() -> None:
        await asyncio.sleep(SHORT_RENEWAL / 2)
        live.a_clock.offset -= back

    stepping = asyncio.create_task(step_back())
    await live.b_never_takes_over(3 * SHORT_LEASE.total_seconds())
    await stepping


class KeyedProvider(SlowProvider):
    """A provider that takes the intent's key: asked afterwards (with `redrive`), it does
    the change again under the same key, which it does once, and holds it."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[str] = []

    async def apply(self, intent: Intent) -> Answer:
        self.keys.append(intent.key)
        return await super().apply(intent)

    async def settle(self, intent: Intent, *, redrive: bool) -> Answer:
        self.keys.append(intent.key)
        return APPLIED


async def test_beyond_the_tolerance_a_replica_takes_over_and_the_key_keeps_one_change(
    uow: Transactions,
) -> None:
    """What remains when clocks disagree by more than the tolerance: the replica ahead
    takes over a caller still driving and asks the provider again, under the same key; the
    change is done once, recorded once, and the caller overtaken stops and is not told it
    succeeded (it answers as the provider being unavailable)."""
    live = Live(uow, b_ahead=SHORT_LEASE + timedelta(seconds=0.5))
    provider = KeyedProvider()
    intent, driving = await started(uow, live.a, provider)
    assert await live.b.finish(provider, intent.id) is APPLIED.outcome
    with pytest.raises(LeaseLost):
        await asyncio.wait_for(driving, 10)
    assert provider.keys == [intent.key, intent.key]
    assert await status_of(uow, intent.id) is IntentStatus.DONE
    async with uow() as tx:
        assert await tx.audit.count(AuditFilter(action=RECORD.action)) == 1


def test_the_tolerance_is_the_lease_less_one_renewal() -> None:
    assert CLOCK_TOLERANCE == LEASE - timedelta(seconds=RENEW_EVERY_SECONDS) > timedelta(0)


@pytest.mark.parametrize("offset", [timedelta(seconds=-40), timedelta(0), timedelta(seconds=40)])
async def test_a_crashed_callers_intent_is_taken_over_once_its_lease_ran_out_where_looked_at(
    uow: Transactions, offset: timedelta
) -> None:
    """The caller crashed: nothing renews. Another replica takes the intent over once the
    lease has run out by its own clock: `LEASE - offset` after the caller wrote it, so
    sooner by the skew when its clock is ahead, later by the skew when behind — never
    more than the skew away from the lease."""
    a_clock = ManualClock(T0, step=timedelta(0))
    b_clock = ManualClock(T0 + offset, step=timedelta(0))
    a = SideEffects(uow, a_clock, UlidGenerator())
    b = SideEffects(uow, b_clock, UlidGenerator())
    provider = SlowProvider()
    intent = a.new_intent(  # its caller crashed once it was recorded
        kind="test.slow", tenant_id=None, payload={}, audit=[RECORD], subject="test:slow"
    )
    async with uow() as tx:
        await tx.intents.add(intent)
        await tx.commit()
    true = T0 + LEASE - offset  # when the lease has run out by `b`'s clock
    b_clock.set(true - timedelta(seconds=1) + offset)
    with pytest.raises(IntentInProgress):
        await b.finish(provider, intent.id)
    b_clock.set(true + offset)
    assert await b.finish(provider, intent.id) is NOT_APPLIED.outcome


async def test_a_lease_a_cancelled_caller_let_go_is_free_to_a_replica_whose_clock_is_behind(
    uow: Transactions,
) -> None:
    """Cut short mid-call, the caller ends its lease for the next caller to settle the
    intent at once: at once too on a replica whose clock is behind the caller's."""
    a = SideEffects(uow, ManualClock(T0, step=timedelta(0)), UlidGenerator())
    b = SideEffects(
        uow, ManualClock(T0 - timedelta(seconds=30), step=timedelta(0)), UlidGenerator()
    )
    provider = SlowProvider()
    intent, driving = await started(uow, a, provider)
    driving.cancel()
    await asyncio.gather(driving, return_exceptions=True)
    assert await b.finish(provider, intent.id) is NOT_APPLIED.outcome
    assert await status_of(uow, intent.id) is IntentStatus.FAILED
