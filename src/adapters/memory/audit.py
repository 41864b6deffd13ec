"""The in-memory audit log, its checkpoints, a checkpoint sink and a checkpoint lock."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from adapters.memory.store import InMemoryStore
from admin_core.audit.checkpoints import (
    Checkpoint,
    CheckpointIssue,
    SealedHead,
    parse_checkpoint,
)
from admin_core.audit.errors import CHECKPOINTS, AuditChainBroken
from admin_core.audit.model import (
    GENESIS_HASH,
    ROW_FIELDS,
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
from admin_core.audit.ports import AuditLog, CheckpointLock, CheckpointSink, CheckpointStore
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

    async def read_chain_rows(
        self, chain: str, *, after_seq: int, limit: int
    ) -> Sequence[Sequence[Any]]:
        entries = await self.read_chain(chain, after_seq=after_seq, limit=limit)
        return [tuple(getattr(e, name) for name in ROW_FIELDS) for e in entries]


class InMemoryCheckpointStore(CheckpointStore):
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    async def heads(self) -> Sequence[SealedHead]:
        return sorted(
            SealedHead(chain=chain, seq=e.seq, hash=e.hash)
            for chain, e in self._store.audit_heads.items()
            if e.seq > 0  # as SqlCheckpointStore: a chain not linked yet is sealed by none
        )

    async def latest(self) -> Checkpoint | None:
        checkpoints = self._store.audit_checkpoints
        return parse_checkpoint(checkpoints[max(checkpoints)]) if checkpoints else None

    async def add(self, checkpoint: Checkpoint) -> bool:
        if checkpoint.seq in self._store.audit_checkpoints:
            return False
        self._store.audit_checkpoints[checkpoint.seq] = checkpoint.document()
        return True

    async def documents(self, *, after_seq: int, limit: int) -> Sequence[tuple[int, bytes]]:
        checkpoints = self._store.audit_checkpoints
        return [(seq, checkpoints[seq]) for seq in sorted(checkpoints) if seq > after_seq][:limit]


class InMemoryCheckpointSink(CheckpointSink):
    """The sink in this process's memory: for tests and the `memory://` database, whose
    checkpoints do not outlive the process either."""

    def __init__(self) -> None:
        self.documents: dict[int, bytes] = {}

    async def publish(self, seq: int, document: bytes) -> None:
        existing = self.documents.setdefault(seq, document)
        if existing != document:
            raise AuditChainBroken(CHECKPOINTS, CheckpointIssue.SINK_DISAGREES)

    async def read(self, seq: int) -> bytes | None:
        return self.documents.get(seq)

    async def read_many(self, seqs: Sequence[int]) -> list[bytes | None]:
        return [self.documents.get(seq) for seq in seqs]


class InProcessCheckpointLock(CheckpointLock):
    """Single-flight within one process (embedded SQLite, in-memory); replicas sharing
    PostgreSQL use `PostgresCheckpointLock`."""

    #: How long a reader waits between looks at a writer's lock.
    POLL_SECONDS = 0.01

    def __init__(self) -> None:
        self._state = threading.Lock()  # guards the two fields below, never held across await
        self._writing = False
        self._readers = 0

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        with self._state:
            taken = not self._writing and self._readers == 0
            self._writing = self._writing or taken
        try:
            yield taken
        finally:
            if taken:
                with self._state:
                    self._writing = False

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        while True:
            with self._state:
                if not self._writing:
                    self._readers += 1
                    break
            await asyncio.sleep(self.POLL_SECONDS)
        try:
            yield
        finally:
            with self._state:
                self._readers -= 1
