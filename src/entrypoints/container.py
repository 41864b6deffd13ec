"""The composition root: the one place where adapters are chosen and use cases assembled.

`build_container(settings)` is called by the HTTP app factory, the CLI and the tests. Adapters
come from `SqlAdapters` (SQLite or PostgreSQL) or `MemoryAdapters`; `Container` builds the use
cases from whichever it is given. Providers are synchronous: drivers and clients are
Singletons, closed by `aclose`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from dependency_injector import containers, providers
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.clerk.backend import ClerkIdentityProvider
from adapters.clerk.tokens import ClerkSessionTokenVerifier, JwksCache, http_jwks_fetcher
from adapters.localauth.issuer import LocalTokenIssuer
from adapters.memory.directory import InMemoryDirectoryBulkLoader, InMemoryProjectionSource
from adapters.memory.graph import InMemoryGraphProjection, InProcessRebuildLock
from adapters.memory.identity import InMemoryIdentityProvider
from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryUnitOfWorkFactory
from adapters.neo4j.graph import Neo4jGraphProjection, create_driver
from adapters.sql.directory import SqlDirectoryBulkLoader
from adapters.sql.engine import create_engine, is_sqlite
from adapters.sql.projection import PostgresRebuildLock, SqlProjectionSource
from adapters.sql.transaction import SqlUnitOfWorkFactory
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.audit.use_cases import ExportAuditLog, QueryAuditLog, VerifyAuditChain
from admin_core.auth.policy import RolePolicy
from admin_core.auth.use_cases import Authenticate
from admin_core.graph.ports import GraphProjection, RebuildLock
from admin_core.graph.use_cases import RebuildProjection, ShowGraphStatus
from admin_core.health.use_cases import CheckReadiness
from admin_core.tenants.use_cases import (
    CreateProviderWithTenant,
    CreateTenant,
    ListTenants,
    MapOrganization,
    UpdateTenant,
)
from admin_core.users.use_cases import GrantRole, ListTenantUsers, RevokeRole
from entrypoints.demo.seed import SeedDemoData
from entrypoints.demo.users import demo_identity
from entrypoints.settings import Settings


def _jwks_fetcher(
    settings: Settings, issuer: Callable[[], LocalTokenIssuer]
) -> Callable[[], Awaitable[Mapping[str, Any]]]:
    if settings.auth_mode == "local":

        async def local() -> Mapping[str, Any]:
            return issuer().jwks()

        return local
    if settings.auth_mode == "clerk":
        if not settings.clerk_jwks_url:
            raise ValueError("ADMIN_CLERK_JWKS_URL is required when ADMIN_AUTH_MODE=clerk")
        return http_jwks_fetcher(settings.clerk_jwks_url, secret_key=settings.clerk_secret_key)
    raise ValueError(f"ADMIN_AUTH_MODE must be 'local' or 'clerk', not {settings.auth_mode!r}")


async def _close_nothing(graph: GraphProjection) -> None:
    await _close_graph(graph)


async def _close_engine(engine: AsyncEngine, graph: GraphProjection) -> None:
    try:
        await _close_graph(graph)
    finally:
        await engine.dispose()


def _graph(settings: Settings) -> GraphProjection:
    """Neo4j when `ADMIN_NEO4J_URL` is set; the in-process graph otherwise."""
    if not settings.neo4j_url:
        return InMemoryGraphProjection()
    driver = create_driver(settings.neo4j_url, settings.neo4j_user, settings.neo4j_password)
    return Neo4jGraphProjection(driver)


async def _close_graph(graph: GraphProjection) -> None:
    if isinstance(graph, Neo4jGraphProjection):
        await graph.aclose()


def _engine(settings: Settings) -> AsyncEngine:
    if settings.database_pool_size is None:
        return create_engine(settings.database_url)
    return create_engine(settings.database_url, pool_size=settings.database_pool_size)


def _rebuild_lock(engine: AsyncEngine) -> RebuildLock:
    """PostgreSQL: an advisory lock shared by every replica; SQLite: one process, one lock."""
    if is_sqlite(engine.url):
        return InProcessRebuildLock()
    return PostgresRebuildLock(engine)


def _platform_org(settings: Settings) -> str | None:
    """The platform organisation whose memberships mirror the platform's roles."""
    return settings.platform_orgs[0] if settings.platform_orgs else None


def _identity(settings: Settings) -> ClerkIdentityProvider | InMemoryIdentityProvider:
    """Clerk's Backend API when `ADMIN_CLERK_SECRET_KEY` is set; else an in-memory twin that
    knows the demo users."""
    if settings.clerk_secret_key:
        return ClerkIdentityProvider(
            base_url=settings.clerk_api_url, secret_key=settings.clerk_secret_key
        )
    users, memberships = demo_identity(_platform_org(settings))
    return InMemoryIdentityProvider(users, memberships)


def _role_policy(settings: Settings) -> RolePolicy:
    if settings.role_policy_file is None:
        return RolePolicy.default()
    return RolePolicy.from_mapping(json.loads(settings.role_policy_file.read_text()))


