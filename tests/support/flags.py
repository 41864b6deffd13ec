"""The flag use cases wired on a real flag provider and a real database, for the contract
suites: `flag_world(provider, tmp_path)` yields a `FlagWorld` with two tenants.

`provider` is one of `PROVIDERS`: the in-memory provider, the SQL one on SQLite or
PostgreSQL, or Flagsmith (the adapter against the local fake Flagsmith). Wrappers here fail
on purpose (`FailingFlags`), as a broken provider would; everything else is the real adapter.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.config_files.flags import load_flag_catalogue
from adapters.memory.flags import CachedFeatureFlags, InMemoryFeatureFlags
from adapters.memory.runtime import SequentialIds
from adapters.sql.flags import SqlFeatureFlags
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock
from admin_core.audit.model import AuditEntry, AuditFilter
from admin_core.directory.model import Provider
from admin_core.flags.errors import FlagsUnavailable
from admin_core.flags.model import FlagCatalogue, FlagState
from admin_core.flags.ports import FeatureFlags
from admin_core.flags.tenant_flags import TenantFlags
from admin_core.flags.use_cases import ClearFlagOverride, OverrideFlag, ShowEffectiveFlags
from admin_core.kernel.principal import Principal
from admin_core.kernel.runtime import Clock, IdGenerator
from admin_core.kernel.transaction import Transactions
from admin_core.side_effects.model import Intent
from admin_core.side_effects.runner import PATIENCE_SECONDS, RENEW_EVERY_SECONDS, SideEffects
from admin_core.tenants.known import KnownTenants
from admin_core.tenants.model import Tenant, TenantStatus
from admin_core.triage.use_cases import ShowTriageThresholds, UpdateTriageThresholds
from tests.support.databases import database

CATALOGUE_FILE = Path(__file__).resolve().parents[2] / "config" / "flags.yaml"
PROVIDERS = ("memory", "sqlite", "postgres", "flagsmith")
TENANTS = ("apollo", "fortis")
OPERATOR = Principal.operator("flags-test", request_id="req-flags")
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def catalogue() -> FlagCatalogue:
    return load_flag_catalogue(CATALOGUE_FILE)


def defaults(flags: FlagCatalogue) -> dict[str, Any]:
    return {name: d.default for name, d in flags.definitions.items()}


@asynccontextmanager
async def flag_provider(
    kind: str, tmp_path: Path, flags: FlagCatalogue
) -> AsyncIterator[tuple[FeatureFlags, Transactions[Any]]]:
    """A provider of `kind` and the transactions of the database beside it."""
    if kind == "flagsmith":
        from tests.support.fake_flagsmith import flagsmith_feature_flags

        async with (
            database("memory", tmp_path) as transactions,
            flagsmith_feature_flags(flags) as (adapter, _fake),
        ):
            yield adapter, transactions
        return
    backend = "memory" if kind == "memory" else kind
    async with database(backend, tmp_path) as transactions:
        if kind == "memory":
            yield InMemoryFeatureFlags(defaults(flags)), transactions
        else:
            assert isinstance(transactions, SqlTransactions)
            yield SqlFeatureFlags(transactions, defaults(flags), SystemClock().now), transactions


@dataclass
class FlagWorld:
    catalogue: FlagCatalogue
    provider: FeatureFlags
    transactions: Transactions[Any]
    flags: TenantFlags

    @property
    def show(self) -> ShowEffectiveFlags:
        return ShowEffectiveFlags(self.flags)

    @property
    def override(self) -> OverrideFlag:
        return OverrideFlag(self.flags)

    @property
    def clear(self) -> ClearFlagOverride:
        return ClearFlagOverride(self.flags)

    @property
    def show_thresholds(self) -> ShowTriageThresholds:
        return ShowTriageThresholds(self.flags)

    @property
    def update_thresholds(self) -> UpdateTriageThresholds:
        return UpdateTriageThresholds(self.flags)

    async def audit(self, action: str) -> list[AuditEntry]:
        async with self.transactions() as tx:
            entries = await tx.audit.query(AuditFilter(), before=None, limit=500)
        return [e for e in entries if e.action == action]

    async def intent(self, number: int) -> Intent | None:
        """The `number`th intent this world's changes recorded (their ids are sequential)."""
        async with self.transactions() as tx:
            return await tx.intents.get(f"int_{number:06d}")


async def add_tenants(transactions: Transactions[Any], *tenant_ids: str) -> None:
    async with transactions() as tx:
        for tenant_id in tenant_ids:
            await tx.providers.add(
                Provider(
                    id=f"prv_{tenant_id}",
                    name=tenant_id,
                    country=None,
                    city=None,
                    created_at=T0,
                    updated_at=T0,
                )
            )
            await tx.tenants.add(
                Tenant(
                    id=tenant_id,
                    name=tenant_id,
                    status=TenantStatus.ACTIVE,
                    provider_id=f"prv_{tenant_id}",
                    created_at=T0,
                    updated_at=T0,
                )
            )
        await tx.commit()


