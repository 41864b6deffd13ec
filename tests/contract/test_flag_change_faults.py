"""Changes of a tenant's flags when the provider fails, or the process dies, part way: the
provider ends with all of a change or none of it, and the audit log has exactly one entry per
change the provider holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.flags import overrides
from admin_core.flags.errors import FlagsUnavailable
from admin_core.flags.model import FlagChange
from admin_core.flags.ports import FeatureFlags
from admin_core.flags.use_cases import OverrideFlagCommand
from admin_core.side_effects.model import Intent, IntentStatus
from admin_core.side_effects.runner import LEASE
from admin_core.triage.use_cases import UpdateTriageThresholdsCommand
from tests.support import killed_flag_change
from tests.support.clock import LaterClock
from tests.support.databases import database
from tests.support.fake_flagsmith import flagsmith_feature_flags
from tests.support.flags import (
    OPERATOR,
    DieAfterWrite,
    FailingFlags,
    FlagWorld,
    PauseAfterRead,
    add_tenants,
    catalogue,
    flag_provider,
    world_on,
)
from tests.support.killed import run_until_killed

PROVIDERS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
FIVE = {
    "triage_risk_threshold": 0.4,
    "triage_layer_advance_threshold": 0.55,
    "mso_completion_threshold": 0.9,
    "mso_pfs_skip_threshold": 90,
    "mso_max_offers_per_case": 5,
}


@pytest.fixture(params=PROVIDERS)
async def failing(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[FlagWorld, FailingFlags]]:
    flags = catalogue()
    async with flag_provider(request.param, tmp_path, flags) as (provider, transactions):
        await add_tenants(transactions, "apollo")
        wrapped = FailingFlags(provider)
        yield world_on(wrapped, transactions, flags), wrapped


async def test_a_triage_update_failing_on_its_third_write_puts_the_first_two_back(
    failing: tuple[FlagWorld, FailingFlags],
) -> None:
    world, provider = failing
    await provider.inner.set_override("apollo", "mso_completion_threshold", 0.6)  # kept as is
    provider.fail_sets = (4,)  # the first set above was call 1: the update's third is call 4
    with pytest.raises(FlagsUnavailable):
        await world.update_thresholds.execute(
            OPERATOR,
            UpdateTriageThresholdsCommand(tenant_id="apollo", values=FIVE, reason="tune"),
        )
    assert await provider.inner.overrides("apollo") == {"mso_completion_threshold": 0.6}
    assert await world.audit("triage_threshold.update") == []
    intent = await world.intent(1)
    assert intent is not None
    assert intent.status is IntentStatus.FAILED


async def test_a_triage_update_that_succeeds_writes_one_entry_per_change(
    failing: tuple[FlagWorld, FailingFlags],
) -> None:
    world, _ = failing
    result = await world.update_thresholds.execute(
        OPERATOR, UpdateTriageThresholdsCommand(tenant_id="apollo", values=FIVE, reason="tune")
    )
    assert {t.definition.name: t.value for t in result.thresholds if t.overridden} == FIVE
    entries = await world.audit("triage_threshold.update")
    assert sorted(e.resource_id or "" for e in entries) == sorted(FIVE)
    assert all(e.after and e.after["reason"] == "tune" for e in entries)


async def test_a_write_the_provider_refused_fails_and_is_not_audited(
    failing: tuple[FlagWorld, FailingFlags],
) -> None:
    world, provider = failing
    provider.fail_sets = (1,)
    with pytest.raises(FlagsUnavailable):
        await world.override.execute(OPERATOR, _override())
    assert await provider.inner.overrides("apollo") == {}
    assert await world.audit("flag.identity_override") == []
    intent = await world.intent(1)
    assert intent is not None
    assert intent.status is IntentStatus.FAILED


async def test_a_write_that_timed_out_after_going_through_succeeds_and_is_audited_once(
    failing: tuple[FlagWorld, FailingFlags],
) -> None:
    world, provider = failing
    provider.fail_sets, provider.after_write = (1,), True
    result = await world.override.execute(OPERATOR, _override())
    assert result.value == 0.3
    assert await provider.inner.overrides("apollo") == {"triage_risk_threshold": 0.3}
    assert len(await world.audit("flag.identity_override")) == 1


async def test_a_provider_that_cannot_be_asked_leaves_the_change_to_reconcile(
    failing: tuple[FlagWorld, FailingFlags],
) -> None:
    world, provider = failing
    await world.show.execute(OPERATOR, _query())  # a state in the cache
    provider.fail_sets, provider.after_write = (1,), True
    provider.unreachable_after_failure = True
    with pytest.raises(FlagsUnavailable):
        await world.override.execute(OPERATOR, _override())
    provider.overrides_down = False
    intent = await world.intent(1)
    assert intent is not None
    assert intent.status is IntentStatus.PENDING
    assert await world.audit("flag.identity_override") == []

    report = await world.flags.side_effects.reconcile(world.flags.effects, older_than=timedelta(0))
    assert list(report.completed) == [intent.id]
    assert len(await world.audit("flag.identity_override")) == 1
    again = await world.flags.side_effects.reconcile(world.flags.effects, older_than=timedelta(0))
    assert (list(again.completed), list(again.abandoned)) == ([], [])
    assert len(await world.audit("flag.identity_override")) == 1


async def test_a_flagsmith_write_made_but_answered_too_late_is_audited_once_its_document_shows_it(
    tmp_path: Path,
) -> None:
    """Flagsmith made the write but answered after the timeout, and the document it serves
    trails its writes: the change is neither failed nor left unaudited on the older
    document's word. It stays pending; reconcile, once the document can show the write,
    completes it with its one audit entry."""
    flags = catalogue()
    async with (
        database("memory", tmp_path) as transactions,
        flagsmith_feature_flags(flags, timeout=0.3, retries=0, trail_seconds=1.0) as (
            adapter,
            fake,
        ),
    ):
        await add_tenants(transactions, "apollo")
        world = world_on(adapter, transactions, flags)
        fake.trail_writes()
        fake.late_next(0.6, method="PUT")
        with pytest.raises(FlagsUnavailable):
            await world.override.execute(OPERATOR, _override())
        assert fake.override_of("apollo", "triage_risk_threshold") == (True, "0.3")
        intent = await world.intent(1)
        assert intent is not None
        assert intent.status is IntentStatus.PENDING
        assert await world.audit("flag.identity_override") == []

        fake.catch_up()
        await asyncio.sleep(1.0)
        effects = world.flags.effects
        report = await world.flags.side_effects.reconcile(effects, older_than=timedelta(0))
        assert list(report.completed) == [intent.id]
        assert len(await world.audit("flag.identity_override")) == 1


async def test_reads_are_served_stale_while_the_provider_is_down(
    failing: tuple[FlagWorld, FailingFlags],
) -> None:
    world, provider = failing
    flags = world_on(provider, world.transactions, world.catalogue, ttl=0)
    fresh = await flags.show.execute(OPERATOR, _query())
    provider.down = True
    stale = await flags.show.execute(OPERATOR, _query())
    assert stale.stale is True
    assert stale.values == fresh.values
    cold = world_on(provider, world.transactions, world.catalogue, ttl=0)
    with pytest.raises(FlagsUnavailable):
        await cold.show.execute(OPERATOR, _query())


async def test_a_bug_in_the_provider_is_never_served_as_stale_flags(
    failing: tuple[FlagWorld, FailingFlags],
) -> None:
    """Only an unavailable provider is answered from the cache; a bug reaches the 500 path
    and its log."""
    world, provider = failing
    flags = world_on(provider, world.transactions, world.catalogue, ttl=0)
    await flags.show.execute(OPERATOR, _query())
    provider.broken = True
    with pytest.raises(TypeError):
        await flags.show.execute(OPERATOR, _query())


def _override() -> OverrideFlagCommand:
    return OverrideFlagCommand(
        tenant_id="apollo", flag="triage_risk_threshold", value=0.3, reason="pilot"
    )


def _query() -> Any:
    from admin_core.flags.use_cases import EffectiveFlagsQuery

    return EffectiveFlagsQuery(tenant_id="apollo")


# --------------------------------------------------------------------------- a crash


@asynccontextmanager
async def after_a_killed_change(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str
) -> AsyncIterator[tuple[FlagWorld, FeatureFlags]]:
    """Run `tests.support.killed_flag_change` with `args` (after the database and the
    provider) until it is killed; then yield a world on the same database and provider whose
    clock is later than the killed process's lease (reconcile may take its intent over), and
    the provider itself."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'admin_core.db'}"
    from adapters.sql.migrate import upgrade

    await upgrade(database)
    flags = catalogue()
    provider_env: dict[str, str] = {}
    fake = None
    if kind == "flagsmith":
        from tests.support.fake_flagsmith import running_fake_for

        fake = running_fake_for(flags)
        provider_env = fake.adapter_env()
        for name, value in provider_env.items():  # the child's provider, and this one's
            monkeypatch.setenv(name, value)
    try:
        await run_until_killed(
            "tests.support.killed_flag_change", database, kind, *args, env=provider_env
        )

        from adapters.sql.engine import create_engine
        from adapters.sql.transaction import SqlTransactions

        engine = create_engine(database)
        try:
            transactions = SqlTransactions(engine, SystemClock(), UlidGenerator())
            provider = await killed_flag_change.provider_for(kind, transactions, flags)
            try:
                yield world_on(provider, transactions, flags, clock=LaterClock(LEASE)), provider
            finally:
                await getattr(provider, "aclose", _nothing)()
        finally:
            await engine.dispose()
    finally:
        if fake is not None:
            fake.stop()


