"""What a flag change left at the provider after its caller died, as `settle` reads it
(docs/adr/0048): all of the change written → applied; part of it → put back to what the
change was planned on, not applied; another change's write seen beside it (the plan was
stale) → not applied, and nothing of what the provider holds is touched. `apply` writes all or
nothing. Expected answers come from those rules, not from the code."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.memory.flags import InMemoryFeatureFlags
from adapters.memory.runtime import SequentialIds
from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryTransactions
from adapters.system.runtime import SystemClock
from admin_core.flags import overrides
from admin_core.flags.errors import FlagsUnavailable
from admin_core.flags.model import FlagChange
from admin_core.flags.use_cases import OverrideFlagCommand
from admin_core.side_effects.model import Intent, IntentStatus, Outcome
from admin_core.side_effects.runner import LEASE
from tests.support.clock import ManualClock
from tests.support.flags import OPERATOR, HeldWrites, add_tenants, catalogue, world_on

T0 = datetime(2026, 3, 1, tzinfo=UTC)
TENANT = "apollo"
FLAGS = ("f1", "f2", "f3", "f4")
values = st.integers(min_value=0, max_value=3)


def intent_of(changes: list[FlagChange], held: dict[str, Any]) -> Intent:
    return Intent(
        id="int_000001",
        kind=overrides.KIND,
        key="key",
        tenant_id=TENANT,
        payload=overrides.payload(TENANT, changes, held),
        audit=(),
        status=IntentStatus.PENDING,
        created_at=T0,
        updated_at=T0,
    )


@st.composite
def planned_changes(draw: st.DrawFn) -> tuple[dict[str, Any], list[FlagChange]]:
    """Overrides held, and changes planned on them, each of which changes something (the
    planners leave out a value equal to the override and a clear of no override)."""
    held = draw(st.dictionaries(st.sampled_from(FLAGS), values))
    changed = draw(st.lists(st.sampled_from(FLAGS), min_size=1, unique=True))
    changes = []
    for flag in changed:
        had = flag in held
        if had and draw(st.booleans()):
            changes.append(
                FlagChange(flag=flag, clear=True, had_override=True, previous=held[flag])
            )
        else:
            value = draw(values.filter(lambda v, f=flag: held.get(f) != v))
            changes.append(
                FlagChange(flag=flag, value=value, had_override=had, previous=held.get(flag))
            )
    return held, changes


def written(held: dict[str, Any], changes: list[FlagChange]) -> dict[str, Any]:
    now = dict(held)
    for change in changes:
        if change.clear:
            now.pop(change.flag, None)
        else:
            now[change.flag] = change.value
    return now


async def provider_holding(now: dict[str, Any]) -> InMemoryFeatureFlags:
    provider = InMemoryFeatureFlags({})
    for flag, value in now.items():
        await provider.set_override(TENANT, flag, value)
    return provider


@given(planned_changes(), st.data())
async def test_settle_applies_a_whole_change_and_puts_back_a_partial_one(
    plan: tuple[dict[str, Any], list[FlagChange]], data: st.DataObject
) -> None:
    held, changes = plan
    landed = data.draw(st.lists(st.sampled_from(changes), unique_by=lambda c: c.flag))
    provider = await provider_holding(written(held, landed))
    answer = await overrides.FlagOverrides(provider).settle(intent_of(changes, held), redrive=False)
    if len(landed) == len(changes):
        assert answer.outcome is Outcome.APPLIED
        assert await provider.overrides(TENANT) == written(held, changes)
    else:
        assert answer.outcome is Outcome.NOT_APPLIED
        assert await provider.overrides(TENANT) == held


@given(planned_changes(), st.data())
async def test_settle_touches_nothing_when_another_change_wrote_beside_it(
    plan: tuple[dict[str, Any], list[FlagChange]], data: st.DataObject
) -> None:
    held, changes = plan
    untouched = [f for f in FLAGS if f not in {c.flag for c in changes}]
    landed = data.draw(st.lists(st.sampled_from(changes), unique_by=lambda c: c.flag))
    now = written(held, landed)
    if not untouched:
        return
    other = data.draw(st.sampled_from(untouched))
    foreign = data.draw(st.one_of(st.none(), values).filter(lambda v: v != held.get(other)))
    if foreign is None:
        now.pop(other, None)
    else:
        now[other] = foreign
    provider = await provider_holding(now)
    answer = await overrides.FlagOverrides(provider).settle(intent_of(changes, held), redrive=False)
    assert answer.outcome is Outcome.NOT_APPLIED
    assert await provider.overrides(TENANT) == now


class FailingAt(InMemoryFeatureFlags):
    """Refuses its `n`th write."""

    def __init__(self, n: int) -> None:
        super().__init__({})
        self.n = n
        self.writes = 0

    async def set_override(self, identity: str, flag: str, value: Any) -> None:
        self._count()
        await super().set_override(identity, flag, value)

    async def clear_override(self, identity: str, flag: str) -> None:
        self._count()
        await super().clear_override(identity, flag)

    def _count(self) -> None:
        self.writes += 1
        if self.writes == self.n:
            raise ConnectionError("refused")


@given(planned_changes(), st.data())
async def test_apply_writes_all_of_a_change_or_puts_back_what_it_wrote(
    plan: tuple[dict[str, Any], list[FlagChange]], data: st.DataObject
) -> None:
    held, changes = plan
    fail_at = data.draw(st.integers(min_value=1, max_value=len(changes) + 1))
    provider = FailingAt(n=0)
    for flag, value in held.items():
        await provider.set_override(TENANT, flag, value)
    provider.n, provider.writes = fail_at, 0
    effect = overrides.FlagOverrides(provider)
    try:
        answer = await effect.apply(intent_of(changes, held))
    except ConnectionError:
        assert fail_at <= len(changes)
        assert await provider.overrides(TENANT) == held
    else:
        assert fail_at == len(changes) + 1
        assert answer.outcome is Outcome.APPLIED
        assert await provider.overrides(TENANT) == written(held, changes)


class BusyReplicas(InMemoryFeatureFlags):
    """Another replica changes the tenant's `other_flag` override between every two reads
    of the overrides: whatever a change is planned on is stale by the time it is recorded."""

    def __init__(self) -> None:
        super().__init__({})
        self.reads = 0

    async def overrides(self, identity: str) -> Mapping[str, Any]:
        self.reads += 1
        await super().set_override(identity, "matching_strategy_version", f"v{self.reads}")
        return await super().overrides(identity)


async def test_a_change_always_planned_on_stale_overrides_gives_up_and_writes_nothing(
    tmp_path: Path,
) -> None:
    """Planned again while another replica keeps changing the overrides, up to the patience;
    then FLAGS_UNAVAILABLE, nothing of this change at the provider, every attempt withdrawn."""
    provider = BusyReplicas()
    transactions = InMemoryTransactions(InMemoryStore(), SystemClock(), SequentialIds())
    await add_tenants(transactions, TENANT)
    world = world_on(provider, transactions, catalogue(), patience_seconds=0.2)
    command = OverrideFlagCommand(
        tenant_id=TENANT, flag="mso_pfs_skip_threshold", value=90, reason="tune"
    )
    with pytest.raises(FlagsUnavailable) as refused:
        await world.override.execute(OPERATOR, command)
    assert refused.value.details == {"tenant_id": TENANT}
    assert "mso_pfs_skip_threshold" not in await provider.overrides(TENANT)
    assert await world.audit("flag.identity_override") == []
    assert provider.reads > 2  # planned again, not given up at the first stale plan


json_scalars = st.one_of(
    st.booleans(), st.integers(-3, 3), st.floats(-3, 3).map(lambda f: round(f)), st.none()
)


@given(json_scalars, json_scalars)
def test_two_values_are_the_same_as_json_numbers_and_never_a_boolean_for_a_number(
    held: Any, wanted: Any
) -> None:
    """A provider may hand back 1.0 for 1; `true` and 1 are different values (a JSON flag
    set to `true` over an override of 1 is a change)."""
    if isinstance(held, bool) or isinstance(wanted, bool):
        expected = type(held) is type(wanted) and held == wanted
    else:
        expected = held == wanted
    assert overrides.same_value(held, wanted) is expected
    assert overrides.same_value(True, 1) is False
    assert overrides.same_value(0.0, False) is False
    assert overrides.same_value(1.0, 1) is True


async def test_a_change_whose_lease_another_caller_took_over_answers_flags_unavailable() -> None:
    """The provider took longer than the change's lease and its caller could not renew it in
    time: another caller (a reconcile on another replica) took the change over and settled
    it. The first caller stops writing and answers FLAGS_UNAVAILABLE, saying to read the
    flags again — never that its change was made — and the other's outcome stands: nothing at
    the provider, no audit entry."""
    provider = HeldWrites()
    clock = ManualClock(step=timedelta(0))
    ids = SequentialIds()
    transactions = InMemoryTransactions(InMemoryStore(), clock, ids)
    await add_tenants(transactions, TENANT)
    flags = catalogue()
    first = world_on(provider, transactions, flags, clock=clock, ids=ids, renew_every_seconds=0.01)
    other = world_on(provider, transactions, flags, clock=clock, ids=ids)
    command = OverrideFlagCommand(
        tenant_id=TENANT, flag="mso_pfs_skip_threshold", value=90, reason="tune"
    )
    changing = asyncio.create_task(first.override.execute(OPERATOR, command))
    await provider.writing.wait()
    clock.set(clock.current + 2 * LEASE)  # the first caller's renewals did not come in time
    report = await other.flags.side_effects.reconcile(other.flags.effects)
    assert len(report.abandoned) == 1, report

    with pytest.raises(FlagsUnavailable) as refused:
        await asyncio.wait_for(changing, timeout=5)
    assert refused.value.details == {"tenant_id": TENANT}
    assert "try again" in refused.value.message
    provider.let_go.set()  # a write still under way would land now
    await asyncio.sleep(0)
    assert "mso_pfs_skip_threshold" not in await provider.overrides(TENANT)
    assert await first.audit("flag.identity_override") == []
    intent = await first.intent(1)
    assert intent is not None
    assert intent.status is IntentStatus.FAILED
