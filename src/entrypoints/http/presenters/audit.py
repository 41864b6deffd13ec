"""Audit entries, pages, chain verifications and checkpoints on the wire (SPEC §6.7)."""

from __future__ import annotations

import operator
from datetime import datetime
from typing import Any

from admin_core.audit.checkpoints import Checkpoint
from admin_core.audit.model import AuditEntry, ChainBreak, ChainVerification, tenant_of_chain
from admin_core.audit.offline import ExportVerification
from admin_core.audit.use_cases import AuditPage, CheckpointWritten
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
    #: The checkpoint the chain contradicts (`checkpoint_mismatch`, `truncated`).
    checkpoint_seq: int | None


class CheckpointProblemOut(Out, frozen=True):
    checkpoint_seq: int
    reason: str


class ChainVerificationOut(Out, frozen=True):
    """`head_seq`/`head_hash`: the chain's real head (the last link or the recorded head,
    whichever is further); `verified_seq`: the last entry that checked out; `sealed_seq`: the
    head the latest trusted checkpoint sealed; `unsealed_entries`: entries after it, which the
    chain alone protects."""

    ok: bool
    entries_checked: int
    broken_at: ChainBreakOut | None
    chain: str
    tenant_id: str | None
    head_seq: int
    head_hash: str
    recorded_head_seq: int
    verified_seq: int
    sealed_seq: int
    unsealed_entries: int
    checkpoint_seq: int | None
    checkpoint_at: datetime | None
    checkpoints_checked: int
    checkpoint_problem: CheckpointProblemOut | None


class SealedHeadOut(Out, frozen=True):
    chain: str
    seq: int
    hash: str


class CheckpointOut(Out, frozen=True):
    seq: int
    created_at: datetime
    hash: str
    prev_hash: str
    key_id: str
    heads: list[SealedHeadOut]
    written: bool


class CoverageOut(Out, frozen=True):
    chain: str
    through_seq: int
    holds: bool


class CheckpointReportOut(Out, frozen=True):
    seq: int
    created_at: datetime | None
    key_id: str | None
    trusted: bool
    reason: str | None
    covers: list[CoverageOut]
    chains_not_exported: int


class ChainReportOut(Out, frozen=True):
    chain: str
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    broken_at: ChainBreakOut | None
    sealed_seq: int
    unsealed_entries: int


class MissingChainOut(Out, frozen=True):
    chain: str
    through_seq: int
    checkpoint_seq: int


class ExportVerificationOut(Out, frozen=True):
    ok: bool
    entries: int
    chains: list[ChainReportOut]
    checkpoints: list[CheckpointReportOut]
    checkpoint_problem: CheckpointProblemOut | None
    bad_line: int | None
    bad_line_reason: str | None
    missing_chains: list[MissingChainOut]


_ENTRY_VALUES = operator.attrgetter(*ENTRY_FIELDS)


def entry_out(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(**dict(zip(ENTRY_FIELDS, _ENTRY_VALUES(entry), strict=True)))


def page_out(page: AuditPage) -> AuditPageOut:
    return AuditPageOut(entries=[entry_out(e) for e in page.entries], next_cursor=page.next_cursor)


def _break_out(broken: ChainBreak | None) -> ChainBreakOut | None:
    if broken is None:
        return None
    return ChainBreakOut(
        seq=broken.seq,
        entry_id=broken.entry_id,
        reason=broken.reason.value,
        checkpoint_seq=broken.checkpoint_seq,
    )


def verification_out(result: ChainVerification) -> ChainVerificationOut:
    problem = result.checkpoint_problem
    return ChainVerificationOut(
        ok=result.ok,
        entries_checked=result.entries_checked,
        broken_at=_break_out(result.broken_at),
        chain=result.chain,
        tenant_id=tenant_of_chain(result.chain),
        head_seq=result.head_seq,
        head_hash=result.head_hash,
        recorded_head_seq=result.recorded_head_seq,
        verified_seq=result.verified_seq,
        sealed_seq=result.sealed_seq,
        unsealed_entries=result.unsealed_entries,
        checkpoint_seq=result.checkpoint_seq,
        checkpoint_at=result.checkpoint_at,
        checkpoints_checked=result.checkpoints_checked,
        checkpoint_problem=(
            CheckpointProblemOut(checkpoint_seq=problem.checkpoint_seq, reason=problem.reason)
            if problem
            else None
        ),
    )


def checkpoint_out(result: CheckpointWritten) -> CheckpointOut | None:
    checkpoint: Checkpoint | None = result.checkpoint
    if checkpoint is None:
        return None
    return CheckpointOut(
        seq=checkpoint.seq,
        created_at=checkpoint.created_at,
        hash=checkpoint.hash,
        prev_hash=checkpoint.prev_hash,
        key_id=checkpoint.key_id,
        heads=[SealedHeadOut(chain=h.chain, seq=h.seq, hash=h.hash) for h in checkpoint.heads],
        written=result.written,
    )


def export_verification_out(result: ExportVerification) -> ExportVerificationOut:
    problem = result.checkpoint_problem
    return ExportVerificationOut(
        ok=result.ok,
        entries=result.entries,
        chains=[
            ChainReportOut(
                chain=c.chain,
                ok=c.ok,
                entries=c.entries,
                head_seq=c.head_seq,
                head_hash=c.head_hash,
                broken_at=_break_out(c.broken_at),
                sealed_seq=c.sealed_seq,
                unsealed_entries=c.unsealed_entries,
            )
            for c in result.chains
        ],
        checkpoints=[
            CheckpointReportOut(
                seq=c.seq,
                created_at=c.created_at,
                key_id=c.key_id,
                trusted=c.trusted,
                reason=c.reason,
                covers=[
                    CoverageOut(chain=v.chain, through_seq=v.through_seq, holds=v.holds)
                    for v in c.covers
                ],
                chains_not_exported=c.chains_not_exported,
            )
            for c in result.checkpoints
        ],
        checkpoint_problem=(
            CheckpointProblemOut(checkpoint_seq=problem.checkpoint_seq, reason=problem.reason)
            if problem
            else None
        ),
        bad_line=result.bad_line[0] if result.bad_line else None,
        bad_line_reason=result.bad_line[1] if result.bad_line else None,
        missing_chains=[
            MissingChainOut(
                chain=m.chain, through_seq=m.through_seq, checkpoint_seq=m.checkpoint_seq
            )
            for m in result.missing_chains
        ],
    )