#: Per mode of `killed_flag_change` that makes one write: what the provider holds once it
#: made it, the audit action of the change, and the entry's `after`.
SINGLE_WRITES = {
    "override": (
        {"triage_risk_threshold": 0.3},
        "flag.identity_override",
        {"value": 0.3, "overridden": True, "reason": "pilot"},
    ),
    "clear": (
        {k: v for k, v in killed_flag_change.BEFORE.items() if k != "triage_risk_threshold"},
        "flag.identity_override_removed",
        {
            "value": catalogue().get("triage_risk_threshold").default,
            "overridden": False,
            "reason": killed_flag_change.CLEAR_REASON,
        },
    ),
}


@pytest.mark.parametrize("mode", sorted(SINGLE_WRITES))
@pytest.mark.parametrize("kind", ["sqlite", "flagsmith"])
async def test_a_process_killed_between_the_provider_and_the_audit_is_reconciled(
    kind: str, mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child process overrides a flag (or clears its override) and dies (SIGKILL) right
    after the provider confirmed the write, before the audit entry. Reconcile then writes
    exactly one entry, and the provider holds the change."""
    held, action, after = SINGLE_WRITES[mode]
    async with after_a_killed_change(kind, tmp_path, monkeypatch, mode) as (world, provider):
        assert await provider.overrides("apollo") == held
        assert await world.audit(action) == []
        effects = world.flags.effects
        report = await world.flags.side_effects.reconcile(effects, older_than=timedelta(0))
        assert len(report.completed) == 1
        again = await world.flags.side_effects.reconcile(effects, older_than=timedelta(0))
        assert (list(again.completed), list(again.abandoned)) == ([], [])
        [entry] = await world.audit(action)
        assert entry.after == after
        assert entry.request_id == "req-killed"
        assert await provider.overrides("apollo") == held
        async with world.transactions() as tx:
            intent = await tx.intents.get(report.completed[0])
        assert intent is not None
        assert intent.status is IntentStatus.DONE


@pytest.mark.parametrize("k", [1, len(killed_flag_change.THRESHOLDS) - 1])
@pytest.mark.parametrize("kind", ["sqlite", "flagsmith"])
async def test_a_triage_update_killed_after_some_of_its_writes_is_put_back_by_reconcile(
    kind: str, k: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child process updates five thresholds in one intent (replacing an override, adding
    some, clearing one) and dies (SIGKILL) right after the provider confirmed its `k`th
    write: the provider holds part of the update, the audit log none of it. Reconcile puts
    back what was written — the provider holds exactly the overrides it held before — and
    fails the intent, with no entry; a second reconcile finds nothing to do."""
    before = dict(killed_flag_change.BEFORE)
    async with after_a_killed_change(kind, tmp_path, monkeypatch, "thresholds", str(k)) as (
        world,
        provider,
    ):
        half = killed_flag_change.after_writes(k)
        assert half != before
        assert await provider.overrides("apollo") == half  # died after exactly k writes
        assert await world.audit("triage_threshold.update") == []

        effects = world.flags.effects
        report = await world.flags.side_effects.reconcile(effects, older_than=timedelta(0))
        assert (list(report.completed), len(report.abandoned)) == ([], 1)
        assert await provider.overrides("apollo") == before
        assert await world.audit("triage_threshold.update") == []
        async with world.transactions() as tx:
            intent = await tx.intents.get(report.abandoned[0])
        assert intent is not None
        assert intent.status is IntentStatus.FAILED
        assert intent.kind == overrides.KIND
        assert len(intent.payload["changes"]) == len(killed_flag_change.THRESHOLDS)

        again = await world.flags.side_effects.reconcile(effects, older_than=timedelta(0))
        assert (list(again.completed), list(again.abandoned)) == ([], [])
        assert await provider.overrides("apollo") == before
        assert await world.audit("triage_threshold.update") == []


async def _nothing() -> None:
    return None


def _cancelled() -> None:
    raise asyncio.CancelledError  # the request is gone before it records anything


@pytest.mark.parametrize("kind", PROVIDERS)
async def test_a_change_left_by_a_dead_caller_is_settled_before_the_next_one(
    kind: str, tmp_path: Path
) -> None:
    """The first change's caller dies after the provider took it. A later change of the same
    tenant's flags (once the dead caller's lease ran out) first settles the first one —
    its audit entry written — and only then reads and changes the flag. Settled the other
    way round, the first change would find its value replaced and put back what it replaced,
    undoing the newer change."""
    flags = catalogue()
    async with flag_provider(kind, tmp_path, flags) as (provider, transactions):
        await add_tenants(transactions, "apollo")
        dying = world_on(DieAfterWrite(provider, _cancelled), transactions, flags)
        with pytest.raises(asyncio.CancelledError):
            await dying.override.execute(OPERATOR, risk(0.3, "pilot"))
        assert await provider.overrides("apollo") == {"triage_risk_threshold": 0.3}

        later = world_on(
            provider, transactions, flags, clock=LaterClock(LEASE), ids=UlidGenerator()
        )
        await later.override.execute(OPERATOR, risk(0.5, "second"))
        report = await later.flags.side_effects.reconcile(
            later.flags.effects, older_than=timedelta(0)
        )
        assert (list(report.completed), list(report.abandoned)) == ([], [])
        assert await provider.overrides("apollo") == {"triage_risk_threshold": 0.5}
        entries = sorted(await later.audit("flag.identity_override"), key=lambda e: e.seq)
        assert [(e.before, e.after) for e in entries if e.before and e.after] == [
            (
                {"value": flags.get("triage_risk_threshold").default, "overridden": False},
                {"value": 0.3, "overridden": True, "reason": "pilot"},
            ),
            (
                {"value": 0.3, "overridden": True},
                {"value": 0.5, "overridden": True, "reason": "second"},
            ),
        ]


def risk(value: float, reason: str) -> OverrideFlagCommand:
    return OverrideFlagCommand(
        tenant_id="apollo", flag="triage_risk_threshold", value=value, reason=reason
    )


def replicas(
    provider: Any, transactions: Any, flags: Any, first: Any = None
) -> tuple[FlagWorld, FlagWorld]:
    """Two replicas of the app on one provider and one database: each its own cache, locks
    and ids."""
    return (
        world_on(first or provider, transactions, flags, ids=UlidGenerator()),
        world_on(provider, transactions, flags, ids=UlidGenerator()),
    )


def before_and_after(entries: list[Any]) -> list[tuple[Any, Any]]:
    ordered = sorted(entries, key=lambda e: e.seq)
    return [(e.before["value"], e.after["value"]) for e in ordered if e.before and e.after]


@pytest.mark.parametrize("kind", PROVIDERS)
async def test_a_change_records_what_another_replica_wrote_not_its_own_cache(
    kind: str, tmp_path: Path
) -> None:
    flags = catalogue()
    default = flags.get("triage_risk_threshold").default
    async with flag_provider(kind, tmp_path, flags) as (provider, transactions):
        await add_tenants(transactions, "apollo")
        a, b = replicas(provider, transactions, flags)
        await a.show.execute(OPERATOR, _query())  # a's cache: no override
        await b.override.execute(OPERATOR, risk(0.3, "b"))
        outcome = await a.override.execute(OPERATOR, risk(0.5, "a"))
        assert outcome.previous_value == 0.3
        assert before_and_after(await a.audit("flag.identity_override")) == [
            (default, 0.3),
            (0.3, 0.5),
        ]


@pytest.mark.parametrize("kind", PROVIDERS)
async def test_a_change_planned_before_another_replicas_landed_is_planned_again(
    kind: str, tmp_path: Path
) -> None:
    """Replica a reads the overrides and plans; replica b's change lands before a's intent is
    recorded. a withdraws its plan (the provider is not called with it) and plans again on
    what b wrote: its entry's `before` is b's value, and nothing b wrote is lost."""
    flags = catalogue()
    default = flags.get("triage_risk_threshold").default
    async with flag_provider(kind, tmp_path, flags) as (provider, transactions):
        await add_tenants(transactions, "apollo")
        paused = PauseAfterRead(provider)
        a, b = replicas(provider, transactions, flags, first=paused)
        planning = asyncio.create_task(a.override.execute(OPERATOR, risk(0.5, "a")))
        await paused.read.wait()
        await b.override.execute(OPERATOR, risk(0.3, "b"))
        paused.go.set()
        outcome = await planning
        assert outcome.previous_value == 0.3
        assert await provider.overrides("apollo") == {"triage_risk_threshold": 0.5}
        assert before_and_after(await a.audit("flag.identity_override")) == [
            (default, 0.3),
            (0.3, 0.5),
        ]


@pytest.mark.parametrize("kind", PROVIDERS)
async def test_concurrent_changes_on_two_replicas_chain_their_before_and_after(
    kind: str, tmp_path: Path
) -> None:
    """Every entry's `before` is the previous entry's `after`, and the provider ends with the
    last entry's value: no change is lost or recorded over a value it did not replace."""
    flags = catalogue()
    async with flag_provider(kind, tmp_path, flags) as (provider, transactions):
        await add_tenants(transactions, "apollo")
        a, b = replicas(provider, transactions, flags)
        values = [round(0.05 * n, 2) for n in range(1, 9)]
        await asyncio.gather(
            *(
                (a if n % 2 else b).override.execute(OPERATOR, risk(value, f"r{n}"))
                for n, value in enumerate(values)
            )
        )
        chain = before_and_after(await a.audit("flag.identity_override"))
        assert sorted(after for _, after in chain) == values
        assert all(chain[i][0] == chain[i - 1][1] for i in range(1, len(chain)))
        assert await provider.overrides("apollo") == {"triage_risk_threshold": chain[-1][1]}


async def test_changes_queued_behind_a_dead_callers_change_all_answer_within_the_patience(
    tmp_path: Path,
) -> None:
    """ADR 0048: a change waits 10 s at most (here 0.5 s), then FLAGS_UNAVAILABLE — counted
    from the call, so changes queued in one process behind each other do not add their
    waits up."""
    flags = catalogue()
    async with flag_provider("memory", tmp_path, flags) as (provider, transactions):
        await add_tenants(transactions, "apollo")
        world = world_on(provider, transactions, flags, patience_seconds=0.5)
        now = SystemClock().now()
        async with transactions() as tx:  # a change whose caller died; its lease runs on
            await tx.intents.add(
                Intent(
                    id="int_dead",
                    kind=overrides.KIND,
                    key="int_dead",
                    tenant_id="apollo",
                    payload=overrides.payload("apollo", [], {}),
                    audit=(),
                    status=IntentStatus.PENDING,
                    created_at=now,
                    updated_at=now,
                    lease_until=now + timedelta(minutes=1),
                    subject=overrides.subject("apollo"),
                )
            )
            await tx.commit()
        started = time.monotonic()
        answers = await asyncio.gather(
            *(world.override.execute(OPERATOR, _override()) for _ in range(6)),
            return_exceptions=True,
        )
        elapsed = time.monotonic() - started
    assert all(isinstance(a, FlagsUnavailable) for a in answers), answers
    assert elapsed < 2.0, elapsed  # six patiences one after another would be 3 s


async def test_a_stale_plan_left_by_a_dead_caller_never_undoes_the_change_that_made_it_stale(
    failing: tuple[FlagWorld, FailingFlags],
) -> None:
    """A caller planned a triage update on an override of 342: 342 → 120, and a first
    override of 7 offers per case. Another replica's update then removed the 342 and set the
    7 itself; the caller recorded its intent and died before it found its plan stale (it
    never called the provider). The provider now holds one of the stale plan's targets (the
    7, written by the other replica) and neither the target nor the planned-on value of the
    other flag. Reconcile must abandon the stale intent without touching the provider: "put
    back" would clear the other replica's audited 7."""
    world, provider = failing
    pfs, offers = "mso_pfs_skip_threshold", "mso_max_offers_per_case"
    await provider.inner.set_override("apollo", pfs, 342)
    await world.update_thresholds.execute(  # the other replica's change, audited
        OPERATOR,
        UpdateTriageThresholdsCommand(
            tenant_id="apollo", values={pfs: None, offers: 7}, reason="other replica"
        ),
    )
    assert await provider.inner.overrides("apollo") == {offers: 7}
    entries = await world.audit("triage_threshold.update")
    assert len(entries) == 2
    stale = overrides.payload(
        "apollo",
        [
            FlagChange(flag=pfs, value=120, had_override=True, previous=342),
            FlagChange(flag=offers, value=7, had_override=False, previous=None),
        ],
        {pfs: 342},
    )
    then = SystemClock().now() - timedelta(minutes=5)
    async with world.transactions() as tx:
        await tx.intents.add(
            Intent(
                id="int_stale",
                kind=overrides.KIND,
                key="int_stale",
                tenant_id="apollo",
                payload=stale,
                audit=(),
                status=IntentStatus.PENDING,
                created_at=then,
                updated_at=then,
                lease_until=then + LEASE,
                subject=overrides.subject("apollo"),
            )
        )
        await tx.commit()
    sets = provider.sets
    report = await world.flags.side_effects.reconcile(world.flags.effects, older_than=timedelta(0))
    assert (list(report.completed), list(report.abandoned)) == ([], ["int_stale"])
    assert await provider.inner.overrides("apollo") == {offers: 7}
    assert provider.sets == sets  # nothing "put back"
    assert await world.audit("triage_threshold.update") == entries
    async with world.transactions() as tx:
        intent = await tx.intents.get("int_stale")
    assert intent is not None
    assert intent.status is IntentStatus.FAILED
