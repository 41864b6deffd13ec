"""A tenant's flags as the flag use cases (and triage) reach them: the catalogue, the
provider, the tenants, and the one way a change reaches the provider — as an external side
effect (docs/adr/0048)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from admin_core.audit.model import AuditRecord
from admin_core.flags import overrides
from admin_core.flags.errors import FlagsUnavailable
from admin_core.flags.model import (
    EffectiveFlags,
    FlagCatalogue,
    FlagChange,
    FlagState,
    effective_flags,
)
from admin_core.flags.ports import FeatureFlags
from admin_core.side_effects.ports import IntentSubjectBusy, SideEffectsTransaction
from admin_core.side_effects.runner import (
    PATIENCE_SECONDS,
    LeaseLost,
    SideEffects,
    SubjectBusy,
    wait_steps,
)
from admin_core.tenants.known import KnownTenants

#: The audit event of every change of a tenant's flags, thresholds included.
FLAG_EVENT = "ADMIN_FLAG_IDENTITY_OVERRIDE"


class TenantFlags:
    """What the flag use cases share: the catalogue, the provider, the tenants, and the one
    way a change reaches the provider (`change`)."""

    def __init__(
        self,
        catalogue: FlagCatalogue,
        flags: FeatureFlags,
        tenants: KnownTenants,
        side_effects: SideEffects[SideEffectsTransaction],
        patience_seconds: float = PATIENCE_SECONDS,
    ) -> None:
        self.catalogue = catalogue
        self.provider = flags
        self.tenants = tenants
        self.side_effects = side_effects
        self.patience_seconds = patience_seconds
        self._effect = overrides.FlagOverrides(flags)
        self._last: tuple[FlagState, EffectiveFlags] | None = None

    @contextlib.asynccontextmanager
    async def exclusive(self, tenant_id: str, *, until: float) -> AsyncIterator[None]:
        """One change of the tenant's flags at a time, whatever crashes and replicas do: in
        this process a lock; then a change still pending (another replica's, or one whose
        caller died) is waited for, or settled as reconcile would, before the block reads
        what it changes. A change settled later than a newer one would put back what the
        newer one wrote. Both waits end by `until` (the event loop's clock): FLAGS_UNAVAILABLE
        then, however many changes queued ahead."""
        loop = asyncio.get_running_loop()
        try:
            async with self.side_effects.serialized(
                tenant_id, patience_seconds=max(0.0, until - loop.time())
            ):
                await self.side_effects.clear(
                    self._effect,
                    overrides.subject(tenant_id),
                    patience_seconds=max(0.0, until - loop.time()),
                )
                yield
        except SubjectBusy as error:
            raise _busy(tenant_id) from error

    @property
    def effects(self) -> Mapping[str, overrides.FlagOverrides]:
        """The effects of the intents flags leave, for `reconcile`."""
        return {overrides.KIND: self._effect}

    async def effective(self, tenant_id: str) -> EffectiveFlags:
        state = await self.provider.state(tenant_id)
        last = self._last
        if last is not None and last[0] is state:  # the same cached state: the same answer
            return last[1]
        result = effective_flags(self.catalogue, tenant_id, state)
        self._last = (state, result)
        return result

    async def apply(self, tenant_id: str, plan: Plan) -> Planned:
        """Plan a change of the tenant's flags on what the provider holds now, and make it:
        `plan(before, held)` gives the changes and their audit entries from the tenant's
        flags and its overrides, both as the provider holds them at this moment (the
        overrides read afresh, never from a cache: they are what the entries' `before` say).

        One change at a time across replicas: a change still pending is settled first
        (`exclusive`), and a change planned on overrides that another replica changed before
        this one's intent was recorded is withdrawn and planned again, for up to the
        patience, counted from the call: waiting behind other changes of this process
        counts. Nothing to change (no changes planned) is returned as planned."""
        until = asyncio.get_running_loop().time() + self.patience_seconds
        for _ in range(wait_steps(self.patience_seconds)):
            async with self.exclusive(tenant_id, until=until):
                held = await self.provider.overrides(tenant_id)
                state = await self.provider.state(tenant_id)
                before = effective_flags(
                    self.catalogue,
                    tenant_id,
                    FlagState(environment=state.environment, overrides=held, stale=state.stale),
                )
                changes, audit = plan(before, held)
                planned = Planned(before=before, held=held, changes=changes)
                if not changes:
                    return planned
                try:
                    answer = await self.side_effects.perform(
                        self._effect,
                        kind=overrides.KIND,
                        tenant_id=tenant_id,
                        payload=overrides.payload(tenant_id, changes, held),
                        audit=audit,
                        subject=overrides.subject(tenant_id),
                        premise=functools.partial(self._unchanged, tenant_id, held),
                    )
                except IntentSubjectBusy:  # another replica's change began meanwhile
                    continue
                except LeaseLost as error:
                    raise FlagsUnavailable(
                        "The flag provider took longer than this change's lease, and another "
                        "caller settled the change; read the flags and try again.",
                        details={"tenant_id": tenant_id},
                    ) from error
                if answer is not None:
                    return planned
        raise _busy(tenant_id)

    async def _unchanged(self, tenant_id: str, held: Mapping[str, Any]) -> bool:
        """Whether the tenant's overrides are still `held`."""
        return overrides.same_overrides(await self.provider.overrides(tenant_id), held)


@dataclass(frozen=True, slots=True, kw_only=True)
class Planned:
    """A change as it was planned and made: the tenant's flags and overrides it was planned
    on, and the changes (none: nothing needed changing)."""

    before: EffectiveFlags
    held: Mapping[str, Any]
    changes: Sequence[FlagChange]


#: What a change of a tenant's flags makes of its flags and overrides (`TenantFlags.apply`):
#: the changes, and the audit entries that record them.
Plan = Callable[
    [EffectiveFlags, Mapping[str, Any]], tuple[Sequence[FlagChange], Sequence[AuditRecord]]
]


def _busy(tenant_id: str) -> FlagsUnavailable:
    return FlagsUnavailable(
        "Another change of this tenant's flags is still in progress; try again shortly.",
        details={"tenant_id": tenant_id},
    )
