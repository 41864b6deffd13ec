"""Health: this replica's readiness, and the external dependencies' probes — one per
dependency, built from the settings (`choices.health_probes` says which are configured), one
monitor per process that caches their answer (docs/adr/0054)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

from dependency_injector import containers, providers
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.health import InMemoryDependencyProbe
from adapters.sql.health import SqlDependencyProbe
from admin_core.health.monitor import DependencyMonitor
from admin_core.health.ports import DependencyProbe, UnconfiguredProbe
from admin_core.health.use_cases import CheckExternalDependencies, CheckReadiness
from admin_core.kernel.runtime import Clock
from entrypoints.container import choices
from entrypoints.container.resources import Resources
from entrypoints.settings import Settings, url_password


class _ClosableProbe(DependencyProbe, Protocol):
    async def aclose(self) -> None: ...


# The probe of each dependency outside the database, from its settings (which
# `choices.health_probes` found complete) and the timeout. Imported when built: a deployment
# without Neo4j or Redis never loads their drivers.


def _neo4j(s: Settings, timeout: float) -> _ClosableProbe:
    from adapters.neo4j.health import Neo4jDependencyProbe

    assert s.neo4j_url is not None
    return Neo4jDependencyProbe.connect(
        s.neo4j_url, s.neo4j_user, s.neo4j_password, timeout_seconds=timeout
    )


def _redis(s: Settings, timeout: float) -> _ClosableProbe:
    from adapters.redis.health import RedisDependencyProbe

    assert s.redis_url is not None
    return RedisDependencyProbe(url=s.redis_url, timeout_seconds=timeout)


def _flagsmith(s: Settings, timeout: float) -> _ClosableProbe:
    from adapters.flagsmith.health import FlagsmithDependencyProbe

    assert s.flagsmith_server_key is not None
    return FlagsmithDependencyProbe(
        server_key=s.flagsmith_server_key, api_url=s.flagsmith_api_url, timeout_seconds=timeout
    )


def _stripe(s: Settings, timeout: float) -> _ClosableProbe:
    from adapters.stripe.health import StripeDependencyProbe

    assert s.stripe_api_key is not None
    return StripeDependencyProbe(
        api_key=s.stripe_api_key, api_url=s.stripe_api_url, timeout_seconds=timeout
    )


def _razorpay(s: Settings, timeout: float) -> _ClosableProbe:
    from adapters.razorpay.health import RazorpayDependencyProbe

    assert s.razorpay_key_id is not None
    assert s.razorpay_key_secret is not None
    return RazorpayDependencyProbe(
        key_id=s.razorpay_key_id,
        key_secret=s.razorpay_key_secret,
        api_url=s.razorpay_api_url,
        timeout_seconds=timeout,
    )


def _clerk(s: Settings, timeout: float) -> _ClosableProbe:
    from adapters.clerk.health import ClerkDependencyProbe

    assert s.clerk_secret_key is not None
    return ClerkDependencyProbe(
        secret_key=s.clerk_secret_key, api_url=s.clerk_api_url, timeout_seconds=timeout
    )


def _daily(s: Settings, timeout: float) -> _ClosableProbe:
    from adapters.daily.health import DailyDependencyProbe

    assert s.daily_api_key is not None
    return DailyDependencyProbe(
        api_key=s.daily_api_key, api_url=s.daily_api_url, timeout_seconds=timeout
    )


def _qdrant(s: Settings, timeout: float) -> _ClosableProbe:
    from adapters.qdrant.health import QdrantDependencyProbe

    assert s.qdrant_url is not None
    return QdrantDependencyProbe(
        url=s.qdrant_url, api_key=s.qdrant_api_key, timeout_seconds=timeout
    )


def _anthropic(s: Settings, timeout: float) -> _ClosableProbe:
    from adapters.anthropic.health import AnthropicDependencyProbe

    assert s.anthropic_api_key is not None
    return AnthropicDependencyProbe(
        api_key=s.anthropic_api_key, api_url=s.anthropic_api_url, timeout_seconds=timeout
    )


def _langfuse(s: Settings, timeout: float) -> _ClosableProbe:
    from adapters.langfuse.health import LangfuseDependencyProbe

    assert s.langfuse_url is not None
    return LangfuseDependencyProbe(
        url=s.langfuse_url,
        timeout_seconds=timeout,
        public_key=s.langfuse_public_key,
        secret_key=s.langfuse_secret_key,
    )


_PROBES: dict[str, Callable[[Settings, float], _ClosableProbe]] = {
    "neo4j": _neo4j,
    "redis": _redis,
    "flagsmith": _flagsmith,
    "stripe": _stripe,
    "razorpay": _razorpay,
    "clerk": _clerk,
    "daily_co": _daily,
    "qdrant": _qdrant,
    "anthropic": _anthropic,
    "langfuse": _langfuse,
}


def _probe(
    name: str, settings: Settings, engine: Callable[[], AsyncEngine], resources: Resources
) -> DependencyProbe:
    """The probe of one configured dependency (its client registered to be closed); the
    database's shares the app's engine."""
    if name == "postgres":
        if choices.database(settings) == "memory":
            return InMemoryDependencyProbe(name)
        return SqlDependencyProbe(engine(), name=name)
    probe = _PROBES[name](settings, settings.health_timeout_seconds)
    resources.add(f"{name} health probe", probe.aclose)
    return probe


def _probes(
    settings: Settings, engine: Callable[[], AsyncEngine], resources: Resources
) -> list[DependencyProbe]:
    return [
        _probe(name, settings, engine, resources) if configured else UnconfiguredProbe(name)
        for name, configured in choices.health_probes(settings).items()
    ]


def secrets_of(settings: Settings) -> list[str]:
    """Every secret setting's value, and the password inside each secret URL: what no
    health error may show."""
    found: list[str] = []
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if not f.metadata["secret"] or not isinstance(value, str) or not value:
            continue
        found.append(value)
        password = url_password(value)
        if password:
            found.append(password)
    return found


def _monitor(settings: Settings, probes: list[DependencyProbe], clock: Clock) -> DependencyMonitor:
    return DependencyMonitor(
        probes,
        clock=clock,
        timeout_seconds=settings.health_timeout_seconds,
        cache_seconds=settings.health_cache_seconds,
        secrets=secrets_of(settings),
    )


class HealthArea(containers.DeclarativeContainer):
    runtime = providers.DependenciesContainer()
    database = providers.DependenciesContainer()

    #: One per process: probes share the check in flight.
    check_readiness = providers.Singleton(
        CheckReadiness,
        transactions=database.transactions,
        timeout_seconds=runtime.settings.provided.health_timeout_seconds,
        schema=database.schema,
    )
    probes = providers.Singleton(
        _probes, runtime.settings, database.engine.provider, runtime.resources
    )
    #: One per process: its cache and single flight hold across requests.
    monitor = providers.Singleton(_monitor, runtime.settings, probes, runtime.clock)
    check_external_dependencies = providers.Factory(CheckExternalDependencies, monitor=monitor)