class CommonAdapters(containers.DeclarativeContainer):
    """Adapters every mode shares: time, ids, token verification."""

    settings = providers.Dependency(instance_of=Settings)
    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(UlidGenerator)
    token_issuer = providers.Singleton(
        LocalTokenIssuer,
        key_path=settings.provided.local_key_path,
        issuer=settings.provided.auth_issuer,
    )
    jwks = providers.Singleton(
        JwksCache, fetch=providers.Callable(_jwks_fetcher, settings, token_issuer.provider)
    )
    token_verifier = providers.Singleton(
        ClerkSessionTokenVerifier,
        jwks,
        issuer=settings.provided.auth_issuer,
        authorized_parties=settings.provided.auth_authorized_parties,
    )
    graph = providers.Singleton(_graph, settings)
    identity = providers.Singleton(_identity, settings)
    aclose = providers.Callable(_close_nothing, graph)


class SqlAdapters(CommonAdapters):
    """SQLite (embedded) or PostgreSQL, by `ADMIN_DATABASE_URL`."""

    engine = providers.Singleton(_engine, CommonAdapters.settings)
    uow = providers.Singleton(
        SqlUnitOfWorkFactory, engine, CommonAdapters.clock, CommonAdapters.ids
    )
    projection_source = providers.Singleton(SqlProjectionSource, engine)
    rebuild_lock = providers.Singleton(_rebuild_lock, engine)
    directory_loader = providers.Singleton(SqlDirectoryBulkLoader, engine)
    aclose = providers.Callable(_close_engine, engine, CommonAdapters.graph)


class MemoryAdapters(CommonAdapters):
    """Everything in process memory (`ADMIN_DATABASE_URL=memory://`): tests and demos."""

    store = providers.Singleton(InMemoryStore)
    uow = providers.Singleton(
        InMemoryUnitOfWorkFactory, store, CommonAdapters.clock, CommonAdapters.ids
    )
    projection_source = providers.Singleton(InMemoryProjectionSource, store)
    rebuild_lock = providers.Singleton(InProcessRebuildLock)
    directory_loader = providers.Singleton(InMemoryDirectoryBulkLoader, store)


class Container(containers.DeclarativeContainer):
    """Use cases, built on whichever adapters container is given."""

    settings = providers.Dependency(instance_of=Settings)
    adapters = providers.DependenciesContainer()

    role_policy = providers.Singleton(_role_policy, settings)
    authenticate = providers.Singleton(
        Authenticate,
        verifier=adapters.token_verifier,
        uow=adapters.uow,
        policy=role_policy,
        platform_orgs=settings.provided.platform_orgs,
        clock=adapters.clock,
        cache_ttl=providers.Callable(lambda s: timedelta(seconds=s.org_cache_seconds), settings),
    )
    seed_demo = providers.Factory(SeedDemoData, uow=adapters.uow, clock=adapters.clock)
    check_readiness = providers.Factory(CheckReadiness, uow=adapters.uow)
    list_tenants = providers.Factory(ListTenants, uow=adapters.uow)
    query_audit_log = providers.Factory(QueryAuditLog, uow=adapters.uow)
    export_audit_log = providers.Factory(ExportAuditLog, uow=adapters.uow)
    verify_audit_chain = providers.Factory(VerifyAuditChain, uow=adapters.uow)
    platform_org = providers.Callable(_platform_org, settings)
    create_tenant = providers.Factory(
        CreateTenant,
        uow=adapters.uow,
        clock=adapters.clock,
        ids=adapters.ids,
        org_cache=authenticate,
        platform_orgs=settings.provided.platform_orgs,
    )
    create_provider = providers.Factory(
        CreateProviderWithTenant,
        uow=adapters.uow,
        clock=adapters.clock,
        ids=adapters.ids,
        org_cache=authenticate,
        platform_orgs=settings.provided.platform_orgs,
    )
    update_tenant = providers.Factory(UpdateTenant, uow=adapters.uow, clock=adapters.clock)
    map_org = providers.Factory(
        MapOrganization,
        uow=adapters.uow,
        clock=adapters.clock,
        org_cache=authenticate,
        platform_orgs=settings.provided.platform_orgs,
    )
    list_tenant_users = providers.Factory(
        ListTenantUsers, uow=adapters.uow, identity=adapters.identity, platform_org=platform_org
    )
    grant_role = providers.Factory(
        GrantRole,
        uow=adapters.uow,
        identity=adapters.identity,
        policy=role_policy,
        clock=adapters.clock,
        platform_org=platform_org,
    )
    revoke_role = providers.Factory(
        RevokeRole,
        uow=adapters.uow,
        identity=adapters.identity,
        policy=role_policy,
        platform_org=platform_org,
    )
    rebuild_graph = providers.Factory(
        RebuildProjection,
        source=adapters.projection_source,
        graph=adapters.graph,
        lock=adapters.rebuild_lock,
        uow=adapters.uow,
        ids=adapters.ids,
    )
    graph_status = providers.Factory(
        ShowGraphStatus, source=adapters.projection_source, graph=adapters.graph
    )


def build_container(settings: Settings) -> Container:
    adapters: containers.DeclarativeContainer
    if settings.database_url.startswith("memory:"):
        adapters = MemoryAdapters(settings=settings)
    else:
        adapters = SqlAdapters(settings=settings)
    return Container(settings=settings, adapters=adapters)


async def aclose(container: Container) -> None:
    """Close what the adapters opened (database pools, drivers, HTTP clients)."""
    try:
        await container.adapters.aclose()
    finally:
        await container.adapters.identity().aclose()
