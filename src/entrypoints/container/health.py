"""Health: this replica's readiness (and, next to it, the external dependencies' probes)."""

from __future__ import annotations

from dependency_injector import containers, providers

from admin_core.health.use_cases import CheckReadiness


class HealthArea(containers.DeclarativeContainer):
    database = providers.DependenciesContainer()

    check_readiness = providers.Factory(CheckReadiness, transactions=database.transactions)
