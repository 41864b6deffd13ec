"""Audit-log routes (SPEC §6.7): query with keyset pages, verify a chain. Read-only, always."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import Parameter

from admin_core.audit.model import (
    DEFAULT_AUDIT_LIMIT,
    MAX_AUDIT_LIMIT,
    MAX_CURSOR_LENGTH,
    MAX_ID_LENGTH,
)
from admin_core.audit.use_cases import (
    AuditQuery,
    QueryAuditLog,
    VerifyAuditChain,
    VerifyAuditChainQuery,
)
from admin_core.kernel.principal import Permission, Principal
from admin_core.tenants.errors import TenantNotFound
from entrypoints.http.dependencies import use_case
from entrypoints.http.envelope import ok
from entrypoints.http.fields import (
    ACTION_PATTERN,
    CURSOR_PATTERN,
    FILTER_ID_PATTERN,
    TIME_PATTERN,
    TenantFilter,
    query_rules,
    time_range,
)
from entrypoints.http.openapi import errors
from entrypoints.http.presenters.audit import (
    AuditPageOut,
    ChainVerificationOut,
    page_out,
    verification_out,
)
from entrypoints.http.schemas import SuccessEnvelope
from entrypoints.http.security import requires

Id = Annotated[
    str | None, Parameter(min_length=1, max_length=MAX_ID_LENGTH, pattern=FILTER_ID_PATTERN)
]
Bound = Annotated[
    str | None,
    Parameter(
        min_length=10,
        max_length=32,
        pattern=TIME_PATTERN,
        description="Inclusive; a date (YYYY-MM-DD, the whole UTC day) or an ISO date-time.",
    ),
]


class AuditLogController(Controller):
    path = "/api/v1/admin/audit-log"
    tags = ["audit"]  # noqa: RUF012 - Litestar reads it as a plain attribute
    opt = requires(Permission.AUDIT_READ)
    dependencies = {  # noqa: RUF012
        "query_audit_log": use_case(lambda c: c.audit.query_audit_log),
        "verify_audit_chain": use_case(lambda c: c.audit.verify_audit_chain),
    }

    @get(
        "/",
        summary="Query the audit log",
        operation_id="queryAuditLog",
        responses=errors(TenantNotFound),
        opt=query_rules(time_range),
    )
    async def query(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        query_audit_log: NamedDependency[QueryAuditLog],
        action: Annotated[
            str | None,
            Parameter(
                min_length=1,
                max_length=129,
                pattern=ACTION_PATTERN,
                description="Exact action, or a prefix ending in '.' or '*'.",
            ),
        ] = None,
        actor_id: Id = None,
        tenant_id: TenantFilter = None,
        case_id: Id = None,
        patient_id: Id = None,
        from_date: Bound = None,
        to_date: Bound = None,
        limit: Annotated[int, Parameter(ge=1, le=MAX_AUDIT_LIMIT)] = DEFAULT_AUDIT_LIMIT,
        cursor: Annotated[
            str | None,
            Parameter(min_length=1, max_length=MAX_CURSOR_LENGTH, pattern=CURSOR_PATTERN),
        ] = None,
    ) -> Response[SuccessEnvelope[AuditPageOut]]:
        """Entries newest first. Follow `next_cursor` (same filters) for the next page; a
        tenant-scoped caller sees only its own tenant."""
        page = await query_audit_log.execute(
            principal,
            AuditQuery(
                action=action,
                actor_id=actor_id,
                tenant_id=tenant_id,
                case_id=case_id,
                patient_id=patient_id,
                from_date=from_date,
                to_date=to_date,
                limit=limit,
                cursor=cursor,
            ),
        )
        return ok(request, page_out(page), limit=page.limit, next_cursor=page.next_cursor)

    @get(
        "/verify",
        summary="Verify a hash chain against the signed checkpoints",
        operation_id="verifyAuditChain",
        responses=errors(TenantNotFound),
    )
    async def verify(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        verify_audit_chain: NamedDependency[VerifyAuditChain],
        tenant_id: TenantFilter = None,
    ) -> Response[SuccessEnvelope[ChainVerificationOut]]:
        """Recompute the tenant's chain (without `tenant_id`: a platform caller's platform
        chain, a tenant-scoped caller's own), check every signed checkpoint and hold the chain
        to the heads they sealed; report the first broken seq with its reason, the real head,
        and the `unsealed_entries` after the latest checkpoint. An unknown tenant is 404
        TENANT_NOT_FOUND."""
        result = await verify_audit_chain.execute(
            principal, VerifyAuditChainQuery(tenant_id=tenant_id)
        )
        return ok(request, verification_out(result))
