"""Changes of a tenant's flags (overrides, clears, triage updates of several thresholds in one
intent) under random provider faults, dying callers, two replicas, time passing and reconcile
(ADR 0048), on the in-memory adapters. Whenever no change is pending, the provider holds
exactly what the audit entries replay to; there is always one entry per change the provider
took; and a reconcile with the provider healthy leaves no change pending but those whose
caller may still be running."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Mapping
from datetime import timedelta
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from adapters.memory.flags import InMemoryFeatureFlags
from adapters.memory.runtime import SequentialIds
from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryTransactions
from admin_core.flags.errors import FlagsUnavailable
from admin_core.flags.use_cases import ClearFlagOverrideCommand, OverrideFlagCommand
from admin_core.side_effects.model import Intent, IntentStatus
from admin_core.side_effects.runner import LEASE
from admin_core.triage.use_cases import UpdateTriageThresholdsCommand
from tests.support.clock import ManualClock
from tests.support.flags import OPERATOR, add_tenants, catalogue, defaults, world_on

TENANT = "apollo"
#: The flags changed, each with two values its catalogue entry allows.
VALUES: Mapping[str, tuple[Any, ...]] = {
    "triage_risk_threshold": (0.3, 0.5),
    "mso_completion_threshold": (0.6, 0.9),
    "mso_max_offers_per_case": (5, 7),
    "enable_mso_booking": (False, True),
}
THRESHOLDS = ("triage_risk_threshold", "mso_completion_threshold", "mso_max_offers_per_case")
#: The audit actions of a change of a tenant's flags.
ACTIONS = ("flag.identity_override", "flag.identity_override_removed", "triage_threshold.update")


class Fault(enum.Enum):
    REFUSE = "refuse"  # the write fails and does not land
    REFUSE_THEN_UNREACHABLE = "refuse_then_unreachable"  # ... and then cannot be asked
    LOSE_ANSWER = "lose_answer"  # the write lands, its answer is lost
    DIE = "die"  # the write lands, and the caller dies before it records anything


class Flaky(InMemoryFeatureFlags):
    """The in-memory provider with the failures of a remote one: `fault` strikes the `at`th
    write (sets and clears alike) from when it was set, once."""

    def __init__(self, environment: Mapping[str, Any]) -> None:
        super().__init__(environment)
        self.fault: Fault | None = None
        self.at = 1
        self.writes = 0  # since the fault was set
        self.unreachable = False  # the overrides cannot be read

    def strike(self, fault: Fault | None, at: int = 1) -> None:
        self.fault, self.at, self.writes = fault, at, 0

    async def held(self, identity: str) -> Mapping[str, Any]:
        """What the provider holds, whatever its faults."""
        return await super().overrides(identity)

    async def overrides(self, identity: str) -> Mapping[str, Any]:
        if self.unreachable:
            raise FlagsUnavailable("The flag provider cannot be asked (test).")
        return await super().overrides(identity)

    async def set_override(self, identity: str, flag: str, value: Any) -> None:
        fault = self._before_write()
        await super().set_override(identity, flag, value)
        self._after_write(fault)

    async def clear_override(self, identity: str, flag: str) -> None:
        fault = self._before_write()
        await super().clear_override(identity, flag)
        self._after_write(fault)

    def _before_write(self) -> Fault | None:
        self.writes += 1
        if self.fault is None or self.writes != self.at:
            return None
        fault, self.fault = self.fault, None
        if fault in (Fault.REFUSE, Fault.REFUSE_THEN_UNREACHABLE):
            self.unreachable = fault is Fault.REFUSE_THEN_UNREACHABLE
            raise FlagsUnavailable("The flag provider refused the write (test).")
        return fault

    @staticmethod
    def _after_write(fault: Fault | None) -> None:
        if fault is Fault.LOSE_ANSWER:
            raise FlagsUnavailable("The flag provider's answer was lost (test).")
        if fault is Fault.DIE:
            raise asyncio.CancelledError  # the caller is gone before it records anything


def replay(store: InMemoryStore) -> dict[str, Any]:
    """The tenant's overrides as its audit entries tell them, from none."""
    held: dict[str, Any] = {}
    for entry in sorted(store.audit_entries, key=lambda e: e.seq):
        if entry.action not in ACTIONS or entry.tenant_id != TENANT:
            continue
        assert entry.resource_id is not None
        assert entry.after is not None
        if entry.after["overridden"]:
            held[entry.resource_id] = entry.after["value"]
        else:
            held.pop(entry.resource_id, None)
    return held


values = st.sampled_from([(flag, value) for flag, vs in VALUES.items() for value in vs])
#: A triage update: some thresholds, each a value or None (clear its override).
thresholds = st.lists(
    st.sampled_from([(flag, value) for flag in THRESHOLDS for value in (*VALUES[flag], None)]),
    min_size=1,
    max_size=len(THRESHOLDS),
    unique_by=lambda pair: pair[0],
).map(dict)


#: A fault of the provider for one call, striking its `at`th write — or none.
faults = st.none() | st.tuples(st.sampled_from(list(Fault)), st.integers(1, 3))


