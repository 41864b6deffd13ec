"""An external side effect whose caller is cancelled at any of its awaits, on every database
(docs/adr/0064-cancellation.md): recording the intent, asking the premise, calling the
provider, recording the outcome. The provider acts at most once; the intent ends done (with its
audit entry, once) exactly when the provider acted, failed otherwise; and the next change of
the same subject goes ahead at once, settling the cancelled one first, rather than waiting
out the cancelled caller's lease. Reconcile finishes whatever is left the same way."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.system.runtime import UlidGenerator
from admin_core.audit.model import AuditFilter, AuditRecord
from admin_core.flags.use_cases import OverrideFlagCommand
from admin_core.kernel.transaction import Transactions
from admin_core.side_effects.model import APPLIED, NOT_APPLIED, Answer, Intent, IntentStatus
from admin_core.side_effects.runner import LEASE, SideEffects
from tests.support.cancelling import at_every_suspension
from tests.support.clock import ManualClock
from tests.support.flags import OPERATOR, add_tenants, catalogue, flag_provider, world_on

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
KIND = "test.cancelled"
#: How long the next change of the subject waits for the cancelled one: far less than a lease.
PATIENCE_S = 2.0


class Provider:
    """Acts on every call (no idempotency key of its own), each call taking a few awaits;
    asked afterwards, it says whether it acted, and acts then only when told to redrive."""

    def __init__(self) -> None:
        self.acted: list[str] = []
        #: The caller's task, cancelled at the provider's `cancel_at`-th await of this run.
        self.caller: asyncio.Task[None] | None = None
        self.cancel_at: int | None = None
        self.steps = 0

    async def _step(self) -> None:
        if self.steps == self.cancel_at and self.caller is not None:
            self.caller.cancel()
        self.steps += 1
        await asyncio.sleep(0)

    async def apply(self, intent: Intent) -> Answer:
        await self._step()  # the request on its way
        self.acted.append(intent.id)
        await self._step()  # the answer on its way back
        return APPLIED

    async def settle(self, intent: Intent, *, redrive: bool) -> Answer:
        await self._step()
        if intent.id in self.acted:
            return APPLIED
        if redrive:
            return await self.apply(intent)
        return NOT_APPLIED

    async def record(self, tx: object, intent: Intent, answer: Answer) -> None:
        await asyncio.sleep(0)  # the area's own writes


class Ids(UlidGenerator):
    def __init__(self) -> None:
        self.intents: list[str] = []

    def new_id(self, prefix: str) -> str:
        made = super().new_id(prefix)
        if prefix == "int":
            self.intents.append(made)
        return made


def _record(run: int) -> AuditRecord:
    return AuditRecord(
        tenant_id=f"tenant-{run}",
        actor_id="user_ops",
        actor_role="org:super_admin",
        action="flag.identity_override",
        event_type="ADMIN_FLAG_OVERRIDE",
        resource_type="flag",
        resource_id="enable_mso_booking",
    )


async def _premise() -> bool:
    await asyncio.sleep(0)  # what the change was planned on, read again
    return True


#: The subject every change of these tests is of.
SUBJECT = "flags:apollo"


@dataclass
class Changes:
    """Side effects on `uow` through `provider`, on a clock that stands still (no lease runs
    out unless a test moves it); `ids` lists the intents made, in order."""

    uow: Transactions
    clock: ManualClock = field(default_factory=lambda: ManualClock(T0, step=timedelta(0)))
    ids: Ids = field(default_factory=Ids)
    provider: Provider = field(default_factory=Provider)

    def __post_init__(self) -> None:
        self.effects = SideEffects(self.uow, self.clock, self.ids)

    async def change(
        self, run: int, *, subject: str | None = SUBJECT, premise: bool = False
    ) -> None:
        """The `run`-th change, audited under `tenant-{run}`."""
        await self.effects.perform(
            self.provider,
            kind=KIND,
            tenant_id=None,
            payload={},
            audit=[_record(run)],
            subject=subject,
            premise=_premise if premise else None,
        )

    async def next_change_clears(self) -> None:
        """What the next change of the subject does first: it finds no pending intent, or
        settles it, in far less than a lease."""
        await asyncio.wait_for(
            self.effects.clear(self.provider, SUBJECT, patience_seconds=PATIENCE_S), 10
        )

    async def left_by_its_caller(self, intent_id: str) -> None:
        """Return once what a cancelled caller finishes despite its cancellation, in a task
        it may no longer wait for, has ended: its intent never added, settled, or pending
        with the caller's lease ended. That is a transaction or two; the 10 s bound is there
        only to fail a caller that left its lease held."""
        for _ in range(200):
            async with self.uow() as tx:
                intent = await tx.intents.get(intent_id)
            if intent is None or intent.status is not IntentStatus.PENDING:
                return
            if intent.lease_until is None:
                return
            await asyncio.sleep(0.05)
        pytest.fail(f"{intent_id} is still held by its cancelled caller's lease")

    async def settled_once(self, intent_id: str, run: int) -> None:
        """The `run`-th change's intent ended, done (and audited once) exactly when the
        provider acted, which it did at most once."""
        async with self.uow() as tx:
            intent = await tx.intents.get(intent_id)
            entries = await tx.audit.count(AuditFilter(tenant_id=f"tenant-{run}"))
        acted = self.provider.acted.count(intent_id)
        assert acted <= 1, run
        if intent is None:  # cancelled before the intent was committed
            assert (acted, entries) == (0, 0), run
            return
        assert intent.status is not IntentStatus.PENDING, run
        assert intent.status is (IntentStatus.DONE if acted else IntentStatus.FAILED), run
        assert entries == acted, run


@pytest.mark.parametrize("again", [False, True], ids=["once", "again_and_again"])
@pytest.mark.parametrize("premise", [False, True], ids=["no_premise", "premise"])
async def test_the_next_change_of_a_subject_settles_a_cancelled_one_and_goes_ahead(
    uow: Transactions, premise: bool, again: bool
) -> None:
    changes = Changes(uow)
    run = 0

    async def check(k: int) -> None:
        nonlocal run
        await changes.next_change_clears()
        if len(changes.ids.intents) > k:
            await changes.settled_once(changes.ids.intents[k], k)
        run = k + 1
        assert len(changes.ids.intents) == run

    async def change() -> None:
        await changes.change(run, premise=premise)

    assert await at_every_suspension(change, check, again=again) >= 2


@pytest.mark.parametrize("again", [False, True], ids=["once", "again_and_again"])
async def test_reconcile_finishes_a_change_cancelled_at_any_point(
    uow: Transactions, again: bool
) -> None:
    changes = Changes(uow)
    clock, effects = changes.clock, changes.effects
    run = 0

    async def check(k: int) -> None:
        nonlocal run
        # Reconcile runs once the cancelled caller is done: it takes over intents whose
        # lease ran out, which the moved clock makes of every one, the caller's included.
        await changes.left_by_its_caller(changes.ids.intents[k])
        clock.set(clock.current + LEASE + timedelta(seconds=1))  # any lease has run out
        report = await effects.reconcile({KIND: changes.provider}, older_than=timedelta(0))
        assert not report.unresolved
        await changes.settled_once(changes.ids.intents[k], k)
        run = k + 1

    async def change() -> None:
        await changes.change(run, subject=None)

    assert await at_every_suspension(change, check, again=again) >= 2


async def test_a_caller_cancelled_while_the_provider_acts_leaves_it_to_the_next_change(
    uow: Transactions,
) -> None:
    """Cancelled at each of the provider's own awaits in turn — before it acted, after it
    acted but before its answer came back: the next change of the subject settles the
    cancelled one at once, the effect made (and audited) once."""
    changes = Changes(uow)
    provider = changes.provider
    for step in range(8):
        provider.cancel_at, provider.steps = step, 0
        provider.caller = asyncio.create_task(changes.change(step))
        try:
            await provider.caller
            cancelled = False
        except asyncio.CancelledError:
            cancelled = True
        provider.cancel_at = None
        await changes.next_change_clears()
        await changes.settled_once(changes.ids.intents[step], step)
        if not cancelled:
            break
    assert not cancelled
    assert step >= 2


class OutlastingProvider(Provider):
    """Slower than the caller's lease renewals: while `outlasting`, it answers only once the
    caller has renewed its lease (as a provider taking minutes would, renewals every few
    seconds); otherwise at once."""

    def __init__(self, uow: Transactions) -> None:
        super().__init__()
        self.uow = uow
        self.outlasting = True

    async def apply(self, intent: Intent) -> Answer:
        while self.outlasting:
            async with self.uow() as tx:
                stored = await tx.intents.get(intent.id)
            if stored is None or stored.lease_until != intent.lease_until:
                break
            await asyncio.sleep(0.005)
        self.acted.append(intent.id)
        return APPLIED


async def _changes_cancelled_while_outlasted(uow: Transactions, base: int, again: bool) -> int:
    """Changes through an `OutlastingProvider`, the `k`-th cancelled at its `k`-th await and
    audited under `tenant-{base + k}`; the next change clears each one at once."""
    provider = OutlastingProvider(uow)
    changes = Changes(uow, provider=provider)
    changes.effects = SideEffects(uow, changes.clock, changes.ids, renew_every_seconds=0.01)
    run = base

    async def check(k: int) -> None:
        nonlocal run
        provider.outlasting = False  # the next change's provider answers at once
        await changes.next_change_clears()
        provider.outlasting = True
        if len(changes.ids.intents) > k:
            await changes.settled_once(changes.ids.intents[k], base + k)
        run = base + k + 1

    async def change() -> None:
        await changes.change(run)

    return await at_every_suspension(change, check, again=again)


@pytest.mark.parametrize("again", [False, True], ids=["once", "again_and_again"])
async def test_a_caller_cancelled_while_renewing_its_lease_leaves_it_to_the_next_change(
    uow: Transactions, again: bool
) -> None:
    """Cancelled at any await of a change whose provider outlasts the lease renewals — among
    them the commit renewing the lease, which may land though its answer never comes: the
    caller's lease is ended whichever lease it then holds, and the next change of the
    subject settles the cancelled one at once instead of waiting out the renewed lease.
    Stepped through three times: whether taking a connection from the pool waits varies
    from run to run, which moves the renewal's commit by a step."""
    for base in (0, 100, 200):
        assert await _changes_cancelled_while_outlasted(uow, base, again) >= 2


