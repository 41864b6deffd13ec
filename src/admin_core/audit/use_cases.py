"""Audit-log use cases: query (keyset pages), export (a stream of pages), verify a chain
against the signed checkpoints, write a checkpoint, export whole chains with their
checkpoints."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias

from admin_core.audit.checkpoints import (
    Checkpoint,
    CheckpointIssue,
    CheckpointMalformed,
    SealedHead,
    SignatureCheck,
    TrustedCheckpoints,
    TrustedPrefix,
    b64,
    signed_checkpoint,
    unb64,
    unsigned_checkpoint,
)
from admin_core.audit.errors import CHECKPOINTS, AuditChainBroken
from admin_core.audit.model import (
    ACTION_FILTER,
    DEFAULT_AUDIT_LIMIT,
    MAX_AUDIT_LIMIT,
    MAX_ID_LENGTH,
    ROW_FIELDS,
    AuditEntry,
    AuditFilter,
    AuditPosition,
    BreakReason,
    ChainBreak,
    ChainHead,
    ChainVerification,
    ChainVerifier,
    CheckpointProblem,
    Seal,
    chain_of,
    decode_cursor,
    encode_cursor,
)
from admin_core.audit.ports import (
    AuditTransaction,
    CheckpointKeys,
    CheckpointLock,
    CheckpointSigner,
    CheckpointSink,
    CheckpointTransaction,
    TenantCheck,
)
from admin_core.kernel.errors import FieldError, ValidationFailed
from admin_core.kernel.paging import CursorInvalid
from admin_core.kernel.principal import Permission, Principal
from admin_core.kernel.runtime import Clock
from admin_core.kernel.transaction import Transactions
from admin_core.kernel.validation import FieldChecks, TimeBound, has_control_characters

log = logging.getLogger("admin_core.audit")

#: Checkpoints read at a time by a verify: each seals every chain's head.
CHECKPOINTS_PER_READ = 100

_SEQ_AT, _HASH_AT, _ID_AT = (ROW_FIELDS.index(name) for name in ("seq", "hash", "id"))


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
    checks = FieldChecks()
    if paged and not 1 <= query.limit <= MAX_AUDIT_LIMIT:
        checks.fail("limit", f"must be between 1 and {MAX_AUDIT_LIMIT}")
    checks.errors += _filter_errors(query)
    start, stop = checks.time_range(query.from_date, query.to_date)
    checks.done()
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
    has `next_cursor` null. A tenant that does not exist → TENANT_NOT_FOUND (looked up only
    when the page is empty; without `tenants`, its page is just empty).
    """

    def __init__(
        self, transactions: Transactions[AuditTransaction], *, tenants: TenantCheck | None = None
    ) -> None:
        self._transactions = transactions
        self._tenants = tenants

    async def execute(self, principal: Principal, query: AuditQuery) -> AuditPage:
        audit_filter = scoped_filter(principal, query)
        before = _position(query, audit_filter)
        async with self._transactions() as tx:
            rows = await tx.audit.query(audit_filter, before=before, limit=query.limit + 1)
        if not rows and audit_filter.tenant_id is not None and self._tenants is not None:
            await self._tenants.require(audit_filter.tenant_id)
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
    appended later are not part of it. A tenant that does not exist → TENANT_NOT_FOUND
    before anything is streamed (looked up only when nothing matches)."""

    def __init__(
        self,
        transactions: Transactions[AuditTransaction],
        batch_size: int = MAX_AUDIT_LIMIT,
        *,
        tenants: TenantCheck | None = None,
    ) -> None:
        self._transactions = transactions
        self._batch_size = batch_size
        self._tenants = tenants

    async def execute(self, principal: Principal, query: AuditQuery) -> AuditExport:
        audit_filter = scoped_filter(principal, query, paged=False)
        start = _position(query, audit_filter)
        async with self._transactions() as tx:
            total = await tx.audit.count(audit_filter)
        if not total and audit_filter.tenant_id is not None and self._tenants is not None:
            await self._tenants.require(audit_filter.tenant_id)
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


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointEvidence:
    """What the trusted checkpoints say about one chain: its latest seal."""

    latest: Seal | None
    latest_checkpoint: Checkpoint | None
    checked: int
    problem: CheckpointProblem | None


class _StoredCheckpoint(NamedTuple):
    """A checkpoint as the database stores it, with the sink's copy (None: the sink lacks
    it; without a sink, the database's stands for both)."""

    seq: int
    document: bytes
    published: bytes | None


