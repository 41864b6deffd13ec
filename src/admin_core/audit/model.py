"""Audit-log entries, the hash chain that makes them tamper-evident, filters and cursors.

One chain per tenant, and one for platform actions (`PLATFORM_CHAIN`). An entry's hash is

    hash = SHA-256(prev_hash ":" seq ":" digest)    digest = SHA-256(canonical encoding)

where the canonical encoding covers every field of the entry except `seq`, `prev_hash` and
`hash` (those three are bound by the outer hash). Changing, removing or reordering any entry
therefore breaks its own hash or the link of the entry after it. The split lets a database
compute the link of the next entry in the same statement that allocates its `seq`
(docs/adr/0010-audit-hash-chain.md).
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from admin_core.kernel.json_text import read_json
from admin_core.kernel.paging import (
    NOT_OURS,
    CursorInvalid,
    from_micros,
    micros,
    open_cursor,
    seal_cursor,
)

PLATFORM_CHAIN = "platform"
DEFAULT_AUDIT_LIMIT = 50
MAX_AUDIT_LIMIT = 500
#: The longest id a filter takes (actor, tenant, case, patient).
MAX_ID_LENGTH = 200
GENESIS_HASH = "0" * 64
CANONICAL_VERSION = 1


def chain_of(tenant_id: str | None) -> str:
    """The chain an entry belongs to: its tenant's, or the platform chain."""
    return f"tenant:{tenant_id}" if tenant_id else PLATFORM_CHAIN


def tenant_of_chain(chain: str) -> str | None:
    """The inverse of `chain_of`."""
    return None if chain == PLATFORM_CHAIN else chain.removeprefix("tenant:")


#: An action filter: an action (`tenant.update`), a prefix of actions (`tenant.*`) or `*`.
ACTION_FILTER = re.compile(r"(?:[A-Za-z0-9_.:\-]{1,128}\*?|\*)")


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """What a use case asks to record. The log assigns id, seq, time and hashes."""

    tenant_id: str | None
    actor_id: str
    actor_role: str | None
    action: str
    event_type: str
    resource_type: str
    resource_id: str | None
    case_id: str | None = None
    patient_id: str | None = None
    request_id: str | None = None
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    id: str
    seq: int
    occurred_at: datetime
    tenant_id: str | None
    actor_id: str
    actor_role: str | None
    action: str
    event_type: str
    resource_type: str
    resource_id: str | None
    case_id: str | None
    patient_id: str | None
    request_id: str | None
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    prev_hash: str
    hash: str

    @property
    def chain(self) -> str:
        return chain_of(self.tenant_id)

    @property
    def position(self) -> AuditPosition:
        return AuditPosition(occurred_at=self.occurred_at, id=self.id)


#: The fields an entry's content is made of: everything but its place in the chain (`seq`,
#: `prev_hash`, `hash`), in the order the entry declares them. Stores and exports take their
#: columns from here.
CONTENT_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(AuditEntry) if f.name not in {"seq", "prev_hash", "hash"}
)
#: An entry as a row (a tuple): its content fields, then its place in the chain. Stores stream
#: chains to a verifier in this form, which spares an entry object per row.
ROW_FIELDS: tuple[str, ...] = (*CONTENT_FIELDS, "seq", "prev_hash", "hash")
_ID, _TENANT, _TIME, _BEFORE, _AFTER, _SEQ, _PREV, _HASH = (
    ROW_FIELDS.index(name)
    for name in ("id", "tenant_id", "occurred_at", "before", "after", "seq", "prev_hash", "hash")
)
_UNPACKED = (  # the first content fields, in the order `_canonical_row` unpacks them
    "id",
    "occurred_at",
    "tenant_id",
    "actor_id",
    "actor_role",
    "action",
    "event_type",
    "resource_type",
    "resource_id",
    "case_id",
    "patient_id",
    "request_id",
)
if CONTENT_FIELDS[:12] != _UNPACKED:
    raise RuntimeError("_canonical_row must follow the order of CONTENT_FIELDS")
#: The fields a use case gives (`AuditRecord`) except `before`/`after`, which are normalised.
RECORD_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(AuditRecord) if f.name not in {"before", "after"}
)


# --------------------------------------------------------------------------- canonical form


_PLAIN = frozenset({str, int, bool, type(None)})


