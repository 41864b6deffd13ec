"""The audit log port (it can append and read; there is deliberately no update or delete),
and the ports of signed checkpoints (docs/adr/0056-signed-audit-checkpoints.md)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from admin_core.audit.checkpoints import Checkpoint, PublicKey, SealedHead
from admin_core.audit.model import AuditEntry, AuditFilter, AuditPosition, AuditRecord, ChainHead
from admin_core.kernel.transaction import Transaction


class AuditLog(Protocol):
    async def append(self, record: AuditRecord) -> AuditEntry:
        """Record an entry inside the current transaction and return it as written: its id,
        time and content, with `seq` 0 and empty hashes. The entry joins its chain (`seq`,
        `prev_hash`, `hash`) when the transaction commits, still inside the transaction, so
        concurrent writers can never fork a chain and a rollback leaves no gap. Read it back
        linked with `query` or `read_chain`."""
        ...

    async def query(
        self, audit_filter: AuditFilter, *, before: AuditPosition | None, limit: int
    ) -> Sequence[AuditEntry]:
        """Up to `limit` entries matching the filter, newest first (`occurred_at`, then `id`,
        both descending), strictly after `before` in that order when given. The cost of a
        page must not grow with how deep `before` is."""
        ...

    async def count(self, audit_filter: AuditFilter) -> int:
        """How many entries match the filter."""
        ...

    async def head(self, chain: str) -> ChainHead | None:
        """The chain's last entry as recorded at append time; None for a chain never used."""
        ...

    async def read_chain(self, chain: str, *, after_seq: int, limit: int) -> Sequence[AuditEntry]:
        """Up to `limit` entries of one chain with `seq > after_seq`, in `seq` order: the
        batches a verification streams through."""
        ...

    async def read_chain_rows(
        self, chain: str, *, after_seq: int, limit: int
    ) -> Sequence[Sequence[Any]]:
        """What `read_chain` returns, each entry as a row of its values in `ROW_FIELDS`
        order: a verification hashes a row without building an entry for it."""
        ...


class CheckpointStore(Protocol):
    """The checkpoints kept in the database, beside the chains they seal. Append-only."""

    async def heads(self) -> Sequence[SealedHead]:
        """Every chain's head as recorded now, sorted by chain (what a checkpoint seals)."""
        ...

    async def latest(self) -> Checkpoint | None:
        """The checkpoint with the highest `seq`, as stored (not verified)."""
        ...

    async def add(self, checkpoint: Checkpoint) -> bool:
        """Store a signed checkpoint; False when its `seq` is taken already (another writer
        got there first), and nothing is written."""
        ...

    async def documents(self, *, after_seq: int, limit: int) -> Sequence[tuple[int, bytes]]:
        """Up to `limit` stored documents `(seq, document)` with `seq > after_seq`, in order."""
        ...


class AuditTransaction(Transaction, Protocol):
    """A transaction that can record and read audit entries."""

    audit: AuditLog


class CheckpointTransaction(AuditTransaction, Protocol):
    """A transaction that reads the chains and their checkpoints."""

    checkpoints: CheckpointStore


class CheckpointSigner(Protocol):
    """Signs checkpoints with an Ed25519 key the database never holds."""

    @property
    def public_key(self) -> PublicKey: ...

    def sign(self, payload: bytes) -> bytes:
        """The Ed25519 signature of `payload`."""
        ...


class CheckpointKeys(Protocol):
    """The public keys checkpoints are trusted under: the signer's and former ones (rotation
    keeps old checkpoints verifiable)."""

    def public_keys(self) -> Sequence[PublicKey]: ...

    def verify(self, key_id: str, payload: bytes, signature: bytes) -> bool | None:
        """Whether `signature` over `payload` holds under the key `key_id`; None when no
        trusted key has that id."""
        ...


class CheckpointSink(Protocol):
    """A copy of every checkpoint outside the database. A checkpoint once published is never
    rewritten."""

    async def publish(self, seq: int, document: bytes) -> None:
        """Write the checkpoint `seq`; publishing the same document again is a no-op, a
        different document under a published `seq` raises AUDIT_CHAIN_BROKEN."""
        ...

    async def read(self, seq: int) -> bytes | None:
        """The published document of checkpoint `seq`, or None."""
        ...

    async def read_many(self, seqs: Sequence[int]) -> list[bytes | None]:
        """`read` of each of `seqs`, in their order, at once."""
        ...


class CheckpointLock(Protocol):
    def hold(self) -> AbstractAsyncContextManager[bool]:
        """Try to take the checkpoint writer's lock without waiting; yields whether it was
        taken. Held by at most one writer across every replica, and not while anyone is
        `reading`."""
        ...

    def reading(self) -> AbstractAsyncContextManager[None]:
        """Wait until no checkpoint is being written, and keep one from starting until the
        block ends: what a verifier holds while it reads the checkpoints of the database and
        of the sink, which a writer changes one after the other. Many readers at once."""
        ...


class TenantCheck(Protocol):
    async def require(self, tenant_id: str) -> None:
        """Raise TENANT_NOT_FOUND when the tenant does not exist."""
        ...