class _TrustedSoFar:
    """The checkpoints found trustworthy so far, in order from the first: the latest one's
    seq and document, as the database and the sink both held it, and each chain's latest
    seal."""

    def __init__(self, known: TrustedPrefix | None) -> None:
        self.latest_seq = known.latest.seq if known else 0
        self.latest_document = known.document if known else b""
        self._remembered = known.seals if known else {}
        # chain: the head a trusted checkpoint sealed last, and that checkpoint's seq; made
        # into seals once, as a verify may check thousands of checkpoints of every chain
        self._last_sealed: dict[str, tuple[SealedHead, int]] = {}

    def add(self, seq: int, document: bytes, checkpoint: Checkpoint) -> None:
        self._last_sealed.update({head.chain: (head, seq) for head in checkpoint.heads})
        self.latest_seq, self.latest_document = seq, document

    def seals(self) -> dict[str, Seal]:
        seals = dict(self._remembered)
        for chain, (head, seq) in self._last_sealed.items():
            seals[chain] = Seal(seq=head.seq, hash=head.hash, checkpoint_seq=seq)
        return seals


#: The checkpoints' verdict (the first problem, the latest trusted one, how many were
#: checked) and each chain's latest seal among the trusted ones.
_Checked: TypeAlias = tuple[SignatureCheck, dict[str, Seal]]


async def _as_remembered(known: TrustedPrefix, stored: AsyncIterator[_StoredCheckpoint]) -> bool:
    """Whether the first of `stored` is `known`'s latest checkpoint, both copies as they were
    when it was trusted."""
    first = await anext(stored, None)
    return (
        first is not None
        and first.seq == known.latest.seq
        and first.document == first.published == known.document
    )


def _checked_to(seal: Seal, broken: ChainBreak, verified: int) -> int | None:
    """The last entry a seal can be held to in the search for the earliest one `broken`
    contradicts: the break itself when it is a seal's mismatch, else the last entry checked;
    None when the latest seal held, and so every one before it."""
    if broken.reason is BreakReason.CHECKPOINT_MISMATCH:
        return broken.seq
    return None if seal.seq <= verified else verified


