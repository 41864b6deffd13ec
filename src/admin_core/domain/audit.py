"""Audit-log entries and the hash chain that makes them tamper-evident.

One chain per tenant, and one for platform actions (`PLATFORM_CHAIN`). Each entry's `hash` is
SHA-256 over the previous entry's hash and a canonical encoding of the entry itself, so
changing, removing or reordering any entry breaks every hash after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

PLATFORM_CHAIN = "platform"
GENESIS_HASH = "0" * 64


def chain_of(tenant_id: str | None) -> str:
    """The chain an entry belongs to: its tenant's, or the platform chain."""
    return f"tenant:{tenant_id}" if tenant_id else PLATFORM_CHAIN


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """What a use case asks to record. The log assigns id, seq, time and hashes."""

    tenant_id: str | None
    actor_id: str
    actor_role: str | None
    action: str
    event_type: str
    resource_type: str
    resource_id: str | None
    case_id: str | None = None
    patient_id: str | None = None
    request_id: str | None = None
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
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
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    prev_hash: str
    hash: str

    @property
    def chain(self) -> str:
        return chain_of(self.tenant_id)


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(entry: AuditEntry) -> bytes:
    """A stable encoding of every field except `hash` (sorted keys, no spaces, UTF-8)."""
    body = {
        "id": entry.id,
        "seq": entry.seq,
        "chain": entry.chain,
        "occurred_at": _time(entry.occurred_at),
        "tenant_id": entry.tenant_id,
        "actor_id": entry.actor_id,
        "actor_role": entry.actor_role,
        "action": entry.action,
        "event_type": entry.event_type,
        "resource_type": entry.resource_type,
        "resource_id": entry.resource_id,
        "case_id": entry.case_id,
        "patient_id": entry.patient_id,
        "request_id": entry.request_id,
        "before": entry.before,
        "after": entry.after,
        "prev_hash": entry.prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: AuditEntry) -> str:
    return hashlib.sha256(entry.prev_hash.encode() + canonical_bytes(entry)).hexdigest()


def seal(
    record: AuditRecord, *, entry_id: str, seq: int, occurred_at: datetime, prev_hash: str
) -> AuditEntry:
    """Turn a record into the next entry of its chain, hash included."""
    unsealed = AuditEntry(
        id=entry_id,
        seq=seq,
        occurred_at=occurred_at,
        tenant_id=record.tenant_id,
        actor_id=record.actor_id,
        actor_role=record.actor_role,
        action=record.action,
        event_type=record.event_type,
        resource_type=record.resource_type,
        resource_id=record.resource_id,
        case_id=record.case_id,
        patient_id=record.patient_id,
        request_id=record.request_id,
        before=dict(record.before) if record.before is not None else None,
        after=dict(record.after) if record.after is not None else None,
        prev_hash=prev_hash,
        hash="",
    )
    return replace(unsealed, hash=entry_hash(unsealed))
