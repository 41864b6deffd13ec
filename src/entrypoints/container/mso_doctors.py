"""Second-opinion doctors: kept in the database every area shares."""

from __future__ import annotations

from dependency_injector import containers, providers

from admin_core.mso_doctors.use_cases import ListMsoDoctors, OnboardMsoDoctor, UpdateMsoDoctor
from admin_core.tenants.known import KnownTenants


class MsoDoctorsArea(containers.DeclarativeContainer):
    runtime = providers.DependenciesContainer()
    database = providers.DependenciesContainer()

    known_tenants = providers.Singleton(KnownTenants, transactions=database.transactions)
    list_mso_doctors = providers.Factory(
        ListMsoDoctors, transactions=database.transactions, tenants=known_tenants
    )
    onboard_mso_doctor = providers.Factory(
        OnboardMsoDoctor,
        transactions=database.transactions,
        tenants=known_tenants,
        clock=runtime.clock,
        ids=runtime.ids,
    )
    update_mso_doctor = providers.Factory(
        UpdateMsoDoctor, transactions=database.transactions, clock=runtime.clock
    )
