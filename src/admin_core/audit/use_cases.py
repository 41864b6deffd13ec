"""Audit-log use cases: query (keyset pages), export (a stream of pages), verify a chain."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from admin_core.audit.model import (
    ACTION_FILTER,
    DEFAULT_AUDIT_LIMIT,
    MAX_AUDIT_LIMIT,
    MAX_ID_LENGTH,
    AuditEntry,
    AuditFilter,
    AuditPosition,
    ChainHead,
    ChainVerification,
    ChainVerifier,
    CursorInvalid,
    chain_of,
    decode_cursor,
    encode_cursor,
)
from admin_core.audit.ports import AuditTransaction
from admin_core.kernel.errors import FieldError, ValidationFailed
from admin_core.kernel.principal import Permission, Principal
from admin_core.kernel.transaction import Transactions
from admin_core.kernel.validation import TimeBound, has_control_characters, time_bound


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditQuery:
    """A request for audit entries, as an entrypoint received it.

    `from_date`/`to_date` are inclusive and take a date (`2026-03-01`: the whole UTC day) or a
    date-time (ISO-8601; without an offset it is UTC). `cursor` is the `next_cursor` of the
    previous page, valid only with the same filters.
    """

    action: str | None = None
    actor_id: str | None = None
    tenant_id: str | None = None
    case_id: str | None = None
    patient_id: str | None = None
    from_date: TimeBound = None
    to_date: TimeBound = None
    limit: int = DEFAULT_AUDIT_LIMIT
    cursor: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditPage:
    entries: Sequence[AuditEntry]
    next_cursor: str | None
    limit: int


def _filter_errors(query: AuditQuery) -> list[FieldError]:
    errors: list[FieldError] = []
    if query.action is not None and not ACTION_FILTER.fullmatch(query.action):
        errors.append(
            FieldError(
                field="action",
                message="must be an action name (letters, digits, '_', '.', ':', '-'), "
                "optionally ending in '*'; a trailing '.' or '*' matches by prefix",
            )
        )
    for name in ("actor_id", "tenant_id", "case_id", "patient_id"):
        value = getattr(query, name)
        if value is not None and not 1 <= len(value) <= MAX_ID_LENGTH:
            errors.append(
                FieldError(field=name, message=f"must be 1 to {MAX_ID_LENGTH} characters")
            )
        elif value is not None and has_control_characters(value):
            errors.append(FieldError(field=name, message="must not contain control characters"))
    return errors


def scoped_filter(principal: Principal, query: AuditQuery, *, paged: bool = True) -> AuditFilter:
    """Validate the query (its `limit` too when `paged`) and narrow its filters to what the
    principal may read.

    Raises VALIDATION_ERROR naming each bad field, then AUTH_INSUFFICIENT_PERMISSION when the
    principal lacks `audit:read` or names a tenant it does not reach.
    """
    errors = _filter_errors(query)
    if paged and not 1 <= query.limit <= MAX_AUDIT_LIMIT:
        errors.insert(
            0, FieldError(field="limit", message=f"must be between 1 and {MAX_AUDIT_LIMIT}")
        )
    bounds: dict[str, datetime | None] = {}
    for name, end in (("from_date", False), ("to_date", True)):
        try:
            bounds[name] = time_bound(getattr(query, name), field=name, end=end)
        except ValidationFailed as error:
            errors += error.errors
    start, stop = bounds.get("from_date"), bounds.get("to_date")
    if start is not None and stop is not None and stop < start:
        errors.append(FieldError(field="to_date", message="must not be before from_date"))
    if errors:
        raise ValidationFailed(errors)
    tenant_id = principal.visible_tenant(query.tenant_id, Permission.AUDIT_READ)
    return AuditFilter(
        action=None if query.action == "*" else query.action,
        actor_id=query.actor_id,
        tenant_id=tenant_id,
        case_id=query.case_id,
        patient_id=query.patient_id,
        occurred_from=start,
        occurred_to=stop,
    )


def _position(query: AuditQuery, audit_filter: AuditFilter) -> AuditPosition | None:
    if query.cursor is None:
        return None
    try:
        return decode_cursor(query.cursor, audit_filter)
    except CursorInvalid as error:
        raise ValidationFailed.single("cursor", str(error)) from error


class QueryAuditLog:
    """One page of audit entries, newest first.

    Rules: needs `audit:read`; a tenant-scoped caller reads only its own tenant's entries
    (naming another tenant is refused), platform callers read every chain, the platform's
    included. `action` matches exactly, or by prefix when it ends with `.` or `*`. `limit` is
    1..500 (default 50). Pages follow `next_cursor` (keyset: the cost of a page does not grow
    with its depth, and entries appended meanwhile never shift later pages); the last page
    has `next_cursor` null.
    """

    def __init__(self, transactions: Transactions[AuditTransaction]) -> None:
        self._transactions = transactions

    async def execute(self, principal: Principal, query: AuditQuery) -> AuditPage:
        audit_filter = scoped_filter(principal, query)
        before = _position(query, audit_filter)
        async with self._transactions() as tx:
            rows = await tx.audit.query(audit_filter, before=before, limit=query.limit + 1)
        entries = list(rows[: query.limit])
        more = len(rows) > query.limit
        next_cursor = encode_cursor(entries[-1].position, audit_filter) if more else None
        return AuditPage(entries=entries, next_cursor=next_cursor, limit=query.limit)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditExport:
    """Every entry matching a filter, read page by page, each page in its own short unit of
    work: memory stays flat however many entries there are, and no transaction stays open."""

    total: int
    audit_filter: AuditFilter
    start: AuditPosition | None
    batch_size: int
    transactions: Transactions[AuditTransaction]

    async def batches(self) -> AsyncIterator[Sequence[AuditEntry]]:
        before = self.start
        while True:
            async with self.transactions() as tx:
                batch = await tx.audit.query(
                    self.audit_filter, before=before, limit=self.batch_size
                )
            if batch:
                yield batch
            if len(batch) < self.batch_size:
                return
            before = batch[-1].position


class ExportAuditLog:
    """Stream all entries matching the filters (same rules as `QueryAuditLog`, without a page
    limit; a cursor resumes an export). `total` is counted when the export starts; entries
    appended later are not part of it."""

    def __init__(
        self, transactions: Transactions[AuditTransaction], batch_size: int = MAX_AUDIT_LIMIT
    ) -> None:
        self._transactions = transactions
        self._batch_size = batch_size

    async def execute(self, principal: Principal, query: AuditQuery) -> AuditExport:
        audit_filter = scoped_filter(principal, query, paged=False)
        start = _position(query, audit_filter)
        async with self._transactions() as tx:
            total = await tx.audit.count(audit_filter)
        return AuditExport(
            total=total,
            audit_filter=audit_filter,
            start=start,
            batch_size=self._batch_size,
            transactions=self._transactions,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyAuditChainQuery:
    tenant_id: str | None = None  # None: the caller's own chain (platform callers: the platform's)


class VerifyAuditChain:
    """Prove a chain was not altered: recompute every entry's hash and link, in `seq` order.

    Rules: needs `audit:read` reaching the tenant; without `tenant_id` a tenant-scoped caller
    verifies its own tenant's chain and a platform caller the platform chain. The chain is
    read in batches of `batch_size`, each in its own unit of work, so millions of entries
    verify in constant memory. It checks the entries up to the chain head recorded when the
    verification starts, and reports the first broken entry: a changed entry, a broken link,
    or missing entries (also at the tail).
    """

    def __init__(
        self, transactions: Transactions[AuditTransaction], batch_size: int = 5000
    ) -> None:
        self._transactions = transactions
        self._batch_size = batch_size

    async def execute(
        self,
        principal: Principal,
        query: VerifyAuditChainQuery,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> ChainVerification:
        """`progress(checked, total)` is called after each batch (total: the head's seq)."""
        tenant_id = query.tenant_id
        if tenant_id is not None and not 1 <= len(tenant_id) <= MAX_ID_LENGTH:
            raise ValidationFailed.single("tenant_id", f"must be 1 to {MAX_ID_LENGTH} characters")
        if tenant_id is not None and has_control_characters(tenant_id):
            raise ValidationFailed.single("tenant_id", "must not contain control characters")
        chain = chain_of(principal.visible_tenant(tenant_id, Permission.AUDIT_READ))
        async with self._transactions() as tx:
            head = await tx.audit.head(chain)
        verifier = ChainVerifier(chain)
        await self._walk(verifier, head, progress)
        return verifier.finish(head)

    async def _walk(
        self,
        verifier: ChainVerifier,
        head: ChainHead | None,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        after = 0
        while head is None or after < head.seq:
            async with self._transactions() as tx:
                batch = await tx.audit.read_chain(
                    verifier.chain, after_seq=after, limit=self._batch_size
                )
            for entry in batch:
                if (head is not None and entry.seq > head.seq) or not verifier.feed(entry):
                    return
            if progress is not None:
                progress(verifier.checked, head.seq if head else verifier.checked)
            if len(batch) < self._batch_size:
                return
            after = batch[-1].seq