def json_value(value: Any, path: str = "$") -> Any:
    """`value` as plain JSON data that survives a round trip through any of our stores.

    Mappings need string keys; tuples and sets become lists (sets sorted); enums become their
    value; datetimes become ISO-8601 UTC text; Decimal and UUID become text; a float with an
    integral value becomes an int (PostgreSQL's jsonb would return it as one), and NaN or
    infinity is refused. Anything else is refused with the path of the offending value.
    """
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:  # the common case, kept fast: plain leaves are taken as they are
        result: dict[str, Any] = {}
        for key, item in value.items():
            name = key if type(key) is str else _key(key, path)
            result[name] = item if type(item) in _PLAIN else json_value(item, f"{path}.{name}")
        return result
    if kind is list:
        return [
            item if type(item) in _PLAIN else json_value(item, f"{path}[{i}]")
            for i, item in enumerate(value)
        ]
    return _json_other(value, path)


def _key(key: Any, path: str) -> str:
    name = key.value if isinstance(key, enum.Enum) else key
    if not isinstance(name, str):
        raise ValueError(f"{path}: keys must be strings, not {type(key).__name__}")
    return str(name)


def _json_other(value: Any, path: str) -> Any:
    if isinstance(value, enum.Enum):
        return json_value(value.value, path)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: {value} cannot be stored in the audit log")
        return int(value) if value.is_integer() else float(value)
    if isinstance(value, datetime):
        return _time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return json_value(dict(value.items()), path)
    if isinstance(value, list | tuple):
        return [json_value(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, set | frozenset):
        items = [json_value(item, f"{path}[]") for item in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    raise ValueError(f"{path}: {type(value).__name__} cannot be stored in the audit log")


_SLOT_SETTERS = tuple(getattr(AuditEntry, name).__set__ for name in ROW_FIELDS)
_new_object = object.__new__


def entry_of_row(row: Sequence[Any]) -> AuditEntry:
    """The entry a store's row holds (values in `ROW_FIELDS` order, taken as they are). Sets
    the slots directly: the frozen dataclass's `__init__` makes one `object.__setattr__` call
    per field, which cost more than the rest of reading a page (docs/adr/0057)."""
    entry: AuditEntry = _new_object(AuditEntry)
    for put, value in zip(_SLOT_SETTERS, row, strict=True):
        put(entry, value)
    return entry


def _time(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")[:-6] + "Z"  # "+00:00" → "Z"


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _canonical_encoder() -> Any:
    """`json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
    allow_nan=False)`, with the C encoder built once instead of per call (a third of the
    cost of hashing an entry)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        encoder = json.JSONEncoder(
            sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
        )
        return encoder.encode
    encode = make(
        None, _refuse, json.encoder.encode_basestring_ascii, None, ":", ",", True, False, False
    )
    return lambda body: "".join(encode(body, 0))


_ENCODE = _canonical_encoder()


def canonical_bytes(entry: AuditEntry) -> bytes:
    """The entry's content as canonical JSON: keys sorted, no whitespace, ASCII only (other
    characters as \\u escapes), numbers as `json_value` leaves them. `seq`, `prev_hash` and
    `hash` are not part of it; the chain link binds them."""
    return _canonical_row(tuple(getattr(entry, name) for name in CONTENT_FIELDS))


_STRING = json.encoder.encode_basestring_ascii


def _field(value: Any) -> str:
    if type(value) is str:
        return str(_STRING(value))
    return "null" if value is None else str(_ENCODE(json_value(value)))


def _canonical_row(row: Sequence[Any]) -> bytes:
    """`canonical_bytes` of a row whose first values are the entry's `CONTENT_FIELDS`.

    The top level is written in its sorted key order directly (what `json.dumps` with
    `sort_keys` gives, without a dict and a sort per entry); `before`/`after` go through the
    canonical encoder. tests/unit/test_audit_chain.py holds it to the `json.dumps` form."""
    s, f = _STRING, _field
    (id_, at, tenant, actor, role, action, event, kind, resource, case, patient, request) = row[:12]
    return (
        f'{{"action":{s(action) if action.__class__ is str else f(action)},'
        f'"actor_id":{s(actor) if actor.__class__ is str else f(actor)},'
        f'"actor_role":{s(role) if role.__class__ is str else f(role)},'
        f'"after":{_ENCODE(json_value(row[_AFTER]))},'
        f'"before":{_ENCODE(json_value(row[_BEFORE]))},'
        f'"case_id":{s(case) if case.__class__ is str else f(case)},'
        f'"chain":{s(chain_of(tenant))},'
        f'"event_type":{s(event) if event.__class__ is str else f(event)},'
        f'"id":{s(id_) if id_.__class__ is str else f(id_)},"occurred_at":"{_time(at)}",'
        f'"patient_id":{s(patient) if patient.__class__ is str else f(patient)},'
        f'"request_id":{s(request) if request.__class__ is str else f(request)},'
        f'"resource_id":{s(resource) if resource.__class__ is str else f(resource)},'
        f'"resource_type":{s(kind) if kind.__class__ is str else f(kind)},'
        f'"tenant_id":{s(tenant) if tenant.__class__ is str else f(tenant)},'
        f'"v":{CANONICAL_VERSION}}}'
    ).encode("ascii")


def content_digest(entry: AuditEntry) -> str:
    """SHA-256 (hex) of the entry's canonical encoding."""
    return hashlib.sha256(canonical_bytes(entry)).hexdigest()


def row_hash(row: Sequence[Any]) -> str:
    """`entry_hash` of an entry given as a row in `ROW_FIELDS` order."""
    digest = hashlib.sha256(_canonical_row(row)).hexdigest()
    return hashlib.sha256(f"{row[_PREV]}:{row[_SEQ]}:{digest}".encode("ascii")).hexdigest()


def link_hash(prev_hash: str, seq: int, digest: str) -> str:
    """The chain link: SHA-256 over `prev_hash:seq:digest` (ASCII). A database may compute it
    too: `encode(sha256(convert_to(prev || ':' || seq || ':' || digest, 'UTF8')), 'hex')`."""
    return hashlib.sha256(f"{prev_hash}:{seq}:{digest}".encode("ascii")).hexdigest()


def entry_hash(entry: AuditEntry) -> str:
    return link_hash(entry.prev_hash, entry.seq, content_digest(entry))


def draft(record: AuditRecord, *, entry_id: str, occurred_at: datetime) -> AuditEntry:
    """The entry a record becomes, before its place in the chain (`seq`, hashes) is known.
    `before`/`after` are normalised by `json_value` (a bad value raises ValueError)."""
    before = json_value(record.before, "before") if record.before is not None else None
    after = json_value(record.after, "after") if record.after is not None else None
    return AuditEntry(
        **{name: getattr(record, name) for name in RECORD_FIELDS},
        id=entry_id,
        occurred_at=occurred_at,
        before=before,
        after=after,
        seq=0,
        prev_hash="",
        hash="",
    )


def link(entry: AuditEntry, *, seq: int, prev_hash: str, digest: str | None = None) -> AuditEntry:
    """Place a drafted entry in its chain after the entry whose hash is `prev_hash`."""
    digest = digest or content_digest(entry)
    return replace(entry, seq=seq, prev_hash=prev_hash, hash=link_hash(prev_hash, seq, digest))


def unlinked(entry: AuditEntry) -> AuditEntry:
    """The entry without its place in the chain, as `AuditLog.append` returns it."""
    return replace(entry, seq=0, prev_hash="", hash="")


def seal(
    record: AuditRecord, *, entry_id: str, seq: int, occurred_at: datetime, prev_hash: str
) -> AuditEntry:
    """Turn a record into the next entry of its chain, hash included."""
    return link(
        draft(record, entry_id=entry_id, occurred_at=occurred_at), seq=seq, prev_hash=prev_hash
    )


# --------------------------------------------------------------------------- queries


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class AuditPosition:
    """Where an entry sits in the newest-first order: by time, then id."""

    occurred_at: datetime
    id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditFilter:
    """Which entries a query wants; every given field must match.

    `action` matches exactly, or as a prefix when it ends with `.` (kept in the prefix) or `*`
    (dropped). Time bounds are inclusive. `tenant_id=None` means every chain.
    """

    action: str | None = None
    actor_id: str | None = None
    tenant_id: str | None = None
    case_id: str | None = None
    patient_id: str | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None

    @property
    def action_prefix(self) -> str | None:
        if self.action is None:
            return None
        if self.action.endswith("*"):
            return self.action[:-1]
        return self.action if self.action.endswith(".") else None

    @property
    def action_exact(self) -> str | None:
        return self.action if self.action is not None and self.action_prefix is None else None

    def matches(self, entry: AuditEntry) -> bool:
        """The reference semantics every adapter must reproduce."""
        return (
            self._action_matches(entry.action)
            and (self.actor_id is None or entry.actor_id == self.actor_id)
            and (self.tenant_id is None or entry.tenant_id == self.tenant_id)
            and (self.case_id is None or entry.case_id == self.case_id)
            and (self.patient_id is None or entry.patient_id == self.patient_id)
            and (self.occurred_from is None or entry.occurred_at >= self.occurred_from)
            and (self.occurred_to is None or entry.occurred_at <= self.occurred_to)
        )

    def _action_matches(self, action: str) -> bool:
        if self.action is None:
            return True
        prefix = self.action_prefix
        return action.startswith(prefix) if prefix is not None else action == self.action

    def fingerprint(self) -> str:
        """A short digest that identifies this filter set (used to bind cursors to it)."""
        body = [
            self.action,
            self.actor_id,
            self.tenant_id,
            self.case_id,
            self.patient_id,
            micros(self.occurred_from) if self.occurred_from else None,
            micros(self.occurred_to) if self.occurred_to else None,
        ]
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=True).encode("ascii")
        return hashlib.sha256(raw).hexdigest()[:16]


def prefix_upper_bound(prefix: str) -> str:
    """The smallest string above every string that starts with `prefix` (non-empty), so
    `prefix <= s < bound` is a prefix match an ordered index can scan as one range."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def newest_first(entries: Sequence[AuditEntry]) -> list[AuditEntry]:
    return sorted(entries, key=lambda e: (e.occurred_at, e.id), reverse=True)


# --------------------------------------------------------------------------- cursors

CURSOR_VERSION = 1
MAX_CURSOR_LENGTH = 512
_CURSOR_PURPOSE = b"audit-cursor:"


def encode_cursor(position: AuditPosition, audit_filter: AuditFilter) -> str:
    """An opaque token for 'the entries after `position`, under this filter set'.

    `[version, µs since epoch, id, filter fingerprint]`, sealed (`kernel.paging.seal_cursor`), so an
    edited or truncated cursor, or one reused with other filters, is refused.
    """
    raw = json.dumps(
        [CURSOR_VERSION, micros(position.occurred_at), position.id, audit_filter.fingerprint()],
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode("ascii")
    return seal_cursor(raw, purpose=_CURSOR_PURPOSE)


def decode_cursor(token: str, audit_filter: AuditFilter) -> AuditPosition:
    raw = open_cursor(token, purpose=_CURSOR_PURPOSE, max_length=MAX_CURSOR_LENGTH)
    try:
        version, at, entry_id, fingerprint = read_json(raw)
    except (ValueError, TypeError) as error:
        raise CursorInvalid(NOT_OURS) from error
    if (
        version != CURSOR_VERSION
        or not isinstance(at, int)
        or not isinstance(entry_id, str)
        or not isinstance(fingerprint, str)
    ):
        raise CursorInvalid(NOT_OURS)
    if fingerprint != audit_filter.fingerprint():
        raise CursorInvalid("belongs to a different set of filters; start again without it")
    try:
        occurred_at = from_micros(at)
    except OverflowError as error:
        raise CursorInvalid(NOT_OURS) from error
    return AuditPosition(occurred_at=occurred_at, id=entry_id)


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainHead:
    """The last entry of a chain as the log records it (seq 0 and GENESIS_HASH when empty)."""

    chain: str
    seq: int
    hash: str


class BreakReason(enum.StrEnum):
    HASH_MISMATCH = "hash_mismatch"  # the entry's content (or seq) is not what was hashed
    PREV_HASH_MISMATCH = "prev_hash_mismatch"  # the entry does not link to the one before
    MISSING_ENTRIES = "missing_entries"  # the entry at this seq (and maybe more) is gone
    HEAD_MISMATCH = "head_mismatch"  # the recorded head's hash is not the chain's last link
    LINKS_BEYOND_HEAD = "links_beyond_head"  # the recorded head was moved back
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"  # a signed checkpoint sealed another hash here
    TRUNCATED = "truncated"  # the chain ends before the head a signed checkpoint sealed


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainBreak:
    seq: int
    entry_id: str | None
    reason: BreakReason
    #: The checkpoint whose seal the chain contradicts (CHECKPOINT_MISMATCH, TRUNCATED).
    checkpoint_seq: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointProblem:
    """Why the checkpoint `checkpoint_seq` cannot be trusted (`CheckpointIssue` values)."""

    checkpoint_seq: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Seal:
    """A chain's head as one trusted checkpoint sealed it."""

    seq: int
    hash: str
    checkpoint_seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainVerification:
    """The verdict on one chain.

    `head_seq`/`head_hash` are the chain's real head: the last link found or the recorded
    head, whichever is further (a rolled-back head does not hide later links, deleted tail
    entries do not shorten the chain). `verified_seq` is the last entry that checked out.
    `sealed_seq` is the head the latest trusted checkpoint sealed (0: none); the
    `unsealed_entries` after it are protected by the chain alone.
    """

    chain: str
    ok: bool
    entries_checked: int
    broken_at: ChainBreak | None
    head_seq: int
    head_hash: str
    recorded_head_seq: int = 0
    verified_seq: int = 0
    sealed_seq: int = 0
    checkpoint_seq: int | None = None
    checkpoint_at: datetime | None = None
    unsealed_entries: int = 0
    checkpoints_checked: int = 0
    checkpoint_problem: CheckpointProblem | None = None


class ChainVerifier:
    """Checks one chain entry by entry, in `seq` order, keeping only the previous hash, so a
    chain of any length is verified in constant memory (plus the seals of this chain).

    Each entry must follow the previous one (`seq` + 1, `prev_hash`), hash to its own `hash`,
    and match every seal a trusted checkpoint made at its `seq`. After the first break the
    verifier only follows the links, to find the real head."""

    def __init__(self, chain: str, seals: Mapping[int, Seal] | None = None) -> None:
        self.chain = chain
        self.checked = 0
        self.broken: ChainBreak | None = None
        self._seals = seals or {}
        self._seq = 0
        self._hash = GENESIS_HASH
        self._id: str | None = None
        self.last_seq = 0
        self.last_hash = GENESIS_HASH

    def feed(self, entry: AuditEntry) -> bool:
        """Check the next entry; False once the chain is broken."""
        return self.feed_row(tuple(getattr(entry, name) for name in ROW_FIELDS))

    def feed_row(self, row: Sequence[Any]) -> bool:
        """`feed` for an entry given as a row in `ROW_FIELDS` order."""
        seq, entry_hash_ = row[_SEQ], row[_HASH]
        self.last_seq, self.last_hash = seq, entry_hash_
        if self.broken is not None:
            return False
        self.checked += 1
        reason: BreakReason | None = None
        seal = self._seals.get(seq)
        if seq != self._seq + 1:
            self.broken = ChainBreak(
                seq=self._seq + 1, entry_id=None, reason=BreakReason.MISSING_ENTRIES
            )
            return False
        if row[_PREV] != self._hash:
            reason = BreakReason.PREV_HASH_MISMATCH
        elif chain_of(row[_TENANT]) != self.chain or entry_hash_ != row_hash(row):
            reason = BreakReason.HASH_MISMATCH
        elif seal is not None and seal.hash != entry_hash_:
            self.broken = ChainBreak(
                seq=seq,
                entry_id=row[_ID],
                reason=BreakReason.CHECKPOINT_MISMATCH,
                checkpoint_seq=seal.checkpoint_seq,
            )
            return False
        if reason is not None:
            self.broken = ChainBreak(seq=seq, entry_id=row[_ID], reason=reason)
            return False
        self._seq, self._hash, self._id = seq, entry_hash_, row[_ID]
        return True

    def finish(
        self,
        head: ChainHead | None,
        *,
        latest_seal: Seal | None = None,
    ) -> ChainVerification:
        """The verdict. `head` is the recorded head read after the walk (a head read before
        it would call entries appended meanwhile links beyond the head); `latest_seal` what
        the latest trusted checkpoint sealed of this chain."""
        recorded = head.seq if head is not None else 0
        if self.broken is None and self.last_seq > recorded:
            self.broken = ChainBreak(
                seq=recorded + 1, entry_id=None, reason=BreakReason.LINKS_BEYOND_HEAD
            )
        if self.broken is None and latest_seal is not None and latest_seal.seq > self._seq:
            self.broken = ChainBreak(
                seq=self._seq + 1,
                entry_id=None,
                reason=BreakReason.TRUNCATED,
                checkpoint_seq=latest_seal.checkpoint_seq,
            )
        if self.broken is None and recorded > self._seq:
            self.broken = ChainBreak(
                seq=self._seq + 1, entry_id=None, reason=BreakReason.MISSING_ENTRIES
            )
        if self.broken is None and head is not None and head.hash != self._hash:
            self.broken = ChainBreak(
                seq=self._seq, entry_id=self._id, reason=BreakReason.HEAD_MISMATCH
            )
        if head is not None and head.seq >= self.last_seq:
            head_seq, head_hash = head.seq, head.hash
        else:
            head_seq, head_hash = self.last_seq, self.last_hash
        sealed = latest_seal.seq if latest_seal is not None else 0
        return ChainVerification(
            chain=self.chain,
            ok=self.broken is None,
            entries_checked=self.checked,
            broken_at=self.broken,
            head_seq=head_seq,
            head_hash=head_hash,
            recorded_head_seq=recorded,
            verified_seq=self._seq,
            sealed_seq=sealed,
            checkpoint_seq=latest_seal.checkpoint_seq if latest_seal is not None else None,
            unsealed_entries=max(0, head_seq - sealed),
        )