class VerifyAuditChain:
    """Prove a chain was not altered: recompute every entry's hash and link, in `seq` order,
    and hold the chain to what the signed checkpoints sealed.

    Rules: needs `audit:read` reaching the tenant; a tenant that does not exist is
    TENANT_NOT_FOUND; without `tenant_id` a tenant-scoped caller verifies its own tenant's
    chain and a platform caller the platform chain. The chain is read in batches of
    `batch_size`, each in its own unit of work, so millions of entries verify in constant
    memory. Reported, with the first broken seq: a changed entry, a broken link, missing
    entries, links beyond the recorded head (a rolled-back head), a head whose hash is not the
    last link's, an entry whose hash differs from the one a checkpoint sealed (a re-seal), a
    chain that ends before a sealed head (truncation). Every checkpoint is checked too (its
    signature by a trusted key, its link to the one before, the sink's copy equal to the
    database's): the first one that fails is `checkpoint_problem`, and only the checkpoints
    before it are trusted. Entries after the latest trusted checkpoint are counted as
    `unsealed_entries`: the chain alone protects them. The checkpoints are read under the
    checkpoint lock's `reading` side: a checkpoint another replica is storing and publishing
    meanwhile is neither half seen nor reported missing from one side.

    Checkpoints already checked by this process (`trusted`) are not checked again: the
    latest of them is read again from both sides, then only the ones written since; a
    remembered checkpoint changed or gone means everything is checked again. The chain is
    held to its latest seal, which its hash links make enough to catch any change below it;
    a change is then reported at the earliest seal it contradicts, found by bisection.
    """

    def __init__(
        self,
        transactions: Transactions[CheckpointTransaction],
        batch_size: int = 5000,
        *,
        tenants: TenantCheck | None = None,
        keys: CheckpointKeys | None = None,
        sink: CheckpointSink | None = None,
        lock: CheckpointLock | None = None,
        trusted: TrustedCheckpoints | None = None,
    ) -> None:
        self._transactions = transactions
        self._batch_size = batch_size
        self._tenants = tenants
        self._keys = keys
        self._sink = sink
        self._lock = lock
        self._trusted = trusted if trusted is not None else TrustedCheckpoints()

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
        visible = principal.visible_tenant(tenant_id, Permission.AUDIT_READ)
        if visible is not None and self._tenants is not None:
            await self._tenants.require(visible)
        chain = chain_of(visible)
        evidence = (await self._evidence([chain]))[chain]
        return await self._verify(chain, evidence, progress)

    async def execute_all(
        self,
        principal: Principal,
        *,
        progress: Callable[[int, int], None] | None = None,
        concurrency: int = 2,
    ) -> list[ChainVerification]:
        """Every chain: each one with a head, and each one the latest checkpoint sealed (a
        head rolled back to nothing does not hide a chain), in chain order. Needs `audit:read`
        with platform scope. The checkpoints are checked once for all chains; `concurrency`
        chains are verified at a time, so that one chain's reads overlap another's hashing
        (most chains are short). `progress(checked, total)` counts entries over all chains."""
        principal.require(Permission.AUDIT_READ, platform=True)
        async with self._transactions() as tx:
            heads = await tx.checkpoints.heads()
            try:
                sealed = await tx.checkpoints.latest()
            except CheckpointMalformed:  # reported by the checkpoint check below
                sealed = None
        sealed_heads = sealed.heads if sealed is not None else ()
        chains = sorted({h.chain for h in heads} | {h.chain for h in sealed_heads})
        evidence = await self._evidence(chains)
        total = sum(h.seq for h in heads)
        done: dict[str, int] = {}

        def advance(chain: str) -> Callable[[int, int], None] | None:
            if progress is None:
                return None

            def report(checked: int, _: int) -> None:
                done[chain] = checked
                progress(sum(done.values()), max(total, sum(done.values())))

            return report

        results: dict[str, ChainVerification] = {}
        pending = iter(chains)

        async def verify_next() -> None:
            for chain in pending:  # shared: each chain is taken once
                results[chain] = await self._verify(chain, evidence[chain], advance(chain))

        await asyncio.gather(*(verify_next() for _ in range(max(1, concurrency))))
        return [results[chain] for chain in chains]

    async def _verify(
        self,
        chain: str,
        evidence: CheckpointEvidence,
        progress: Callable[[int, int], None] | None,
    ) -> ChainVerification:
        async with self._transactions() as tx:
            head = await tx.audit.head(chain)
        seal = evidence.latest
        verifier = ChainVerifier(chain, {seal.seq: seal} if seal is not None else None)
        await self._walk(verifier, head, progress)
        async with self._transactions() as tx:
            head = await tx.audit.head(chain)
        if verifier.broken is None and head is not None and head.seq > verifier.last_seq:
            # Entries appended while the walk ran are no break: walk on to this head (the
            # walk itself went past any head read before it), and no further.
            await self._walk(verifier, head, progress, after=verifier.last_seq, until=head.seq)
        result = verifier.finish(head, latest_seal=seal)
        broken = result.broken_at
        if seal is not None and broken is not None:
            earliest = await self._earliest_contradicted(
                chain, seal, broken, verified=result.verified_seq
            )
            if earliest is not broken:
                result = dataclasses.replace(
                    result,
                    broken_at=earliest,
                    entries_checked=earliest.seq,
                    verified_seq=earliest.seq - 1,
                )
        latest = evidence.latest_checkpoint
        return dataclasses.replace(
            result,
            ok=result.ok and evidence.problem is None,
            checkpoint_seq=latest.seq if latest else None,
            checkpoint_at=latest.created_at if latest else None,
            checkpoints_checked=evidence.checked,
            checkpoint_problem=evidence.problem,
        )

    async def _earliest_contradicted(
        self, chain: str, seal: Seal, broken: ChainBreak, *, verified: int
    ) -> ChainBreak:
        """The chain broke at `broken`, its entries checked up to `verified`; find the earliest
        seal it contradicts before that (the break itself when none does). A chain's seals grow
        with the checkpoints and, among checked entries, an entry's hash fixes every one before
        it, so a change contradicts each seal at or after it: bisect over the checkpoints
        before `seal`'s, each read again and checked by its signature. A seal past the checked
        entries tells nothing and sends the search lower. One no longer trustworthy ends the
        search with what was found so far."""
        checked_to = _checked_to(seal, broken, verified)
        if checked_to is None or self._keys is None:
            return broken
        found = broken
        low, high = 1, seal.checkpoint_seq - 1
        while low <= high:
            middle = (low + high) // 2
            read = await self._seal_and_entry(chain, middle, self._keys)
            if read is None:
                break
            sealed, row = read
            if sealed is None:  # the chain had no entry yet
                low = middle + 1
            elif sealed.seq > checked_to:  # tells nothing
                high = middle - 1
            elif row is not None and row[_HASH_AT] == sealed.hash:  # holds
                low = middle + 1
            else:
                found = ChainBreak(
                    seq=sealed.seq,
                    entry_id=row[_ID_AT] if row is not None else None,
                    reason=BreakReason.CHECKPOINT_MISMATCH,
                    checkpoint_seq=middle,
                )
                high = middle - 1
        return found

    async def _seal_and_entry(
        self, chain: str, checkpoint_seq: int, keys: CheckpointKeys
    ) -> tuple[SealedHead | None, Sequence[Any] | None] | None:
        """What checkpoint `checkpoint_seq` sealed of `chain` and the chain's entry at that seq
        now (each None when there is none); None when the checkpoint is gone or fails its
        signature."""
        async with self._transactions() as tx:
            documents = await tx.checkpoints.documents(after_seq=checkpoint_seq - 1, limit=1)
            checkpoint = (
                signed_checkpoint(checkpoint_seq, documents[0][1], keys.verify)
                if documents
                else None
            )
            if not isinstance(checkpoint, Checkpoint):
                return None
            sealed = checkpoint.head_of(chain)
            if sealed is None:
                return None, None
            rows = await tx.audit.read_chain_rows(chain, after_seq=sealed.seq - 1, limit=1)
        return sealed, rows[0] if rows and rows[0][_SEQ_AT] == sealed.seq else None

    async def _evidence(self, chains: Sequence[str]) -> dict[str, CheckpointEvidence]:
        """What the trusted checkpoints sealed of each of `chains`."""
        if self._keys is None:
            unchecked = CheckpointEvidence(
                latest=None, latest_checkpoint=None, checked=0, problem=None
            )
            return dict.fromkeys(chains, unchecked)
        check, seals = await self._check_checkpoints(self._keys)
        return {
            chain: CheckpointEvidence(
                latest=seals.get(chain),
                latest_checkpoint=check.latest,
                checked=check.checked,
                problem=check.problem,
            )
            for chain in chains
        }

    async def _check_checkpoints(self, keys: CheckpointKeys) -> _Checked:
        """The checkpoints written since the remembered ones; all of them when nothing is
        remembered, or what was is changed or gone. A writer stores a checkpoint, then
        publishes it: both sides are read between writes."""
        async with self._lock.reading() if self._lock else contextlib.nullcontext():
            known = self._trusted.prefix
            checked = await self._check_since(keys, known) if known else None
            if checked is None:
                self._trusted.forget()
                checked = await self._check_all(keys)
        return checked

    async def _check_all(self, keys: CheckpointKeys) -> _Checked:
        """Every checkpoint, from the first."""
        async with contextlib.aclosing(self._stored_checkpoints(after=0)) as stored:
            return await self._check_in_order(
                SignatureCheck(keys.verify), _TrustedSoFar(None), stored
            )

    async def _check_since(self, keys: CheckpointKeys, known: TrustedPrefix) -> _Checked | None:
        """The checkpoints after `known`'s latest, which is read again first: None when it is
        gone or either side's copy changed."""
        after = known.latest.seq - 1
        async with contextlib.aclosing(self._stored_checkpoints(after=after)) as stored:
            if not await _as_remembered(known, stored):
                return None
            return await self._check_in_order(
                SignatureCheck(keys.verify, after=known.latest), _TrustedSoFar(known), stored
            )

    async def _check_in_order(
        self,
        check: SignatureCheck,
        trusted: _TrustedSoFar,
        stored: AsyncIterator[_StoredCheckpoint],
    ) -> _Checked:
        """The stored checkpoints in order, then the next one in case only the sink holds it;
        remember how far they are trusted."""
        await self._check_stored(check, trusted, stored)
        if check.problem is None:
            await self._check_sink_tail(check, trusted.latest_seq + 1)
        seals = trusted.seals()
        if check.latest is not None:
            self._trusted.advance(
                TrustedPrefix(latest=check.latest, document=trusted.latest_document, seals=seals)
            )
        return check, seals

    async def _check_stored(
        self,
        check: SignatureCheck,
        trusted: _TrustedSoFar,
        stored: AsyncIterator[_StoredCheckpoint],
    ) -> None:
        """Each stored checkpoint up to the first that fails; a seq skipped is a checkpoint
        deleted from the database."""
        async for seq, document, published in stored:
            expected = trusted.latest_seq + 1
            if seq != expected:
                check.feed(expected, None, await self._published(expected))
                return
            checkpoint = check.feed(seq, document, published)
            if checkpoint is None:
                return
            trusted.add(seq, document, checkpoint)

    async def _check_sink_tail(self, check: SignatureCheck, seq: int) -> None:
        """Checkpoint `seq`, after the database's latest: held by the sink, it is one of the
        latest checkpoints deleted from the database."""
        published = await self._published(seq)
        if published is not None:
            check.feed(seq, None, published)

    async def _stored_checkpoints(self, *, after: int) -> AsyncGenerator[_StoredCheckpoint, None]:
        """The checkpoints the database holds after seq `after`, in order, each with the
        sink's copy; read `CHECKPOINTS_PER_READ` at a time (fewer for a smaller
        `batch_size`), each read in its own unit of work."""
        limit = min(self._batch_size, CHECKPOINTS_PER_READ)
        while True:
            async with self._transactions() as tx:
                documents = await tx.checkpoints.documents(after_seq=after, limit=limit)
            copies = await self._published_many(documents)
            for (seq, document), published in zip(documents, copies, strict=True):
                yield _StoredCheckpoint(seq, document, published)
            if len(documents) < limit:
                return
            after = documents[-1][0]

    async def _published_many(
        self, documents: Sequence[tuple[int, bytes]]
    ) -> Sequence[bytes | None]:
        """The sink's copies of `documents`; without a sink, the database's stand for both."""
        if self._sink is None:
            return [document for _, document in documents]
        return await self._sink.read_many([seq for seq, _ in documents])

    async def _published(self, seq: int) -> bytes | None:
        """The sink's copy of a checkpoint the database lacks (none without a sink)."""
        return None if self._sink is None else await self._sink.read(seq)

    async def _walk(
        self,
        verifier: ChainVerifier,
        head: ChainHead | None,
        progress: Callable[[int, int], None] | None,
        *,
        after: int = 0,
        until: int | None = None,
    ) -> None:
        """Every link of the chain after seq `after` (up to `until`, when given), past the
        recorded head too (a rolled-back head must not hide later links); after a break only
        the real head is looked for. The next batch is read while this one is hashed, so the
        database's work and ours overlap; batches start small and grow to `batch_size`, so
        that a short chain overlaps too."""
        chain = verifier.chain
        seq_at = ROW_FIELDS.index("seq")

        async def read(after: int, limit: int) -> Sequence[Sequence[Any]]:
            async with self._transactions() as tx:
                return await tx.audit.read_chain_rows(chain, after_seq=after, limit=limit)

        limit = min(self._batch_size, 500)
        pending = asyncio.ensure_future(read(after, limit))
        try:
            while True:
                batch = await pending
                more = len(batch) == limit
                if until is not None and batch and batch[-1][seq_at] >= until:
                    batch = [row for row in batch if row[seq_at] <= until]
                    more = False
                if more:
                    limit = min(self._batch_size, limit * 4)
                    pending = asyncio.ensure_future(read(batch[-1][seq_at], limit))
                feed = verifier.feed_row
                for row in batch:
                    feed(row)
                if progress is not None:
                    progress(verifier.checked, max(head.seq if head else 0, verifier.last_seq))
                if not more:
                    return
        finally:
            if not pending.done():
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pending


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteCheckpointCommand:
    """`only_if_changed`: write nothing when no chain moved since the latest checkpoint (the
    periodic writer); `wait_seconds`: how long to wait for another writer to finish."""

    only_if_changed: bool = False
    wait_seconds: float = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointWritten:
    checkpoint: Checkpoint | None  # the one written, else the latest
    written: bool


