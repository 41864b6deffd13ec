"""Finishing what a crash left half done (docs/adr/0048)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Generic, TypeVar

from admin_core.kernel.principal import Permission, Principal
from admin_core.side_effects.model import ReconcileReport
from admin_core.side_effects.ports import Effect, SideEffectsTransaction
from admin_core.side_effects.runner import RECONCILE_AFTER, SideEffects

T = TypeVar("T", bound=SideEffectsTransaction)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcileCommand:
    """Intents pending for longer than `older_than` are settled (younger ones belong to
    requests still running)."""

    older_than: timedelta = RECONCILE_AFTER


class ReconcileSideEffects(Generic[T]):
    """Settle every intent left pending: complete (audit written) those the provider holds,
    fail those it does not, leave those it cannot be asked about. Platform operators only;
    `adminctl reconcile` and a periodic task of `adminctl serve` run it. `effects` holds the
    effect of each kind of intent the service's areas leave (`RoleChanges.effects`,
    `TenantFlags.effects`, `SessionPayments.effects`), each able to work in the runner's
    transactions."""

    def __init__(
        self,
        side_effects: SideEffects[T],
        effects: Mapping[str, Effect[T]],
    ) -> None:
        self._side_effects = side_effects
        self._effects = effects

    async def execute(self, principal: Principal, command: ReconcileCommand) -> ReconcileReport:
        principal.require(Permission.SUPER_ADMIN)
        return await self._side_effects.reconcile(self._effects, older_than=command.older_than)
