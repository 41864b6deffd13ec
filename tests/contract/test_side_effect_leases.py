"""The lease of a caller driving an external side effect, on every database (docs/adr/0048).

A caller alive keeps its lease however long the provider takes: nobody takes the intent over
and puts back what it is doing. A caller whose lease another took over (it could not renew
in time) stops calling the provider, and is never told its change succeeded when the other
caller recorded it otherwise."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from adapters.system.runtime import UlidGenerator
from admin_core.audit.model import AuditRecord
from admin_core.kernel.transaction import Transactions
from admin_core.side_effects.model import APPLIED, NOT_APPLIED, Answer, Intent, IntentStatus
from admin_core.side_effects.runner import LEASE, IntentInProgress, LeaseLost, SideEffects
from tests.support.clock import ManualClock

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
RECORD = AuditRecord(
    tenant_id=None,
    actor_id="user_ops",
    actor_role="org:super_admin",
    action="flag.identity_override",
    event_type="ADMIN_FLAG_OVERRIDE",
    resource_type="flag",
    resource_id="enable_mso_booking",
    request_id="req-1",
    before={"value": False},
    after={"value": True},
)
#: Renewals this often (real seconds) in these tests; the clock moves by hand.
RENEW_EVERY = 0.02


class SlowProvider:
    """A provider whose call returns only when told to; asked afterwards, it holds nothing
    (a caller that takes over puts back what was partly done)."""

    def __init__(self) -> None:
        self.called = asyncio.Event()
        self.answer = asyncio.Event()
        self.cancelled = False

    async def apply(self, intent: Intent) -> Answer:
        self.called.set()
        try:
            await self.answer.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return APPLIED

    async def settle(self, intent: Intent, *, redrive: bool) -> Answer:
        return NOT_APPLIED

    async def record(self, tx: object, intent: Intent, answer: Answer) -> None:
        return None


async def started(
    uow: Transactions, effects: SideEffects, provider: SlowProvider
) -> tuple[Intent, asyncio.Task[Answer]]:
    intent = effects.new_intent(
        kind="test.slow", tenant_id=None, payload={}, audit=[RECORD], subject="test:slow"
    )
    async with uow() as tx:
        await tx.intents.add(intent)
        await tx.commit()
    driving = asyncio.create_task(effects.drive(provider, intent))
    await provider.called.wait()
    return intent, driving


async def status_of(uow: Transactions, intent_id: str) -> IntentStatus:
    async with uow() as tx:
        stored = await tx.intents.get(intent_id)
    assert stored is not None
    return stored.status


async def test_a_caller_whose_provider_outlasts_the_lease_keeps_it(uow: Transactions) -> None:
    clock = ManualClock(T0, step=timedelta(0))
    effects = SideEffects(uow, clock, UlidGenerator(), renew_every_seconds=RENEW_EVERY)
    other = SideEffects(uow, clock, UlidGenerator())
    provider = SlowProvider()
    intent, driving = await started(uow, effects, provider)
    for _ in range(4):  # two minutes of provider calls, the lease renewed along the way
        clock.set(clock.current + LEASE / 2)
        await asyncio.sleep(RENEW_EVERY * 5)
    with pytest.raises(IntentInProgress):
        await other.finish(provider, intent.id)
    provider.answer.set()
    assert (await driving).outcome is APPLIED.outcome
    assert await status_of(uow, intent.id) is IntentStatus.DONE


async def test_a_caller_whose_lease_was_taken_stops_calling_the_provider(
    uow: Transactions,
) -> None:
    clock = ManualClock(T0, step=timedelta(0))
    effects = SideEffects(uow, clock, UlidGenerator(), renew_every_seconds=RENEW_EVERY)
    provider = SlowProvider()
    intent, driving = await started(uow, effects, provider)
    async with uow() as tx:  # another caller holds the lease now
        await tx.intents.lease(intent.id, until=T0 + 2 * LEASE, at=T0)
        await tx.commit()
    with pytest.raises(LeaseLost):
        await asyncio.wait_for(driving, 10)
    assert provider.cancelled
    assert await status_of(uow, intent.id) is IntentStatus.PENDING  # the other's to settle


async def test_a_caller_overtaken_is_not_told_success_when_the_other_recorded_otherwise(
    uow: Transactions,
) -> None:
    """It could not renew (say the database was out of reach) and another caller settled
    the intent as not applied: its provider call then returning is no success."""
    clock = ManualClock(T0, step=timedelta(0))
    effects = SideEffects(uow, clock, UlidGenerator(), renew_every_seconds=3600)
    other = SideEffects(uow, clock, UlidGenerator())
    provider = SlowProvider()
    intent, driving = await started(uow, effects, provider)
    clock.set(T0 + LEASE + timedelta(seconds=1))
    assert await other.finish(provider, intent.id) is NOT_APPLIED.outcome
    provider.answer.set()
    with pytest.raises(LeaseLost):
        await driving
    assert await status_of(uow, intent.id) is IntentStatus.FAILED
