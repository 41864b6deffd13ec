"""Audit records for the tests of the log and its checkpoints."""

from __future__ import annotations

from admin_core.audit.model import AuditRecord


def tenant_update(n: int, tenant_id: str | None = "tenant-a") -> AuditRecord:
    """The `n`-th update of a tenant's fee: distinct ids, request and values per `n`."""
    return AuditRecord(
        tenant_id=tenant_id,
        actor_id="user_1",
        actor_role="org:admin",
        action="tenant.update",
        event_type="ADMIN_TENANT_UPDATE",
        resource_type="tenant",
        resource_id=f"res-{n}",
        request_id=f"req-{n}",
        before={"fee_minor": n - 1},
        after={"fee_minor": n},
    )
