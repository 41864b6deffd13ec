"""A tenant's flags as the flag use cases (and triage) reach them: the catalogue, the
provider, the tenants, and the one way a change reaches the provider — as an external side
effect (docs/adr/0048)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence

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
from admin_core.kernel.validation import FieldChecks
from admin_core.side_effects.ports import IntentSubjectBusy, SideEffectsTransaction
from admin_core.side_effects.runner import SideEffects, SubjectBusy
from admin_core.tenants.known import KnownTenants

#: The audit event of every change of a tenant's flags, thresholds included.
FLAG_EVENT = "ADMIN_FLAG_IDENTITY_OVERRIDE"
MAX_REASON_LENGTH = 500
#: How long a change waits for another change of the same tenant's flags to be settled.
PATIENCE_SECONDS = 10.0


def check_reason(checks: FieldChecks, reason: str | None, *, required: bool = True) -> str | None:
    """Why the change is made: recorded in its audit entries."""
    return checks.text("reason", reason, max_length=MAX_REASON_LENGTH, required=required)


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
    async def exclusive(self, tenant_id: str) -> AsyncIterator[None]:
        """One change of the tenant's flags at a time, whatever crashes and replicas do: in
        this process a lock; then a change still pending (another replica's, or one whose
        caller died) is waited for, or settled as reconcile would, before the block reads
        what it changes. A change settled later than a newer one would put back what the
        newer one wrote."""
        async with self.side_effects.serialized(tenant_id):
            try:
                await self.side_effects.clear(
                    self._effect,
                    overrides.subject(tenant_id),
                    patience_seconds=self.patience_seconds,
                )
            except SubjectBusy as error:
                raise _busy(tenant_id) from error
            yield

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

    async def change(
        self, tenant_id: str, changes: Sequence[FlagChange], audit: Sequence[AuditRecord]
    ) -> None:
        """Make `changes` at the provider and record `audit` once it has (inside `exclusive`)."""
        try:
            await self.side_effects.perform(
                self._effect,
                kind=overrides.KIND,
                tenant_id=tenant_id,
                payload=overrides.payload(tenant_id, changes),
                audit=audit,
                subject=overrides.subject(tenant_id),
            )
        except IntentSubjectBusy as error:  # another replica's change began meanwhile
            raise _busy(tenant_id) from error


def _busy(tenant_id: str) -> FlagsUnavailable:
    return FlagsUnavailable(
        "Another change of this tenant's flags is still in progress; try again shortly.",
        details={"tenant_id": tenant_id},
    )