@pytest.mark.parametrize("again", [False, True], ids=["once", "again_and_again"])
async def test_a_settle_cancelled_at_any_point_leaves_the_intent_to_the_next(
    uow: Transactions, again: bool
) -> None:
    """Reconcile, or the next change of a subject, settling an intent its caller left, is
    itself cancelled at any of its awaits (a server stopping, an embedder's timeout): the
    intent is not held for a lease's length; the change after settles it at once."""
    changes = Changes(uow)
    effects = changes.effects
    left: list[str] = []

    async def leave_one(run: int) -> None:
        intent = effects.new_intent(
            kind=KIND, tenant_id=None, payload={}, audit=[_record(run)], subject=SUBJECT
        )
        async with uow() as tx:  # its caller gone, its lease run out
            await tx.intents.add(replace(intent, lease_until=T0 - timedelta(seconds=1)))
            await tx.commit()
        left.append(intent.id)

    async def settle() -> None:
        await effects.finish(changes.provider, left[-1])

    async def check(k: int) -> None:
        await changes.next_change_clears()
        await changes.settled_once(left[k], k)
        await leave_one(k + 1)

    await leave_one(0)
    assert await at_every_suspension(settle, check, again=again) >= 2


FLAG_PROVIDERS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _risk(value: float, reason: str) -> OverrideFlagCommand:
    return OverrideFlagCommand(
        tenant_id="apollo", flag="triage_risk_threshold", value=value, reason=reason
    )


