"""Verify an export of whole chains with their checkpoints, with public keys only: no
database, no settings (`adminctl audit verify-export FILE --public-key KEY`).

The export is JSON lines: first `{"checkpoint": <checkpoint document>}` lines in `seq` order
from 1, then each chain's entries (the API's wire format) from seq 1 in order. Each
checkpoint must be signed by a given key and link to the one before; each chain must link
entry by entry and reach every head a trusted checkpoint sealed with the sealed hash. The
report says, for each checkpoint, which entries it covers (seq 1 through the sealed head of
each exported chain) and whether they hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from admin_core.audit.checkpoints import (
    Checkpoint,
    CheckpointIssue,
    CheckpointMalformed,
    SignatureCheck,
    Verify,
    checkpoint_from,
)
from admin_core.audit.model import (
    CONTENT_FIELDS,
    AuditEntry,
    ChainBreak,
    ChainHead,
    ChainVerifier,
    CheckpointProblem,
    Seal,
)
from admin_core.kernel.json_text import read_json

_ENTRY_FIELDS = frozenset((*CONTENT_FIELDS, "seq", "prev_hash", "hash"))


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainReport:
    chain: str
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    broken_at: ChainBreak | None
    sealed_seq: int
    unsealed_entries: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Coverage:
    """Entries 1..`through_seq` of `chain`, as checkpoint sealed them; `holds` when the
    export has them and they reach the sealed hash."""

    chain: str
    through_seq: int
    holds: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointReport:
    seq: int
    created_at: datetime | None
    key_id: str | None
    trusted: bool
    reason: str | None
    covers: tuple[Coverage, ...]
    #: Chains the checkpoint seals that are not in this export.
    chains_not_exported: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MissingChain:
    """A chain the latest trusted checkpoint seals that has no entry in the export."""

    chain: str
    through_seq: int
    checkpoint_seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportVerification:
    ok: bool
    entries: int
    chains: tuple[ChainReport, ...]
    checkpoints: tuple[CheckpointReport, ...]
    checkpoint_problem: CheckpointProblem | None
    #: A line that is neither a checkpoint nor an entry (1-based), and why.
    bad_line: tuple[int, str] | None = None
    #: Chains sealed by the latest trusted checkpoint but not in the export: a failure when
    #: the export was expected to hold every chain (`every_chain`).
    missing_chains: tuple[MissingChain, ...] = ()
    #: No line of the file is a checkpoint or an entry, not even a damaged one, and `bad_line`
    #: is its first: the file is no audit export at all (a PDF, a CSV, a JSON document). An
    #: empty file is the export of an empty log (what `audit export` writes for one).
    not_an_export: bool = False


@dataclass
class _Chain:
    verifier: ChainVerifier
    seals: dict[int, Seal] = field(default_factory=dict)


#: An export without checkpoints proves nothing against a re-seal.
_NO_CHECKPOINTS = CheckpointProblem(checkpoint_seq=0, reason="no_checkpoints")
#: Reasons that leave a checkpoint's own fields unproven.
_UNSIGNED = frozenset({CheckpointIssue.SIGNATURE_INVALID, CheckpointIssue.UNKNOWN_KEY})


def _entry(data: dict[str, Any]) -> AuditEntry:
    if set(data) != _ENTRY_FIELDS:
        raise ValueError(
            "a JSON object, but neither a checkpoint nor an audit entry (fields differ)"
        )
    values = dict(data)
    try:
        values["occurred_at"] = datetime.fromisoformat(values["occurred_at"])
    except (ValueError, TypeError):
        raise ValueError("occurred_at is not an ISO 8601 time") from None
    if values["occurred_at"].tzinfo is None:
        raise ValueError("occurred_at has no time zone")
    if type(values["seq"]) is not int:
        raise ValueError("seq is not an integer")
    return AuditEntry(**values)


def verify_export(
    lines: Iterable[bytes | str], verify: Verify, *, every_chain: bool = False
) -> ExportVerification:
    """Verify an export (its lines, streamed) under the keys `verify` knows. `every_chain`:
    the export is to hold every chain (an export made without a tenant filter); a chain the
    latest trusted checkpoint seals and the export lacks — one taken out of the file — then
    fails it. The export cannot say so itself: nothing in it but the checkpoints is signed."""
    export = _ExportReading(SignatureCheck(verify))
    bad_line: tuple[int, str] | None = None
    numbered = enumerate(lines, start=1)
    for number, raw in numbered:
        try:
            entry = export.read(raw)
        except (ValueError, TypeError, KeyError) as error:
            bad_line = (number, str(error))
            # Before any checkpoint or entry: a damaged export still has lines of one, here
            # or further on; a file that is none has not a single one.
            not_an_export = not export.has_read and not any(
                _export_line(line) for line in (raw, *(line for _, line in numbered))
            )
            return export.verification(
                bad_line, every_chain=every_chain, not_an_export=not_an_export
            )
        if entry is not None:
            export.feed(entry)
    return export.verification(None, every_chain=every_chain, not_an_export=False)


def _json(raw: bytes | str) -> Any:
    """The JSON value a line holds; ValueError saying so, in words of ours, for one that holds
    none (the parser's position in the line helps no one reading a report)."""
    try:
        return read_json(raw)
    except ValueError:  # not JSON, bytes that are not UTF-8 text, nested too deep
        raise ValueError("not JSON") from None


def _export_line(raw: bytes | str) -> bool:
    """Whether `raw` has the shape of an export's line, sound or not: a JSON object holding a
    checkpoint, or an entry's fields."""
    try:
        data = _json(raw) if raw.strip() else None
    except ValueError:
        return False
    return isinstance(data, dict) and ("checkpoint" in data or set(data) == _ENTRY_FIELDS)


class _ExportReading:
    """An export as far as it was read: its checkpoints first (each with its problem, and
    those trusted), then its entries, chain by chain."""

    def __init__(self, check: SignatureCheck) -> None:
        self._check = check
        self._trusted: list[Checkpoint] = []
        self._checkpoints: list[tuple[int, Checkpoint | None, str | None]] = []
        self._expected_checkpoint = 1
        self._chains: dict[str, _Chain] = {}
        self._entries = 0
        #: Whether a checkpoint or an entry has been read (a blank line is neither).
        self.has_read = False

    def read(self, raw: bytes | str) -> AuditEntry | None:
        """The entry a line holds; None for a blank line or a checkpoint (taken in here).
        Raises ValueError, TypeError or KeyError, saying why, for a line that is neither, or a
        checkpoint after the entries."""
        if not raw.strip():
            return None
        data = _json(raw)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        if "checkpoint" not in data:
            entry = _entry(data)
            self.has_read = True
            return entry
        if self._chains:
            raise ValueError("a checkpoint after the entries")
        self.has_read = True
        self._expected_checkpoint = _checkpoint(
            data["checkpoint"],
            self._expected_checkpoint,
            self._check,
            self._trusted,
            self._checkpoints,
        )
        return None

    def feed(self, entry: AuditEntry) -> None:
        """The next entry of its chain, checked against the chain's seals."""
        state = self._chains.get(entry.chain)
        if state is None:
            seals = _seals(self._trusted, entry.chain)
            state = self._chains[entry.chain] = _Chain(ChainVerifier(entry.chain, seals), seals)
        state.verifier.feed(entry)
        self._entries += 1

    def verification(
        self, bad_line: tuple[int, str] | None, *, every_chain: bool, not_an_export: bool
    ) -> ExportVerification:
        """What the export proves, read up to `bad_line` (None: to its end); nothing, for a
        file that is `not_an_export`."""
        trusted = self._trusted
        reports = tuple(
            _chain_report(chain, state, trusted) for chain, state in self._chains.items()
        )
        checkpoints = tuple(_checkpoint_report(c, reports) for c in self._checkpoints)
        missing = tuple(
            MissingChain(chain=head.chain, through_seq=head.seq, checkpoint_seq=trusted[-1].seq)
            for head in (trusted[-1].heads if trusted else ())
            if head.chain not in self._chains
        )
        problem = self._check.problem
        ok = (
            bad_line is None
            and not not_an_export
            and problem is None
            and bool(self._checkpoints)
            and all(r.ok for r in reports)
            and not (every_chain and missing)
        )
        return ExportVerification(
            ok=ok,
            entries=self._entries,
            chains=reports,
            checkpoints=checkpoints,
            checkpoint_problem=problem or (None if self._checkpoints else _NO_CHECKPOINTS),
            bad_line=bad_line,
            missing_chains=missing,
            not_an_export=not_an_export,
        )


def _checkpoint(
    data: Any,
    expected: int,
    check: SignatureCheck,
    trusted: list[Checkpoint],
    seen: list[tuple[int, Checkpoint | None, str | None]],
) -> int:
    try:
        checkpoint: Checkpoint | None = checkpoint_from(data)
    except CheckpointMalformed:
        checkpoint = None
    seq = checkpoint.seq if checkpoint is not None else expected
    if check.problem is not None:
        seen.append((seq, checkpoint, "after_an_untrusted_checkpoint"))
        return expected + 1
    if checkpoint is None:
        reason: str | None = CheckpointIssue.MALFORMED
    else:
        # The signature first: a `seq` is only believed once it is signed. One that is not is
        # named by its place in the file, the seq expected there (an altered `seq` would
        # otherwise point the auditor at another checkpoint).
        reason = check.check(seq, checkpoint.document())
        if reason in _UNSIGNED:
            seq = expected
        elif seq != expected:
            reason = CheckpointIssue.CHAIN_BROKEN  # signed: one is missing, or out of order
    if reason is not None:
        check.problem = CheckpointProblem(checkpoint_seq=seq, reason=reason)
    else:
        assert checkpoint is not None
        trusted.append(checkpoint)
    check.checked += 1
    seen.append((seq, checkpoint, reason))
    return expected + 1


def _seals(trusted: list[Checkpoint], chain: str) -> dict[int, Seal]:
    seals: dict[int, Seal] = {}
    for checkpoint in trusted:
        head = checkpoint.head_of(chain)
        if head is not None:
            seals.setdefault(
                head.seq, Seal(seq=head.seq, hash=head.hash, checkpoint_seq=checkpoint.seq)
            )
    return seals


def _latest_seal(trusted: list[Checkpoint], chain: str) -> Seal | None:
    for checkpoint in reversed(trusted):
        head = checkpoint.head_of(chain)
        if head is not None:
            return Seal(seq=head.seq, hash=head.hash, checkpoint_seq=checkpoint.seq)
    return None


def _chain_report(chain: str, state: _Chain, trusted: list[Checkpoint]) -> ChainReport:
    verifier = state.verifier
    head = ChainHead(chain=chain, seq=verifier.last_seq, hash=verifier.last_hash)
    result = verifier.finish(head, latest_seal=_latest_seal(trusted, chain))
    return ChainReport(
        chain=chain,
        ok=result.ok,
        entries=result.entries_checked,
        head_seq=result.head_seq,
        head_hash=result.head_hash,
        broken_at=result.broken_at,
        sealed_seq=result.sealed_seq,
        unsealed_entries=result.unsealed_entries,
    )


def _checkpoint_report(
    item: tuple[int, Checkpoint | None, str | None],
    reports: tuple[ChainReport, ...],
) -> CheckpointReport:
    seq, checkpoint, reason = item
    by_chain = {r.chain: r for r in reports}
    covers: list[Coverage] = []
    missing = 0
    for head in checkpoint.heads if checkpoint is not None else ():
        report = by_chain.get(head.chain)
        if report is None:
            missing += 1
            continue
        broken = report.broken_at
        holds = reason is None and (broken is None or broken.seq > head.seq)
        covers.append(Coverage(chain=head.chain, through_seq=head.seq, holds=holds))
    return CheckpointReport(
        seq=seq,
        created_at=checkpoint.created_at if checkpoint is not None else None,
        key_id=checkpoint.key_id if checkpoint is not None else None,
        trusted=reason is None,
        reason=reason,
        covers=tuple(covers),
        chains_not_exported=missing,
    )
