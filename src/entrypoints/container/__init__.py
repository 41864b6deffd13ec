"""The composition root: one sub-container per area, each adapter chosen from the mode.

`build_container(settings)` is called by the HTTP app factory, the CLI, the tests and any
service that embeds the core with our adapters. The settings are validated first (production
refuses to build on an incomplete configuration). Each area's use cases live in its own
sub-container (`container.tenants.create_tenant()`, `container.payments.refund_session()`,
...): a new area gets a module here and a line in `Container`. Providers are synchronous:
drivers and clients are Singletons that register themselves in `runtime.resources`, closed
by `aclose`.
"""

from __future__ import annotations

from dependency_injector import containers, providers

from admin_core.side_effects.use_cases import ReconcileSideEffects
from entrypoints.container.audit import AuditArea
from entrypoints.container.auth import AuthArea
from entrypoints.container.flags import FlagsArea
from entrypoints.container.graph import GraphArea
from entrypoints.container.health import HealthArea
from entrypoints.container.matching import MatchingArea
from entrypoints.container.mso_doctors import MsoDoctorsArea
from entrypoints.container.payments import PaymentsArea
from entrypoints.container.runtime import Database, Runtime
from entrypoints.container.side_effects import SideEffectsArea, every_effect
from entrypoints.container.tenants import TenantsArea
from entrypoints.container.users import UsersArea
from entrypoints.settings import Settings


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    runtime = providers.Container(Runtime, settings=settings)
    database = providers.Container(Database, runtime=runtime)
    auth = providers.Container(AuthArea, runtime=runtime, database=database)
    tenants = providers.Container(TenantsArea, runtime=runtime, database=database, auth=auth)
    side_effects = providers.Container(SideEffectsArea, runtime=runtime, database=database)
    users = providers.Container(
        UsersArea, runtime=runtime, database=database, auth=auth, side_effects=side_effects
    )
    audit = providers.Container(AuditArea, runtime=runtime, database=database)
    graph = providers.Container(GraphArea, runtime=runtime, database=database)
    health = providers.Container(HealthArea, runtime=runtime, database=database)
    flags = providers.Container(
        FlagsArea, runtime=runtime, database=database, side_effects=side_effects
    )
    payments = providers.Container(
        PaymentsArea, runtime=runtime, database=database, side_effects=side_effects
    )
    mso_doctors = providers.Container(MsoDoctorsArea, runtime=runtime, database=database)
    matching = providers.Container(
        MatchingArea, runtime=runtime, database=database, graph=graph, flags=flags
    )
    #: Settles the intents every area leaves (the one use case over all areas).
    reconcile_side_effects = providers.Factory(
        ReconcileSideEffects,
        side_effects=side_effects.runner,
        effects=providers.Callable(
            every_effect, flags.tenant_flags, payments.payments, users.role_changes
        ),
    )


def build_container(settings: Settings) -> Container:
    """The container for `settings`; raises `ConfigurationError` naming every problem."""
    return Container(settings=settings.check())


async def aclose(container: Container) -> None:
    """Close what the adapters opened (database pools, drivers, HTTP clients)."""
    await container.runtime.resources().aclose()