@pytest.mark.parametrize("kind", FLAG_PROVIDERS)
async def test_a_flag_override_cancelled_at_any_point_never_blocks_or_misaudits_the_next(
    kind: str, tmp_path: Path
) -> None:
    """The use case an embedder calls under a timeout: a tenant's flag override cancelled at
    each of its awaits in turn. The next override of the flag goes through at once, the
    provider holds it, and the audit entries chain: each one's `before` is the `after` of the
    one before it (a change the provider holds is audited once, one it does not never)."""
    flags = catalogue()
    async with flag_provider(kind, tmp_path, flags) as (provider, transactions):
        await add_tenants(transactions, "apollo")
        world = world_on(provider, transactions, flags, patience_seconds=PATIENCE_S)
        run = 0

        async def override() -> None:
            await world.override.execute(OPERATOR, _risk(round(0.01 * (run + 1), 3), "cut"))

        async def check(k: int) -> None:
            nonlocal run
            value = round(0.5 + 0.001 * k, 3)
            await asyncio.wait_for(world.override.execute(OPERATOR, _risk(value, "next")), 10)
            assert await provider.overrides("apollo") == {"triage_risk_threshold": value}
            entries = sorted(await world.audit("flag.identity_override"), key=lambda e: e.seq)
            chained = [(e.before, e.after) for e in entries]
            for (_, previous), (before, _) in itertools.pairwise(chained):
                assert before is not None
                assert previous is not None
                assert before["value"] == previous["value"], k
            last = chained[-1][1]
            assert last is not None
            assert last["value"] == value
            async with transactions() as tx:
                left = await tx.intents.pending(created_before=datetime.now(UTC) + LEASE, limit=10)
            assert list(left) == [], k
            run = k + 1

        assert await at_every_suspension(override, check) >= 1
