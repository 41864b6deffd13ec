"""Audit-log routes (SPEC §6.7): query with keyset pages, verify a chain. Read-only, always."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import Parameter

from admin_core.audit.model import (
    DEFAULT_AUDIT_LIMIT,
    MAX_AUDIT_LIMIT,
    MAX_ID_LENGTH,
    AuditEntry,
    ChainVerification,
    tenant_of_chain,
)
from admin_core.audit.use_cases import AuditQuery, QueryAuditLog, VerifyAuditChain
from admin_core.kernel.principal import Permission, Principal
from entrypoints.http.envelope import ok
from entrypoints.http.schemas import Out, SuccessEnvelope
from entrypoints.http.security import requires

Id = Annotated[str | None, Parameter(min_length=1, max_length=MAX_ID_LENGTH)]
Bound = Annotated[
    str | None,
    Parameter(
        min_length=1,
        max_length=64,
        description="Inclusive; a date (YYYY-MM-DD, the whole UTC day) or an ISO date-time.",
    ),
]


class AuditEntryOut(Out, frozen=True):
    id: str
    seq: int
    occurred_at: datetime
    tenant_id: str | None
    actor_id: str
    actor_role: str | None
    action: str
    event_type: str
    resource_type: str
    resource_id: str | None
    case_id: str | None
    patient_id: str | None
    request_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    hash: str
    prev_hash: str


class AuditPageOut(Out, frozen=True):
    entries: list[AuditEntryOut]
    next_cursor: str | None


class ChainBreakOut(Out, frozen=True):
    seq: int
    entry_id: str | None
    reason: str


class ChainVerificationOut(Out, frozen=True):
    ok: bool
    entries_checked: int
    broken_at: ChainBreakOut | None
    chain: str
    tenant_id: str | None
    head_seq: int
    head_hash: str


def entry_out(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(
        id=entry.id,
        seq=entry.seq,
        occurred_at=entry.occurred_at,
        tenant_id=entry.tenant_id,
        actor_id=entry.actor_id,
        actor_role=entry.actor_role,
        action=entry.action,
        event_type=entry.event_type,
        resource_type=entry.resource_type,
        resource_id=entry.resource_id,
        case_id=entry.case_id,
        patient_id=entry.patient_id,
        request_id=entry.request_id,
        before=dict(entry.before) if entry.before is not None else None,
        after=dict(entry.after) if entry.after is not None else None,
        hash=entry.hash,
        prev_hash=entry.prev_hash,
    )


def verification_out(result: ChainVerification) -> ChainVerificationOut:
    broken = result.broken_at
    return ChainVerificationOut(
        ok=result.ok,
        entries_checked=result.entries_checked,
        broken_at=(
            ChainBreakOut(seq=broken.seq, entry_id=broken.entry_id, reason=broken.reason.value)
            if broken
            else None
        ),
        chain=result.chain,
        tenant_id=tenant_of_chain(result.chain),
        head_seq=result.head_seq,
        head_hash=result.head_hash,
    )


class AuditLogController(Controller):
    path = "/api/v1/admin/audit-log"
    tags = ["audit"]  # noqa: RUF012 - Litestar reads it as a plain attribute

    @get("/", guards=[requires(Permission.AUDIT_READ)], summary="Query the audit log")
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
                description="Exact action, or a prefix ending in '.' or '*'.",
            ),
        ] = None,
        actor_id: Id = None,
        tenant_id: Id = None,
        case_id: Id = None,
        patient_id: Id = None,
        from_date: Bound = None,
        to_date: Bound = None,
        limit: Annotated[int, Parameter(ge=1, le=MAX_AUDIT_LIMIT)] = DEFAULT_AUDIT_LIMIT,
        cursor: Annotated[str | None, Parameter(min_length=1, max_length=512)] = None,
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
        data = AuditPageOut(
            entries=[entry_out(e) for e in page.entries], next_cursor=page.next_cursor
        )
        return ok(request, data, limit=page.limit, next_cursor=page.next_cursor)

    @get("/verify", guards=[requires(Permission.AUDIT_READ)], summary="Verify a hash chain")
    async def verify(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        verify_audit_chain: NamedDependency[VerifyAuditChain],
        tenant_id: Id = None,
    ) -> Response[SuccessEnvelope[ChainVerificationOut]]:
        """Recompute the tenant's chain (without `tenant_id`: a platform caller's platform
        chain, a tenant-scoped caller's own) and report the first broken entry."""
        result = await verify_audit_chain.execute(principal, tenant_id)
        return ok(request, verification_out(result))
