"""The one way use cases build audit entries: `audit_record(principal, ...)`.

It fills in who acted and the request they acted in, so no use case builds an entry by hand.
Append it (`tx.audit.append(...)`) inside the same transaction as the change it records,
before `commit()`; for external side effects, hand it to the intent (`side_effects`), which
appends it once the provider confirmed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from admin_core.audit.model import AuditRecord
from admin_core.kernel.principal import Principal


def audit_record(
    principal: Principal,
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
) -> AuditRecord:
    """The entry `principal` causes, to append now or once an external side effect is
    confirmed (`side_effects`). `before`/`after` hold identifiers and settings, never PHI."""
    return AuditRecord(
        tenant_id=tenant_id,
        actor_id=principal.user_id,
        actor_role=principal.role,
        action=action,
        event_type=event_type,
        resource_type=resource_type,
        resource_id=resource_id,
        case_id=case_id,
        patient_id=patient_id,
        request_id=principal.request_id,
        before=before,
        after=after,
    )


def completed_by(record: AuditRecord, principal: Principal) -> AuditRecord:
    """`record`, the entry of a change another call began, naming in `after.completed_by`
    the call that took it over to finish it (who, by which request): the entry keeps who
    asked for the change, and the request that finished it can be found too."""
    finisher = {"actor_id": principal.user_id, "request_id": principal.request_id}
    return replace(record, after={**(record.after or {}), "completed_by": finisher})