def world_on(
    provider: FeatureFlags,
    transactions: Transactions[Any],
    flags: FlagCatalogue,
    *,
    ttl: float = 60.0,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    patience_seconds: float = PATIENCE_SECONDS,
    renew_every_seconds: float = RENEW_EVERY_SECONDS,
) -> FlagWorld:
    cached = CachedFeatureFlags(provider, ttl=ttl)
    side_effects = SideEffects(
        transactions,
        clock or SystemClock(),
        ids or SequentialIds(),
        renew_every_seconds=renew_every_seconds,
    )
    tenant_flags = TenantFlags(
        catalogue=flags,
        flags=cached,
        tenants=KnownTenants(transactions),
        side_effects=side_effects,
        patience_seconds=patience_seconds,
    )
    return FlagWorld(
        catalogue=flags, provider=provider, transactions=transactions, flags=tenant_flags
    )


@asynccontextmanager
async def flag_world(kind: str, tmp_path: Path) -> AsyncIterator[FlagWorld]:
    flags = catalogue()
    async with flag_provider(kind, tmp_path, flags) as (provider, transactions):
        await add_tenants(transactions, *TENANTS)
        yield world_on(provider, transactions, flags)


class FailingFlags(FeatureFlags):
    """A real provider whose `set_override` fails on the calls numbered in `fail_sets`
    (1-based), before writing — or, with `after_write=True`, after writing (a timeout whose
    request went through). `down=True` fails every call; `broken=True` makes every call hit
    a bug (a TypeError, not the provider being unavailable); `overrides_down=True` only the
    fresh read of the overrides (the provider cannot be asked what it holds), and
    `unreachable_after_failure=True` sets it when a `set_override` fails."""

    def __init__(
        self,
        inner: FeatureFlags,
        *,
        fail_sets: tuple[int, ...] = (),
        after_write: bool = False,
        down: bool = False,
        broken: bool = False,
        overrides_down: bool = False,
        unreachable_after_failure: bool = False,
    ) -> None:
        self.broken = broken
        self.unreachable_after_failure = unreachable_after_failure
        self.inner = inner
        self.overrides_down = overrides_down
        self.fail_sets = fail_sets
        self.after_write = after_write
        self.down = down
        self.sets = 0

    def _check(self) -> None:
        if self.broken:
            raise TypeError("a bug in the adapter (test)")
        if self.down:
            raise FlagsUnavailable("The flag provider is down (test).")

    async def state(self, identity: str) -> FlagState:
        self._check()
        return await self.inner.state(identity)

    async def overrides(self, identity: str) -> Mapping[str, Any]:
        self._check()
        if self.overrides_down:
            raise FlagsUnavailable("The flag provider cannot be asked (test).")
        return await self.inner.overrides(identity)

    async def set_override(self, identity: str, flag: str, value: Any) -> None:
        self._check()
        self.sets += 1
        failing = self.sets in self.fail_sets
        if failing and self.unreachable_after_failure:
            self.overrides_down = True
        if failing and not self.after_write:
            raise FlagsUnavailable("The flag provider failed (test).")
        await self.inner.set_override(identity, flag, value)
        if failing:
            raise FlagsUnavailable("The flag provider timed out (test).")

    async def clear_override(self, identity: str, flag: str) -> None:
        self._check()
        await self.inner.clear_override(identity, flag)


class DieAfterWrite(FeatureFlags):
    """A real provider whose caller dies once a write has landed: `die` is called after the
    `after`th write (1-based, counting sets and clears alike) and every one after it (SIGKILL
    for a process, a cancellation for a request); the writes before it go through. `writes`
    counts the writes that landed."""

    def __init__(self, inner: FeatureFlags, die: Callable[[], None], *, after: int = 1) -> None:
        if after < 1:
            raise ValueError("after counts writes from 1")
        self.inner = inner
        self._die = die
        self.after = after
        self.writes = 0

    async def state(self, identity: str) -> FlagState:
        return await self.inner.state(identity)

    async def overrides(self, identity: str) -> Mapping[str, Any]:
        return await self.inner.overrides(identity)

    async def set_override(self, identity: str, flag: str, value: Any) -> None:
        await self.inner.set_override(identity, flag, value)
        self._landed()

    async def clear_override(self, identity: str, flag: str) -> None:
        await self.inner.clear_override(identity, flag)
        self._landed()

    def _landed(self) -> None:
        self.writes += 1
        if self.writes >= self.after:
            self._die()


class PauseAfterRead(FeatureFlags):
    """A real provider that holds its caller once, right after the first read of the
    overrides: `read` is set when the caller has planned on what it read, and the caller
    goes on when `go` is set (meanwhile another replica changes the flags)."""

    def __init__(self, inner: FeatureFlags) -> None:
        self.inner = inner
        self.read = asyncio.Event()
        self.go = asyncio.Event()

    async def state(self, identity: str) -> FlagState:
        return await self.inner.state(identity)

    async def overrides(self, identity: str) -> Mapping[str, Any]:
        held = await self.inner.overrides(identity)
        if not self.read.is_set():
            self.read.set()
            await self.go.wait()
        return held

    async def set_override(self, identity: str, flag: str, value: Any) -> None:
        await self.inner.set_override(identity, flag, value)

    async def clear_override(self, identity: str, flag: str) -> None:
        await self.inner.clear_override(identity, flag)


class HeldWrites(InMemoryFeatureFlags):
    """The in-memory provider whose writes wait until a test lets them go (`let_go`): a call
    that takes its time, or outlasts its lease. `writing` is set once one has begun."""

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        super().__init__(values or {})
        self.writing = asyncio.Event()
        self.let_go = asyncio.Event()

    async def set_override(self, identity: str, flag: str, value: Any) -> None:
        self.writing.set()
        await self.let_go.wait()
        await super().set_override(identity, flag, value)
