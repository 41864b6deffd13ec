"""The audit log's read side (every area records through its own transactions)."""

from __future__ import annotations

from dependency_injector import containers, providers

from admin_core.audit.use_cases import ExportAuditLog, QueryAuditLog, VerifyAuditChain


class AuditArea(containers.DeclarativeContainer):
    database = providers.DependenciesContainer()

    query_audit_log = providers.Factory(QueryAuditLog, transactions=database.transactions)
    export_audit_log = providers.Factory(ExportAuditLog, transactions=database.transactions)
    verify_audit_chain = providers.Factory(VerifyAuditChain, transactions=database.transactions)
