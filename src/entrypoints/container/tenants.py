"""Tenants and providers."""

from __future__ import annotations

from dependency_injector import containers, providers

from admin_core.tenants.use_cases import (
    CreateProviderWithTenant,
    CreateTenant,
    ListTenants,
    MapOrganization,
    UpdateTenant,
)


class TenantsArea(containers.DeclarativeContainer):
    runtime = providers.DependenciesContainer()
    database = providers.DependenciesContainer()
    auth = providers.DependenciesContainer()

    list_tenants = providers.Factory(ListTenants, transactions=database.transactions)
    create_tenant = providers.Factory(
        CreateTenant,
        transactions=database.transactions,
        clock=runtime.clock,
        ids=runtime.ids,
        org_cache=auth.authenticate,
        platform_orgs=runtime.settings.provided.platform_orgs,
    )
    create_provider = providers.Factory(
        CreateProviderWithTenant,
        transactions=database.transactions,
        clock=runtime.clock,
        ids=runtime.ids,
        org_cache=auth.authenticate,
        platform_orgs=runtime.settings.provided.platform_orgs,
    )
    update_tenant = providers.Factory(
        UpdateTenant, transactions=database.transactions, clock=runtime.clock
    )
    map_org = providers.Factory(
        MapOrganization,
        transactions=database.transactions,
        clock=runtime.clock,
        org_cache=auth.authenticate,
        platform_orgs=runtime.settings.provided.platform_orgs,
    )
