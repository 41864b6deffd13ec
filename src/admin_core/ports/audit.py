"""The audit log port. It can append and read; there is deliberately no update or delete."""

from __future__ import annotations

from typing import Protocol

from admin_core.domain.audit import AuditEntry, AuditRecord


class AuditLog(Protocol):
    async def append(self, record: AuditRecord) -> AuditEntry:
        """Append to the record's chain inside the current unit of work. The sequence number
        is allocated in the transaction, so concurrent writers can never fork a chain."""
        ...
