"""Signed checkpoints of the audit chains (docs/adr/0056-signed-audit-checkpoints.md).

A hash chain alone cannot stop someone who can write to the database: they can change an
entry and recompute every later link. A checkpoint seals, with a key the database never holds,
the head (`seq`, `hash`) of every chain at one moment, chains to the checkpoint before it, and
is kept twice: in the database and in an external sink. A chain must reach each sealed head
with the sealed hash; what was appended after the latest checkpoint is protected by the chain
alone (the unsealed window).

The signed payload is canonical JSON (keys sorted, no whitespace, ASCII):

    {"created_at": "...Z", "heads": [[chain, seq, hash], ...], "key_id": "...",
     "prev_hash": "<hash of the previous checkpoint, or 64 zeros>", "seq": n,
     "type": "admin-core/audit-checkpoint", "v": 1}

`hash` = SHA-256 (hex) of that payload; `signature` = Ed25519 over it, base64url without
padding. The document stored and published is the payload's fields plus `signature`.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from admin_core.audit.model import GENESIS_HASH, CheckpointProblem, Seal
from admin_core.kernel.json_text import read_json

CHECKPOINT_TYPE = "admin-core/audit-checkpoint"
CHECKPOINT_VERSION = 1
_HEX64 = re.compile("[0-9a-f]{64}").fullmatch


class CheckpointMalformed(ValueError):
    """A document that is not a checkpoint of this format."""


class SealedHead(NamedTuple):
    """A chain's head as a checkpoint sealed it (a tuple: a checkpoint holds one per chain,
    and a verify reads every checkpoint's)."""

    chain: str
    seq: int
    hash: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    seq: int
    created_at: datetime
    prev_hash: str
    key_id: str
    heads: tuple[SealedHead, ...]  # sorted by chain
    signature: str = ""

    def payload(self) -> bytes:
        """The bytes the signature covers."""
        return _canonical(self._body())

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.payload()).hexdigest()

    def document(self) -> bytes:
        """The checkpoint as stored in the database and written to the sink."""
        return _canonical(self._body() | {"signature": self.signature})

    def head_of(self, chain: str) -> SealedHead | None:
        i = bisect.bisect_left(self.heads, chain, key=lambda h: h.chain)
        return self.heads[i] if i < len(self.heads) and self.heads[i].chain == chain else None

    def _body(self) -> dict[str, Any]:
        return {
            "type": CHECKPOINT_TYPE,
            "v": CHECKPOINT_VERSION,
            "seq": self.seq,
            "created_at": _time(self.created_at),
            "prev_hash": self.prev_hash,
            "key_id": self.key_id,
            "heads": [[h.chain, h.seq, h.hash] for h in self.heads],
        }


def _canonical(body: Mapping[str, Any]) -> bytes:
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def _time(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise CheckpointMalformed("the signature is not base64url") from error


def _hex64(value: Any) -> bool:
    return isinstance(value, str) and _HEX64(value) is not None


def checkpoint_from(data: Mapping[str, Any]) -> Checkpoint:
    """A checkpoint from its decoded document; `CheckpointMalformed` if it is not one."""
    try:
        if data["type"] != CHECKPOINT_TYPE or data["v"] != CHECKPOINT_VERSION:
            raise CheckpointMalformed("not a version 1 audit checkpoint")
        seq, prev_hash, key_id, signature = (
            data["seq"],
            data["prev_hash"],
            data["key_id"],
            data["signature"],
        )
        created_at = datetime.fromisoformat(data["created_at"])
        heads = _heads(data["heads"])
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, CheckpointMalformed):
            raise
        raise CheckpointMalformed(f"not an audit checkpoint: {error}") from error
    if (
        type(seq) is not int
        or seq < 1
        or not _hex64(prev_hash)
        or not isinstance(key_id, str)
        or not isinstance(signature, str)
        or created_at.tzinfo is None
        or heads is None
        or list(heads) != sorted(heads)
    ):
        raise CheckpointMalformed("an audit checkpoint with fields of the wrong shape")
    return Checkpoint(
        seq=seq,
        created_at=created_at,
        prev_hash=prev_hash,
        key_id=key_id,
        heads=heads,
        signature=signature,
    )


def _heads(value: Any) -> tuple[SealedHead, ...] | None:
    """`[[chain, seq, hash], ...]` as sealed heads; None when it is not of that shape. Checked
    a column at a time: a checkpoint holds a head for every chain."""
    if type(value) is not list or not set(map(type, value)) <= {list}:
        return None
    if not set(map(len, value)) <= {3}:
        return None
    chains, seqs, hashes = zip(*value, strict=True) if value else ((), (), ())
    if not set(map(type, chains)) <= {str} or not set(map(type, seqs)) <= {int}:
        return None
    if not set(map(type, hashes)) <= {str} or not all(map(_HEX64, hashes)):
        return None
    return tuple(map(SealedHead._make, value))


def parse_checkpoint(document: bytes | str) -> Checkpoint:
    try:
        data = read_json(document)
    except ValueError as error:
        raise CheckpointMalformed("not JSON") from error
    if not isinstance(data, dict):
        raise CheckpointMalformed("not a JSON object")
    return checkpoint_from(data)


