"""Users and roles, checked against the identity provider: Clerk's Backend API in production,
the demo users in memory when embedded."""

from __future__ import annotations

from dependency_injector import containers, providers

from adapters.clerk.backend import ClerkIdentityProvider
from adapters.memory.identity import InMemoryIdentityProvider
from admin_core.users.ports import IdentityProvider
from admin_core.users.role_changes import RoleChanges
from admin_core.users.use_cases import GrantRole, ListTenantUsers, RevokeRole
from entrypoints.container import choices
from entrypoints.container.resources import Resources
from entrypoints.demo.data import demo_identity
from entrypoints.settings import Settings


def _identity(settings: Settings, resources: Resources) -> IdentityProvider:
    if choices.uses_clerk_identity(settings):
        assert settings.clerk_secret_key is not None  # required in production
        clerk = ClerkIdentityProvider(
            base_url=settings.clerk_api_url, secret_key=settings.clerk_secret_key
        )
        resources.add("Clerk client", clerk.aclose)
        return clerk
    users, memberships = demo_identity(settings.platform_org)
    return InMemoryIdentityProvider(users, memberships)


class UsersArea(containers.DeclarativeContainer):
    runtime = providers.DependenciesContainer()
    database = providers.DependenciesContainer()
    auth = providers.DependenciesContainer()
    side_effects = providers.DependenciesContainer()

    identity = providers.Singleton(_identity, runtime.settings, runtime.resources)
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
