"""Intents: what is about to be done outside the database, recorded before it is done."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from admin_core.audit.model import AuditRecord


class IntentStatus(enum.StrEnum):
    PENDING = "pending"  # recorded; the provider may or may not have acted yet
    DONE = "done"  # the provider acted, and the audit entries are written
    FAILED = "failed"  # the provider did not act (or what it did was put back)


class Outcome(enum.StrEnum):
    """What the provider holds: as it answered, or asked after a failure or a crash."""

    APPLIED = "applied"
    NOT_APPLIED = "not_applied"
    PENDING = "pending"  # accepted, not confirmed yet: asked again later
    UNKNOWN = "unknown"  # the provider cannot be asked now


@dataclass(frozen=True, slots=True)
class Answer:
    """What the provider said: the outcome, and what the area records of it (JSON)."""

    outcome: Outcome
    result: Mapping[str, Any] | None = None


APPLIED = Answer(Outcome.APPLIED)
NOT_APPLIED = Answer(Outcome.NOT_APPLIED)


@dataclass(frozen=True, slots=True, kw_only=True)
class Intent:
    """One external side effect. `payload` is what its effect needs (JSON); `audit` the
    entries written when, and only when, the provider has acted. `key` is the idempotency key
    sent to providers that take one."""

    id: str
    kind: str
    key: str
    tenant_id: str | None
    payload: Mapping[str, Any]
    audit: Sequence[AuditRecord]
    status: IntentStatus
    created_at: datetime
    updated_at: datetime
    attempts: int = 0
    error: str | None = None
    #: The provider's last answer (`Answer.result`), if it said anything worth keeping.
    result: Mapping[str, Any] | None = None
    #: Driven until then by one caller (on any replica); others leave it alone.
    lease_until: datetime | None = None
    #: What the effect changes, where changes of one thing must not overlap (a user's
    #: membership of one organisation): at most one intent of a subject is pending at a time.
    subject: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcileReport:
    """What one reconcile pass did with the intents it found pending."""

    completed: Sequence[str] = ()  # applied: audit written, now done
    abandoned: Sequence[str] = ()  # not applied: now failed
    unresolved: Sequence[str] = ()  # the provider could not be asked: still pending
