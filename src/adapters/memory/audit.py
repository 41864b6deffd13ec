"""The in-memory audit log."""

from __future__ import annotations

from adapters.memory.store import InMemoryStore
from admin_core.domain.audit import GENESIS_HASH, AuditEntry, AuditRecord, chain_of, seal
from admin_core.ports.audit import AuditLog
from admin_core.ports.runtime import Clock, IdGenerator


class InMemoryAuditLog(AuditLog):
    def __init__(self, store: InMemoryStore, clock: Clock, ids: IdGenerator) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids

    async def append(self, record: AuditRecord) -> AuditEntry:
        chain = chain_of(record.tenant_id)
        head = self._store.audit_heads.get(chain)
        entry = seal(
            record,
            entry_id=self._ids.new_id("aud"),
            seq=head.seq + 1 if head else 1,
            occurred_at=self._clock.now(),
            prev_hash=head.hash if head else GENESIS_HASH,
        )
        self._store.audit_entries.append(entry)
        self._store.audit_heads[chain] = entry
        return entry
