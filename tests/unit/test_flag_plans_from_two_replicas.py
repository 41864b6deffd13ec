"""Flag changes of one tenant from two replicas that plan at the same moment, on the
in-memory adapters (ADR 0050): the one whose intent comes second plans again on what the
first wrote, so both land and neither undoes the other."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest

from adapters.memory.flags import InMemoryFeatureFlags
from adapters.memory.runtime import SequentialIds
from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryTransactions
from adapters.system.runtime import SystemClock
from admin_core.flags.errors import FlagsUnavailable
from admin_core.flags.use_cases import OverrideFlagCommand
from admin_core.kernel.errors import DatabaseUnavailable
from admin_core.side_effects.model import IntentStatus
from tests.support.flags import OPERATOR, HeldWrites, add_tenants, catalogue, defaults, world_on

TENANT = "apollo"


class Rendezvous(InMemoryFeatureFlags):
    """The tenant's overrides, read by the first two callers at the same moment: each is
    handed them only once both have asked, so both plan on the same overrides."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self.reads = 0
        self.both_asked = asyncio.Event()

    async def overrides(self, identity: str) -> Mapping[str, Any]:
        self.reads += 1
        if self.reads == 2:
            self.both_asked.set()
        if self.reads <= 2:
            await self.both_asked.wait()
        return await super().overrides(identity)


async def test_two_replicas_planning_one_tenants_flags_at_once_both_land() -> None:
    """Two replicas override two flags of one tenant, both planned on the same overrides:
    the second to record its intent finds the first's, plans again once the first has
    landed, and writes its own beside it; each change has its one entry."""
    flags = catalogue()
    provider = Rendezvous(defaults(flags))
    transactions = InMemoryTransactions(InMemoryStore(), SystemClock(), SequentialIds())
    await add_tenants(transactions, TENANT)
    replicas = [world_on(provider, transactions, flags, patience_seconds=5) for _ in range(2)]
    commands = [
        OverrideFlagCommand(
            tenant_id=TENANT, flag="mso_pfs_skip_threshold", value=90, reason="tune"
        ),
        OverrideFlagCommand(
            tenant_id=TENANT, flag="matching_strategy_version", value="v1.0", reason="trial"
        ),
    ]
    await asyncio.wait_for(
        asyncio.gather(
            *(
                replica.override.execute(OPERATOR, c)
                for replica, c in zip(replicas, commands, strict=True)
            )
        ),
        10,
    )
    held = await provider.overrides(TENANT)
    assert (held["mso_pfs_skip_threshold"], held["matching_strategy_version"]) == (90, "v1.0")
    entries = await replicas[0].audit("flag.identity_override")
    assert len(entries) == 2
    assert provider.reads > 3  # the second planned again
    statuses = [i.status for i in transactions.store.intents.values()]
    assert statuses == [IntentStatus.DONE, IntentStatus.DONE]


class ReadsFailAfter(InMemoryFeatureFlags):
    """Answers the first `n` reads of the overrides, then cannot be reached."""

    def __init__(self, values: Mapping[str, Any], n: int) -> None:
        super().__init__(values)
        self.n = n
        self.reads = 0

    async def overrides(self, identity: str) -> Mapping[str, Any]:
        self.reads += 1
        if self.reads > self.n:
            raise FlagsUnavailable(details={"tenant_id": identity})
        return await super().overrides(identity)


async def test_a_change_whose_plan_cannot_be_checked_again_is_not_made() -> None:
    """The overrides are read to plan the change, then cannot be read again to check that
    nobody changed them before the change's intent was recorded: the change is not made
    (FLAGS_UNAVAILABLE), its intent is closed as not applied, and no entry is written."""
    flags = catalogue()
    provider = ReadsFailAfter(defaults(flags), n=1)
    transactions = InMemoryTransactions(InMemoryStore(), SystemClock(), SequentialIds())
    await add_tenants(transactions, TENANT)
    world = world_on(provider, transactions, flags, patience_seconds=1)
    command = OverrideFlagCommand(
        tenant_id=TENANT, flag="mso_pfs_skip_threshold", value=90, reason="tune"
    )
    with pytest.raises(FlagsUnavailable):
        await world.override.execute(OPERATOR, command)
    provider.n = 10**6
    assert "mso_pfs_skip_threshold" not in await provider.overrides(TENANT)
    assert await world.audit("flag.identity_override") == []
    statuses = [i.status for i in transactions.store.intents.values()]
    assert statuses == [IntentStatus.FAILED]


class OutageDatabase:
    """In-memory transactions behind a database that can drop out for a while: opening one
    is DATABASE_UNAVAILABLE while `down`."""

    def __init__(self, inner: InMemoryTransactions) -> None:
        self.inner = inner
        self.down = False
        self.refused = 0

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[Any]:
        if self.down:
            self.refused += 1
            raise DatabaseUnavailable()
        async with self.inner() as tx:
            yield tx


async def test_a_change_whose_lease_cannot_be_renewed_for_a_while_still_lands() -> None:
    """The database drops out while the provider takes its time with a change: renewing the
    change's lease fails meanwhile (said in the log), the call goes on, and once the database
    is back the change is recorded as made, with its one entry."""
    flags = catalogue()
    provider = HeldWrites(defaults(flags))
    inner = InMemoryTransactions(InMemoryStore(), SystemClock(), SequentialIds())
    await add_tenants(inner, TENANT)
    database = OutageDatabase(inner)
    world = world_on(provider, database, flags, renew_every_seconds=0.01)
    command = OverrideFlagCommand(
        tenant_id=TENANT, flag="mso_pfs_skip_threshold", value=90, reason="tune"
    )
    changing = asyncio.create_task(world.override.execute(OPERATOR, command))
    await asyncio.wait_for(provider.writing.wait(), 5)
    database.down = True
    await asyncio.sleep(0.1)  # several renewals refused
    database.down = False
    provider.let_go.set()
    change = await asyncio.wait_for(changing, 5)
    assert database.refused >= 2
    assert change.value == 90
    assert (await provider.overrides(TENANT))["mso_pfs_skip_threshold"] == 90
    assert len(await world.audit("flag.identity_override")) == 1
    statuses = [i.status for i in inner.store.intents.values()]
    assert statuses == [IntentStatus.DONE]
