"""The one way use cases write audit entries: `record_audit(uow, actor, ...)`.

It fills in who acted (the principal) and the request id, so no use case builds an entry by
hand. Call it inside the same unit of work as the change it records, before `commit()`; for
external side effects, after the provider confirmed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from admin_core.auth import Principal
from admin_core.domain.audit import AuditEntry, AuditRecord
from admin_core.ports.persistence import UnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """Who is acting, and within which request (`request_id` ties entries to HTTP logs)."""

    principal: Principal
    request_id: str | None = None


async def record_audit(
    uow: UnitOfWork,
    actor: Actor,
    *,
    action: str,
    event_type: str,
    resource_type: str,
    resource_id: str | None,
    tenant_id: str | None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    case_id: str | None = None,
    patient_id: str | None = None,
) -> AuditEntry:
    """Append one entry. `before`/`after` hold identifiers and settings, never PHI."""
    return await uow.audit.append(
        AuditRecord(
            tenant_id=tenant_id,
            actor_id=actor.principal.user_id,
            actor_role=actor.principal.role,
            action=action,
            event_type=event_type,
            resource_type=resource_type,
            resource_id=resource_id,
            case_id=case_id,
            patient_id=patient_id,
            request_id=actor.request_id,
            before=before,
            after=after,
        )
    )
