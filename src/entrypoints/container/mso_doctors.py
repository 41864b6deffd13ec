"""Second-opinion doctors: kept in the database every area shares."""

from __future__ import annotations

from dependency_injector import containers, providers

from admin_core.mso_doctors.use_cases import ListMsoDoctors, OnboardMsoDoctor, UpdateMsoDoctor


class MsoDoctorsArea(containers.DeclarativeContainer):
    runtime = providers.DependenciesContainer()
    database = providers.DependenciesContainer()

    list_mso_doctors = providers.Factory(
        ListMsoDoctors, transactions=database.transactions, tenants=database.known_tenants
    )
    onboard_mso_doctor = providers.Factory(
        OnboardMsoDoctor,
        transactions=database.transactions,
        tenants=database.known_tenants,
        clock=runtime.clock,
        ids=runtime.ids,
    )
    update_mso_doctor = providers.Factory(
        UpdateMsoDoctor, transactions=database.transactions, clock=runtime.clock
    )
