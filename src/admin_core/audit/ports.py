"""The audit log port. It can append and read; there is deliberately no update or delete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

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


class AuditTransaction(Transaction, Protocol):
    """A transaction that can record and read audit entries."""

    audit: AuditLog