class FlagChangeMachine(RuleBasedStateMachine):
    """Random interleavings of changes of one tenant's flags on two replicas (one provider,
    one database; each replica its own cache and locks) with provider faults, dying callers,
    time passing and reconcile. A fault is drawn with each call (a change, or a reconcile
    whose put-backs are writes too) and lasts for that call."""

    @initialize()
    def start(self) -> None:
        self.loop = asyncio.new_event_loop()
        flags = catalogue()
        self.provider = Flaky(defaults(flags))
        # Every now() moves 1 ms on: reconcile sees what was recorded before it, and a lease
        # runs out only when time passes.
        self.clock = ManualClock(step=timedelta(milliseconds=1))
        ids = SequentialIds()
        self.store = InMemoryStore()
        transactions = InMemoryTransactions(self.store, self.clock, ids)
        self.loop.run_until_complete(add_tenants(transactions, TENANT))
        self.replicas = [
            world_on(
                self.provider, transactions, flags, clock=self.clock, ids=ids, patience_seconds=0.05
            )
            for _ in range(2)
        ]

    def teardown(self) -> None:
        loop = getattr(self, "loop", None)
        if loop is not None:
            loop.close()

    def _run(self, fault: tuple[Fault, int] | None, *calls: Awaitable[Any]) -> None:
        """Run `calls` at once, the provider with `fault`; a call the provider failed, or
        whose caller died, is over. Anything else (a bug) fails the test."""

        async def together() -> list[Any]:
            return await asyncio.gather(*calls, return_exceptions=True)

        if fault is not None:
            self.provider.strike(*fault)
        try:
            answers = self.loop.run_until_complete(together())
        finally:
            self.provider.strike(None)
        for answer in answers:
            if isinstance(answer, BaseException) and not isinstance(
                answer, FlagsUnavailable | asyncio.CancelledError
            ):
                raise answer

    def _override(self, replica: int, flag: str, value: Any) -> Awaitable[Any]:
        command = OverrideFlagCommand(tenant_id=TENANT, flag=flag, value=value, reason="test")
        return self.replicas[replica].override.execute(OPERATOR, command)

    def _clear(self, replica: int, flag: str) -> Awaitable[Any]:
        command = ClearFlagOverrideCommand(tenant_id=TENANT, flag=flag, reason="test")
        return self.replicas[replica].clear.execute(OPERATOR, command)

    def _thresholds(self, replica: int, update: Mapping[str, Any]) -> Awaitable[Any]:
        command = UpdateTriageThresholdsCommand(tenant_id=TENANT, values=update, reason="test")
        return self.replicas[replica].update_thresholds.execute(OPERATOR, command)

    @rule(replica=st.integers(0, 1), change=values, fault=faults)
    def override(
        self, replica: int, change: tuple[str, Any], fault: tuple[Fault, int] | None
    ) -> None:
        self._run(fault, self._override(replica, *change))

    @rule(replica=st.integers(0, 1), flag=st.sampled_from(sorted(VALUES)), fault=faults)
    def clear(self, replica: int, flag: str, fault: tuple[Fault, int] | None) -> None:
        self._run(fault, self._clear(replica, flag))

    @rule(replica=st.integers(0, 1), update=thresholds, fault=faults)
    def update_thresholds(
        self, replica: int, update: dict[str, Any], fault: tuple[Fault, int] | None
    ) -> None:
        self._run(fault, self._thresholds(replica, update))

    @rule(first=thresholds, second=values, fault=faults)
    def both_replicas_at_once(
        self, first: dict[str, Any], second: tuple[str, Any], fault: tuple[Fault, int] | None
    ) -> None:
        self._run(fault, self._thresholds(0, first), self._override(1, *second))

    @rule()
    def provider_answers_again(self) -> None:
        self.provider.unreachable = False

    @rule()
    def time_passes(self) -> None:
        self.clock.current += LEASE + timedelta(seconds=1)

    @rule(replica=st.integers(0, 1), fault=faults)
    def reconcile(self, replica: int, fault: tuple[Fault, int] | None) -> None:
        healthy = fault is None and not self.provider.unreachable
        flags = self.replicas[replica].flags
        self._run(fault, flags.side_effects.reconcile(flags.effects, older_than=timedelta(0)))
        if healthy:  # only a change whose caller may still run is left
            now = self.clock.current
            for intent in self._pending():
                assert intent.lease_until is not None, intent
                assert intent.lease_until > now, intent

    @rule(replica=st.integers(0, 1))
    def heal_and_reconcile(self, replica: int) -> None:
        """The provider answers, every caller's lease has run out: reconcile settles all."""
        self.provider.unreachable = False
        self.time_passes()
        flags = self.replicas[replica].flags
        self._run(None, flags.side_effects.reconcile(flags.effects, older_than=timedelta(0)))
        assert self._pending() == []

    def _pending(self) -> list[Intent]:
        return [i for i in self.store.intents.values() if i.status is IntentStatus.PENDING]

    @precondition(lambda self: hasattr(self, "store"))
    @invariant()
    def one_entry_per_change_the_provider_took(self) -> None:
        done = [i for i in self.store.intents.values() if i.status is IntentStatus.DONE]
        assert len(self.store.audit_entries) == sum(len(i.audit) for i in done)

    @precondition(lambda self: hasattr(self, "store") and not self._pending())
    @invariant()
    def the_provider_holds_what_the_audit_log_replays_to(self) -> None:
        held = self.loop.run_until_complete(self.provider.held(TENANT))
        assert held == replay(self.store)


TestFlagChangeMachine = FlagChangeMachine.TestCase
TestFlagChangeMachine.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