class WriteCheckpoint:
    """Seal every chain's head in a signed checkpoint, stored in the database and published
    to the sink.

    Rules: needs `audit:read` with platform scope. One writer at a time across replicas (the
    lock); a writer that cannot take it within `wait_seconds` writes nothing and returns the
    latest checkpoint. The checkpoint is committed to the database first, then published; a
    checkpoint the sink lacks (a crash between the two) is published by the next writer,
    once its signature checks out. A sink holding a different checkpoint under the same
    number is AUDIT_CHAIN_BROKEN: nothing overwrites a published checkpoint.
    """

    def __init__(
        self,
        transactions: Transactions[CheckpointTransaction],
        *,
        signer: CheckpointSigner,
        keys: CheckpointKeys,
        sink: CheckpointSink,
        lock: CheckpointLock,
        clock: Clock,
    ) -> None:
        self._transactions = transactions
        self._signer = signer
        self._keys = keys
        self._sink = sink
        self._lock = lock
        self._clock = clock

    async def execute(
        self, principal: Principal, command: WriteCheckpointCommand
    ) -> CheckpointWritten:
        principal.require(Permission.AUDIT_READ, platform=True)
        waited = 0.0
        while True:
            async with self._lock.hold() as taken:
                if taken:
                    return await self._write(command)
            if waited >= command.wait_seconds:
                async with self._transactions() as tx:
                    return CheckpointWritten(
                        checkpoint=await tx.checkpoints.latest(), written=False
                    )
            await asyncio.sleep(0.05)
            waited += 0.05

    async def _write(self, command: WriteCheckpointCommand) -> CheckpointWritten:
        async with self._transactions() as tx:
            try:
                previous = await tx.checkpoints.latest()
            except CheckpointMalformed as error:
                raise AuditChainBroken(
                    CHECKPOINTS,
                    CheckpointIssue.MALFORMED,
                    "The latest checkpoint in the database is not a checkpoint; no new one is "
                    "chained to it. Run `adminctl audit verify`.",
                ) from error
            if previous is not None:
                await self._publish_missing(previous)
            heads = await tx.checkpoints.heads()
            unchanged = previous is not None and previous.heads == tuple(
                h for h in heads if h.seq > 0
            )
            if command.only_if_changed and unchanged:
                return CheckpointWritten(checkpoint=previous, written=False)
            unsigned = unsigned_checkpoint(
                previous,
                heads,
                created_at=self._clock.now(),
                key_id=self._signer.public_key.key_id,
            )
            checkpoint = dataclasses.replace(
                unsigned, signature=b64(self._signer.sign(unsigned.payload()))
            )
            if not await tx.checkpoints.add(checkpoint):
                return CheckpointWritten(checkpoint=await tx.checkpoints.latest(), written=False)
            await tx.commit()
        await self._sink.publish(checkpoint.seq, checkpoint.document())
        return CheckpointWritten(checkpoint=checkpoint, written=True)

    async def _publish_missing(self, latest: Checkpoint) -> None:
        """Publish the latest stored checkpoint if the sink lacks it and it is genuine."""
        if await self._sink.read(latest.seq) is not None:
            return
        try:
            valid = self._keys.verify(latest.key_id, latest.payload(), unb64(latest.signature))
        except CheckpointMalformed:
            valid = False
        if not valid:
            log.error("checkpoint %d in the database is not validly signed", latest.seq)
            raise AuditChainBroken(
                CHECKPOINTS,
                CheckpointIssue.SIGNATURE_INVALID,
                f"Checkpoint {latest.seq} in the database is not validly signed and was not "
                "published; run `adminctl audit verify`.",
            )
        await self._sink.publish(latest.seq, latest.document())


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedChainsQuery:
    tenant_id: str | None = None  # None: every chain


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedExport:
    """Whole chains in `seq` order, with every stored checkpoint: what an auditor verifies
    offline with the public key alone (`verify_export`). Read in batches, each in its own
    unit of work."""

    chains: Sequence[str]
    batch_size: int
    transactions: Transactions[CheckpointTransaction]

    async def checkpoints(self) -> AsyncIterator[bytes]:
        after = 0
        while True:
            async with self.transactions() as tx:
                documents = await tx.checkpoints.documents(after_seq=after, limit=self.batch_size)
            for seq, document in documents:
                yield document
                after = seq
            if len(documents) < self.batch_size:
                return

    async def entries(self) -> AsyncIterator[Sequence[AuditEntry]]:
        for chain in self.chains:
            after = 0
            while True:
                async with self.transactions() as tx:
                    batch = await tx.audit.read_chain(chain, after_seq=after, limit=self.batch_size)
                if batch:
                    yield batch
                if len(batch) < self.batch_size:
                    break
                after = batch[-1].seq


class ExportSealedChains:
    """Export whole chains with their checkpoints (`adminctl audit export --with-checkpoints`).

    Rules: needs `audit:read` with platform scope (a checkpoint names every chain's head);
    a tenant that does not exist is TENANT_NOT_FOUND; without `tenant_id`, every chain.
    Checkpoints come first, then each chain from seq 1, so a verifier streams it.
    """

    def __init__(
        self,
        transactions: Transactions[CheckpointTransaction],
        *,
        tenants: TenantCheck | None = None,
        batch_size: int = MAX_AUDIT_LIMIT,
    ) -> None:
        self._transactions = transactions
        self._tenants = tenants
        self._batch_size = batch_size

    async def execute(self, principal: Principal, query: SealedChainsQuery) -> SealedExport:
        principal.require(Permission.AUDIT_READ, platform=True)
        if query.tenant_id is not None:
            if self._tenants is not None:
                await self._tenants.require(query.tenant_id)
            chains: Sequence[str] = [chain_of(query.tenant_id)]
        else:
            async with self._transactions() as tx:
                chains = [h.chain for h in await tx.checkpoints.heads() if h.seq > 0]
        return SealedExport(
            chains=chains, batch_size=self._batch_size, transactions=self._transactions
        )
