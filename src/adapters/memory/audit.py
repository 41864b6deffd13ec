"""The in-memory audit log."""

from __future__ import annotations

from collections.abc import Sequence

from adapters.memory.store import InMemoryStore
from admin_core.audit.model import (
    GENESIS_HASH,
    AuditEntry,
    AuditFilter,
    AuditPosition,
    AuditRecord,
    ChainHead,
    chain_of,
    newest_first,
    seal,
    unlinked,
)
from admin_core.audit.ports import AuditLog
from admin_core.kernel.runtime import Clock, IdGenerator


class InMemoryAuditLog(AuditLog):
    """Entries in append order; the store's single lock serialises writers."""

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
        return unlinked(entry)

    async def query(
        self, audit_filter: AuditFilter, *, before: AuditPosition | None, limit: int
    ) -> Sequence[AuditEntry]:
        matching = [
            e
            for e in self._store.audit_entries
            if audit_filter.matches(e) and (before is None or e.position < before)
        ]
        return newest_first(matching)[:limit]

    async def count(self, audit_filter: AuditFilter) -> int:
        return sum(1 for e in self._store.audit_entries if audit_filter.matches(e))

    async def head(self, chain: str) -> ChainHead | None:
        entry = self._store.audit_heads.get(chain)
        return ChainHead(chain=chain, seq=entry.seq, hash=entry.hash) if entry else None

    async def read_chain(self, chain: str, *, after_seq: int, limit: int) -> Sequence[AuditEntry]:
        entries = (e for e in self._store.audit_entries if e.chain == chain and e.seq > after_seq)
        return sorted(entries, key=lambda e: e.seq)[:limit]
