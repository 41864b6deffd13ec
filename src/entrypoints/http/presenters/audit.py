"""Audit entries, pages and chain verifications on the wire (SPEC §6.7)."""

from __future__ import annotations

import operator
from datetime import datetime
from typing import Any

from admin_core.audit.model import AuditEntry, ChainVerification, tenant_of_chain
from admin_core.audit.use_cases import AuditPage
from entrypoints.http.schemas import Out


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


#: The wire fields of an entry, in order: the columns of a CSV export too.
ENTRY_FIELDS: tuple[str, ...] = AuditEntryOut.__struct_fields__


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


_ENTRY_VALUES = operator.attrgetter(*ENTRY_FIELDS)


def entry_out(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(**dict(zip(ENTRY_FIELDS, _ENTRY_VALUES(entry), strict=True)))


def page_out(page: AuditPage) -> AuditPageOut:
    return AuditPageOut(entries=[entry_out(e) for e in page.entries], next_cursor=page.next_cursor)


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