def unsigned_checkpoint(
    previous: Checkpoint | None,
    heads: Sequence[SealedHead],
    *,
    created_at: datetime,
    key_id: str,
) -> Checkpoint:
    """The checkpoint after `previous` sealing `heads` (chains with seq 0 are left out)."""
    return Checkpoint(
        seq=previous.seq + 1 if previous else 1,
        created_at=created_at,
        prev_hash=previous.hash if previous else GENESIS_HASH,
        key_id=key_id,
        heads=tuple(sorted(h for h in heads if h.seq > 0)),
    )


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True, slots=True, kw_only=True)
class PublicKey:
    """An Ed25519 public key: `key_id` is the first 16 hex digits of SHA-256 of its 32 raw
    bytes, so a new key is a new id."""

    key_id: str
    raw: bytes


def key_id_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:16]


class CheckpointIssue:
    """Why a checkpoint cannot be trusted (values are the wire `reason`s)."""

    SIGNATURE_INVALID = "checkpoint_signature_invalid"  # altered, or signed by no trusted key
    UNKNOWN_KEY = "checkpoint_key_unknown"  # signed with a key not among the trusted ones
    MALFORMED = "checkpoint_malformed"
    CHAIN_BROKEN = "checkpoint_chain_broken"  # does not link to the checkpoint before it
    MISSING_IN_DATABASE = "checkpoint_missing_in_database"  # the sink has it, the database not
    MISSING_IN_SINK = "checkpoint_missing_in_sink"  # the database has it, the sink not
    SINK_DISAGREES = "checkpoint_sink_disagrees"  # the two copies differ


#: `verify(key_id, payload, signature)`: whether the signature holds, None for an unknown key.
Verify = Callable[[str, bytes, bytes], bool | None]


def signed_checkpoint(seq: int, document: bytes, verify: Verify) -> Checkpoint | str:
    """Checkpoint `seq` when `document` is one, signed by a trusted key; else why not (a
    `CheckpointIssue`). Its link to the checkpoint before it is not checked here."""
    signed = _signed(seq, document, verify)
    return signed if isinstance(signed, str) else signed[0]


def _signed(seq: int, document: bytes, verify: Verify) -> tuple[Checkpoint, bytes] | str:
    """`signed_checkpoint`, with the payload its signature covers."""
    try:
        checkpoint = parse_checkpoint(document)
        signature = unb64(checkpoint.signature)
    except CheckpointMalformed:
        return CheckpointIssue.MALFORMED
    if checkpoint.seq != seq:
        return CheckpointIssue.CHAIN_BROKEN
    payload = checkpoint.payload()
    valid = verify(checkpoint.key_id, payload, signature)
    if valid is None:
        return CheckpointIssue.UNKNOWN_KEY
    if not valid:
        return CheckpointIssue.SIGNATURE_INVALID
    return checkpoint, payload


class SignatureCheck:
    """Checks checkpoints one by one in `seq` order: signature by a trusted key, link to the
    previous checkpoint, and agreement of the database's copy with the sink's."""

    def __init__(self, verify: Verify, *, after: Checkpoint | None = None) -> None:
        """`after`: the checkpoint already found trustworthy, with every one before it; the
        check goes on from there."""
        self._verify = verify
        self._previous = after
        self._previous_hash = after.hash if after is not None else GENESIS_HASH
        self.checked = after.seq if after is not None else 0
        self.problem: CheckpointProblem | None = None

    def feed(self, seq: int, stored: bytes | None, published: bytes | None) -> Checkpoint | None:
        """One checkpoint as the database (`stored`) and the sink (`published`) hold it; the
        checkpoint when it can be trusted, else None (and `problem` says why)."""
        if self.problem is not None:
            return None
        self.checked += 1
        reason = self._reason(seq, stored, published)
        if reason is not None:
            self.problem = CheckpointProblem(checkpoint_seq=seq, reason=reason)
            return None
        return self._previous

    def _reason(self, seq: int, stored: bytes | None, published: bytes | None) -> str | None:
        if stored is None:
            return CheckpointIssue.MISSING_IN_DATABASE
        if published is None:
            return CheckpointIssue.MISSING_IN_SINK
        if stored != published:
            return CheckpointIssue.SINK_DISAGREES
        return self.check(seq, stored)

    def check(self, seq: int, document: bytes) -> str | None:
        """Signature and link of one document (no sink involved); None when it holds."""
        signed = _signed(seq, document, self._verify)
        if isinstance(signed, str):
            return signed
        checkpoint, payload = signed
        if checkpoint.prev_hash != self._previous_hash:
            return CheckpointIssue.CHAIN_BROKEN
        self._previous, self._previous_hash = checkpoint, hashlib.sha256(payload).hexdigest()
        return None

    @property
    def latest(self) -> Checkpoint | None:
        return self._previous


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustedPrefix:
    """Checkpoints 1 to `latest.seq`, checked and found trustworthy: the latest one's
    document as the database and the sink both held it, and each chain's latest seal among
    them (a chain whose head was deleted behind the application keeps its seal)."""

    latest: Checkpoint
    document: bytes
    seals: dict[str, Seal]


class TrustedCheckpoints:
    """The checkpoints this process has checked and trusts, so that a verify checks only the
    ones written since: the latest trusted one again (both copies unchanged), then every later
    one. One per process, shared by concurrent verifies; it only moves forward."""

    def __init__(self) -> None:
        self._prefix: TrustedPrefix | None = None

    @property
    def prefix(self) -> TrustedPrefix | None:
        return self._prefix

    def advance(self, prefix: TrustedPrefix) -> None:
        if self._prefix is None or prefix.latest.seq > self._prefix.latest.seq:
            self._prefix = prefix

    def forget(self) -> None:
        self._prefix = None
