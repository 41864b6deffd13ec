"""Feature flags and triage thresholds: Flagsmith when configured (always in production), the
database otherwise, behind one read cache; changes reach the provider as side effects."""

from __future__ import annotations

from typing import Any

from dependency_injector import containers, providers

from adapters.config_files.flags import load_flag_catalogue
from adapters.memory.flags import CachedFeatureFlags, InMemoryFeatureFlags
from adapters.sql.flags import SqlFeatureFlags
from admin_core.flags.model import FlagCatalogue
from admin_core.flags.ports import FeatureFlags
from admin_core.flags.tenant_flags import TenantFlags
from admin_core.flags.use_cases import ClearFlagOverride, OverrideFlag, ShowEffectiveFlags
from admin_core.kernel.runtime import Clock
from admin_core.triage.use_cases import ShowTriageThresholds, UpdateTriageThresholds
from entrypoints.container import choices
from entrypoints.container.resources import Resources
from entrypoints.settings import Settings


def _provider(
    settings: Settings,
    catalogue: FlagCatalogue,
    transactions: Any,
    clock: Clock,
    resources: Resources,
) -> FeatureFlags:
    inner: FeatureFlags
    kind = choices.flags(settings)
    if kind == "flagsmith":
        from adapters.flagsmith.flags import FlagsmithFeatureFlags

        # Required with the server key (`Settings.problems`).
        assert settings.flagsmith_server_key is not None
        assert settings.flagsmith_admin_key is not None
        assert settings.flagsmith_environment_key is not None
        flagsmith = FlagsmithFeatureFlags(
            catalogue=catalogue,
            api_url=settings.flagsmith_api_url,
            server_key=settings.flagsmith_server_key,
            admin_api_url=settings.flagsmith_admin_api_url,
            admin_key=settings.flagsmith_admin_key,
            environment_key=settings.flagsmith_environment_key,
            refresh_seconds=settings.flagsmith_refresh_seconds,
        )
        resources.add("Flagsmith client", flagsmith.aclose)
        inner = flagsmith
    else:
        defaults = {name: d.default for name, d in catalogue.definitions.items()}
        if kind == "sql":
            inner = SqlFeatureFlags(transactions, defaults, clock.now)
        else:
            inner = InMemoryFeatureFlags(defaults)
    return CachedFeatureFlags(inner, ttl=settings.flags_cache_seconds)


class FlagsArea(containers.DeclarativeContainer):
    runtime = providers.DependenciesContainer()
    database = providers.DependenciesContainer()

    catalogue = providers.Singleton(
        load_flag_catalogue, runtime.settings.provided.flag_catalogue_file
    )
    #: The flags port (`provider` would name the sub-container's own delegate instead).
    feature_flags = providers.Singleton(
        _provider,
        runtime.settings,
        catalogue,
        database.transactions,
        runtime.clock,
        runtime.resources,
    )
    side_effects = providers.DependenciesContainer()
    tenant_flags = providers.Singleton(
        TenantFlags,
        catalogue=catalogue,
        flags=feature_flags,
        tenants=database.known_tenants,
        side_effects=side_effects.runner,
    )
    show_effective_flags = providers.Factory(ShowEffectiveFlags, flags=tenant_flags)
    override_flag = providers.Factory(OverrideFlag, flags=tenant_flags)
    clear_flag_override = providers.Factory(ClearFlagOverride, flags=tenant_flags)
    show_triage_thresholds = providers.Factory(ShowTriageThresholds, flags=tenant_flags)
    update_triage_thresholds = providers.Factory(UpdateTriageThresholds, flags=tenant_flags)
