"""Users and roles, checked against the identity provider: Clerk's Backend API in production,
the demo users in memory when embedded."""

from __future__ import annotations

from typing import Any

from dependency_injector import containers, providers

from adapters.clerk.backend import ClerkIdentityProvider
from adapters.memory.identity import InMemoryIdentityProvider
from adapters.sql.identity import SqlIdentityProvider
from admin_core.kernel.runtime import Clock
from admin_core.kernel.transaction import Transactions
from admin_core.users.ports import IdentityProvider
from admin_core.users.role_changes import RoleChanges
from admin_core.users.use_cases import GrantRole, ListTenantUsers, RevokeRole
from entrypoints.container import choices
from entrypoints.container.resources import Resources
from entrypoints.demo.data import demo_identity
from entrypoints.settings import Settings


def _identity(
    settings: Settings, resources: Resources, transactions: Transactions[Any], clock: Clock
) -> IdentityProvider:
    """Clerk in production. Embedded: the demo users, whose memberships are kept in the
    database when it is one (every process on it sees the same ones: the server, the CLI), or
    in memory. Either way they start with none: the demo seed's role grants make them, so the
    seed's audit entries are the same on every database."""
    if choices.uses_clerk_identity(settings):
        assert settings.clerk_secret_key is not None  # required in production
        clerk = ClerkIdentityProvider(
            base_url=settings.clerk_api_url, secret_key=settings.clerk_secret_key
        )
        resources.add("Clerk client", clerk.aclose)
        return clerk
    users = demo_identity()
    if choices.database(settings) == "memory":
        return InMemoryIdentityProvider(users)
    return SqlIdentityProvider(transactions, clock, users)


class UsersArea(containers.DeclarativeContainer):
    runtime = providers.DependenciesContainer()
    database = providers.DependenciesContainer()
    auth = providers.DependenciesContainer()
    side_effects = providers.DependenciesContainer()

    identity = providers.Singleton(
        _identity, runtime.settings, runtime.resources, database.transactions, runtime.clock
    )
    list_tenant_users = providers.Factory(
        ListTenantUsers,
        transactions=database.transactions,
        identity=identity,
        platform_org=runtime.settings.provided.platform_org,
    )
    #: What grants and revokes share; its membership effect is reconciled with every other.
    role_changes = providers.Factory(
        RoleChanges,
        transactions=database.transactions,
        identity=identity,
        policy=auth.role_policy,
        clock=runtime.clock,
        side_effects=side_effects.runner,
        platform_org=runtime.settings.provided.platform_org,
    )
    grant_role = providers.Factory(GrantRole, changes=role_changes)
    revoke_role = providers.Factory(RevokeRole, changes=role_changes)
