"""The one mechanism for external side effects, shared by every area that makes them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dependency_injector import containers, providers

from admin_core.flags.tenant_flags import TenantFlags
from admin_core.payments.session_payments import SessionPayments
from admin_core.side_effects.ports import Effect
from admin_core.side_effects.runner import SideEffects
from admin_core.users.role_changes import RoleChanges


class SideEffectsArea(containers.DeclarativeContainer):
    runtime = providers.DependenciesContainer()
    database = providers.DependenciesContainer()

    runner = providers.Singleton(
        SideEffects, transactions=database.transactions, clock=runtime.clock, ids=runtime.ids
    )


def every_effect(
    flags: TenantFlags, payments: SessionPayments, roles: RoleChanges
) -> Mapping[str, Effect[Any]]:
    """The effect of each kind of intent, from every area that leaves intents: what
    reconcile settles intents with."""
    return {**flags.effects, **payments.effects, **roles.effects}
