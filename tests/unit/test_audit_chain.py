"""The hash chain, the canonical encoding, cursors and the audit use cases on the in-memory
adapters; `adminctl audit` on an embedded database."""

from __future__ import annotations

import csv
import json
import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryTransactions
from adapters.system.runtime import UlidGenerator
from admin_core.audit.model import (
    CONTENT_FIELDS,
    GENESIS_HASH,
    ROW_FIELDS,
    AuditEntry,
    AuditFilter,
    AuditPosition,
    AuditRecord,
    BreakReason,
    ChainHead,
    ChainVerification,
    ChainVerifier,
    CursorInvalid,
    Seal,
    canonical_bytes,
    decode_cursor,
    encode_cursor,
    entry_hash,
    seal,
)
from admin_core.audit.use_cases import (
    AuditQuery,
    ExportAuditLog,
    QueryAuditLog,
    VerifyAuditChain,
    VerifyAuditChainQuery,
)
from admin_core.kernel.errors import InsufficientPermission, ValidationFailed
from admin_core.kernel.principal import Permission, Principal, Scope
from entrypoints.cli.main import main
from entrypoints.demo.data import DEMO_TENANTS
from tests.support.clock import ManualClock
from tests.support.demo import seed_demo_into

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
OPERATOR = Principal.operator("unit")


def record(n: int, tenant_id: str | None = "tenant-a", **changes: Any) -> AuditRecord:
    base = AuditRecord(
        tenant_id=tenant_id,
        actor_id="user_1",
        actor_role="org:admin",
        action="tenant.update",
        event_type="ADMIN_TENANT_UPDATE",
        resource_type="tenant",
        resource_id=tenant_id,
        request_id=f"req-{n}",
        before={"name": "Old"},
        after={"name": f"New {n}"},
    )
    return replace(base, **changes)


def chain(length: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for n in range(length):
        entries.append(
            seal(
                record(n),
                entry_id=f"aud_{n:04d}",
                seq=n + 1,
                occurred_at=T0 + timedelta(seconds=n),
                prev_hash=entries[-1].hash if entries else GENESIS_HASH,
            )
        )
    return entries


# --------------------------------------------------------------------------- the chain


def test_the_canonical_form_and_hash_never_change() -> None:
    """Stored chains depend on these exact bytes: a change here breaks every chain written."""
    entry = seal(
        record(1, after={"fee": 2.0, "ratio": 0.25, "name": "Zürich", "z": None, "a": [1]}),
        entry_id="aud_01",
        seq=7,
        occurred_at=datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC),
        prev_hash="ab" * 32,
    )
    assert canonical_bytes(entry) == (
        b'{"action":"tenant.update","actor_id":"user_1","actor_role":"org:admin",'
        b'"after":{"a":[1],"fee":2,"name":"Z\\u00fcrich","ratio":0.25,"z":null},'
        b'"before":{"name":"Old"},"case_id":null,"chain":"tenant:tenant-a",'
        b'"event_type":"ADMIN_TENANT_UPDATE","id":"aud_01",'
        b'"occurred_at":"2026-03-01T09:30:15.123456Z","patient_id":null,"request_id":"req-1",'
        b'"resource_id":"tenant-a","resource_type":"tenant","tenant_id":"tenant-a","v":1}'
    )
    assert entry.hash == "0967c129ad57927ad6e370cda0c044348d74be96cebf51c183e86fa7af2c63a7"


def test_every_field_is_covered_by_the_hash() -> None:
    (entry,) = chain(1)
    changes: dict[str, Any] = {
        "id": "aud_other",
        "seq": 2,
        "occurred_at": entry.occurred_at + timedelta(microseconds=1),
        "tenant_id": "tenant-b",
        "actor_id": "user_2",
        "actor_role": None,
        "action": "tenant.create",
        "event_type": "X",
        "resource_type": "x",
        "resource_id": None,
        "case_id": "case-1",
        "patient_id": "pat-1",
        "request_id": None,
        "before": None,
        "after": {"name": "New 0 "},
        "prev_hash": "1" * 64,
    }
    for name, value in changes.items():
        assert entry_hash(replace(entry, **{name: value})) != entry.hash, name


def test_the_verifier_reports_the_first_break_of_each_kind() -> None:
    entries = chain(6)
    swapped = [*entries[:2], entries[3], entries[2], *entries[4:]]
    relinked = [*entries[:3], replace(entries[3], prev_hash=entries[1].hash), *entries[4:]]
    edited = [*entries[:4], replace(entries[4], actor_id="someone"), entries[5]]
    for sequence, seq, reason in (
        (swapped, 3, BreakReason.MISSING_ENTRIES),  # the first missing seq is named
        (relinked, 4, BreakReason.PREV_HASH_MISMATCH),
        (edited, 5, BreakReason.HASH_MISMATCH),
        (entries[:2] + entries[3:], 3, BreakReason.MISSING_ENTRIES),
    ):
        verifier = ChainVerifier("tenant:tenant-a")
        for entry in sequence:
            if not verifier.feed(entry):
                break
        result = verifier.finish(None)
        assert result.broken_at is not None
        assert (result.ok, result.broken_at.seq, result.broken_at.reason) == (False, seq, reason)


def sealed_chain(records: list[AuditRecord]) -> list[AuditEntry]:
    """Each record sealed after the one before, whatever its tenant: a chain as a forger who
    recomputes every hash would write it."""
    entries: list[AuditEntry] = []
    for n, r in enumerate(records):
        entries.append(
            seal(
                r,
                entry_id=f"aud_{n:04d}",
                seq=n + 1,
                occurred_at=T0 + timedelta(seconds=n),
                prev_hash=entries[-1].hash if entries else GENESIS_HASH,
            )
        )
    return entries


def verdict(
    entries: list[AuditEntry], head: ChainHead | None, seal_at: Seal | None = None
) -> ChainVerification:
    verifier = ChainVerifier("tenant:tenant-a", {seal_at.seq: seal_at} if seal_at else None)
    for entry in entries:
        verifier.feed(entry)
    return verifier.finish(head, latest_seal=seal_at)


def head_of(entries: list[AuditEntry]) -> ChainHead:
    return ChainHead(chain="tenant:tenant-a", seq=entries[-1].seq, hash=entries[-1].hash)


@settings(max_examples=60, deadline=None)
@given(length=st.integers(2, 9), data=st.data())
def test_a_chain_is_held_to_its_tenant_its_head_and_its_seals(
    length: int, data: st.DataObject
) -> None:
    """Each way a chain can disagree with what was recorded or sealed is reported at the first
    seq it touches, with its reason; an untouched chain checks out whole."""
    k = data.draw(st.integers(1, length), label="k")
    entries = sealed_chain([record(n) for n in range(length)])
    untouched = verdict(entries, head_of(entries))
    assert (untouched.ok, untouched.entries_checked, untouched.head_seq) == (True, length, length)

    def broken(result: ChainVerification) -> tuple[int, BreakReason] | None:
        assert result.ok is (result.broken_at is None)
        return (result.broken_at.seq, result.broken_at.reason) if result.broken_at else None

    # Another tenant's entry planted at k, every hash recomputed around it.
    planted = sealed_chain(
        [record(n, "tenant-b" if n == k - 1 else "tenant-a") for n in range(length)]
    )
    assert broken(verdict(planted, head_of(planted))) == (k, BreakReason.HASH_MISMATCH)

    # The recorded head moved back to k - 1: the links after it are found.
    rolled_back = ChainHead(
        chain="tenant:tenant-a",
        seq=k - 1,
        hash=entries[k - 2].hash if k > 1 else GENESIS_HASH,
    )
    assert broken(verdict(entries, rolled_back)) == (k, BreakReason.LINKS_BEYOND_HEAD)
    assert verdict(entries, rolled_back).head_seq == length

    # The entries from k on deleted, the recorded head left where it was.
    assert broken(verdict(entries[: k - 1], head_of(entries))) == (k, BreakReason.MISSING_ENTRIES)

    # A head whose hash is not the last link's.
    forged_head = ChainHead(chain="tenant:tenant-a", seq=length, hash="f" * 64)
    assert broken(verdict(entries, forged_head)) == (length, BreakReason.HEAD_MISMATCH)

    # A checkpoint sealed another hash at k (the chain was re-sealed since).
    other = Seal(seq=k, hash="e" * 64, checkpoint_seq=3)
    result = verdict(entries, head_of(entries), other)
    assert broken(result) == (k, BreakReason.CHECKPOINT_MISMATCH)
    assert result.broken_at is not None
    assert result.broken_at.checkpoint_seq == 3

    # A checkpoint sealed the chain up to k; the chain now ends before it.
    sealed = Seal(seq=k, hash=entries[k - 1].hash, checkpoint_seq=2)
    truncated = entries[: k - 1]
    head = head_of(truncated) if truncated else None
    result = verdict(truncated, head, sealed)
    assert broken(result) == (k, BreakReason.TRUNCATED)
    assert result.broken_at is not None
    assert result.broken_at.checkpoint_seq == 2

    # Sealed up to k and whole: the entries after the seal are the unsealed ones.
    result = verdict(entries, head_of(entries), sealed)
    assert (result.ok, result.sealed_seq, result.unsealed_entries) == (True, k, length - k)


@given(
    value=st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=5), children, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_a_json_round_trip_of_the_stored_values_keeps_the_hash(value: Any) -> None:
    """What a database hands back (JSON re-parsed) hashes like what was written."""
    entry = seal(record(1, after={"v": value}), entry_id="a", seq=1, occurred_at=T0, prev_hash="0")
    assert entry.after is not None
    reread = replace(entry, after=json.loads(json.dumps(entry.after)))
    assert entry_hash(reread) == entry.hash


_TEXT = st.none() | st.text(max_size=8)


@given(
    text=st.fixed_dictionaries(
        {
            "tenant_id": _TEXT,
            "actor_id": st.text(max_size=8),
            "actor_role": _TEXT,
            "action": st.text(max_size=8),
            "case_id": _TEXT,
            "patient_id": _TEXT,
            "request_id": _TEXT,
            "resource_id": _TEXT,
        }
    ),
    before=st.none() | st.dictionaries(st.text(max_size=4), st.integers() | st.text(), max_size=3),
    offset=st.integers(min_value=-12 * 60, max_value=14 * 60),
)
def test_the_canonical_form_is_sorted_compact_ascii_json(
    text: dict[str, Any], before: dict[str, Any] | None, offset: int
) -> None:
    """The definition the fast encoder must equal: `json.dumps` of the content with `v` and
    `chain`, keys sorted, no whitespace, ASCII only; the time as UTC with microseconds."""
    at = (T0 + timedelta(microseconds=offset * 997)).astimezone(timezone(timedelta(minutes=offset)))
    entry = seal(
        record(1, before=before, **text),
        entry_id="aud_x",
        seq=1,
        occurred_at=at,
        prev_hash=GENESIS_HASH,
    )
    body = {name: getattr(entry, name) for name in CONTENT_FIELDS}
    body |= {"v": 1, "chain": entry.chain, "occurred_at": _utc_text(entry.occurred_at)}
    expected = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert canonical_bytes(entry) == expected.encode("ascii")
    verifier = ChainVerifier(entry.chain)
    row = tuple(getattr(entry, name) for name in ROW_FIELDS)
    assert verifier.feed_row(row), verifier.broken


def _utc_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------- cursors


def test_a_cursor_round_trips_only_under_its_own_filters() -> None:
    position = AuditPosition(occurred_at=T0 + timedelta(microseconds=17), id="aud_X")
    audit_filter = AuditFilter(tenant_id="tenant-a", action="tenant.")
    token = encode_cursor(position, audit_filter)
    assert decode_cursor(token, audit_filter) == position
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    with pytest.raises(CursorInvalid, match="different set of filters"):
        decode_cursor(token, replace(audit_filter, tenant_id="tenant-b"))
    for bad in ("", token[:-3], token + "A", token.upper(), "ü" * 10, "A" * 1000):
        with pytest.raises(CursorInvalid):
            decode_cursor(bad, audit_filter)


# --------------------------------------------------------------------------- use cases


@pytest.fixture
def uow() -> InMemoryTransactions:
    return InMemoryTransactions(InMemoryStore(), ManualClock(T0), UlidGenerator())


async def append(uow: InMemoryTransactions, *records: AuditRecord) -> None:
    async with uow() as tx:
        for r in records:
            await tx.audit.append(r)
        await tx.commit()


def tenant_admin(tenant_id: str = "tenant-a") -> Principal:
    return Principal(
        user_id="user_t",
        org_id="org_t",
        role="org:admin",
        tenant_id=tenant_id,
        scope=Scope.TENANT,
        permissions=frozenset({Permission.AUDIT_READ, Permission.TENANT_MANAGE}),
    )


async def test_query_scopes_a_tenant_caller_and_refuses_other_tenants(
    uow: InMemoryTransactions,
) -> None:
    await append(uow, record(1), record(2, tenant_id="tenant-b"), record(3, tenant_id=None))
    use_case = QueryAuditLog(uow)
    page = await use_case.execute(tenant_admin(), AuditQuery())
    assert [e.tenant_id for e in page.entries] == ["tenant-a"]
    with pytest.raises(InsufficientPermission):
        await use_case.execute(tenant_admin(), AuditQuery(tenant_id="tenant-b"))
    with pytest.raises(InsufficientPermission):
        await VerifyAuditChain(uow).execute(
            tenant_admin(), VerifyAuditChainQuery(tenant_id="tenant-b")
        )
    manager = replace(tenant_admin(), permissions=frozenset({Permission.TENANT_MANAGE}))
    with pytest.raises(InsufficientPermission):
        await use_case.execute(manager, AuditQuery())
    assert len((await use_case.execute(OPERATOR, AuditQuery())).entries) == 3


async def test_query_names_every_bad_field(uow: InMemoryTransactions) -> None:
    with pytest.raises(ValidationFailed) as raised:
        await QueryAuditLog(uow).execute(
            OPERATOR,
            AuditQuery(limit=0, action="a b", actor_id="", from_date="soon", to_date="2026-99-01"),
        )
    assert [e.field for e in raised.value.errors] == [
        "limit",
        "action",
        "actor_id",
        "from_date",
        "to_date",
    ]


async def test_export_streams_every_entry_in_batches(uow: InMemoryTransactions) -> None:
    await append(uow, *(record(n) for n in range(10)), record(99, tenant_id="tenant-b"))
    export = await ExportAuditLog(uow, batch_size=3).execute(
        OPERATOR, AuditQuery(tenant_id="tenant-a")
    )
    batches = [list(b) async for b in export.batches()]
    assert export.total == 10
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    seqs = [e.seq for b in batches for e in b]
    assert seqs == list(range(10, 0, -1))


async def test_the_demo_history_is_written_once_by_the_use_cases_and_verifies(
    uow: InMemoryTransactions,
) -> None:
    await seed_demo_into(uow)
    async with uow() as tx:
        total = await tx.audit.count(AuditFilter())
    await seed_demo_into(uow)
    async with uow() as tx:
        assert await tx.audit.count(AuditFilter()) == total
        created = await tx.audit.count(AuditFilter(action="tenant.create"))
        grants = await tx.audit.count(AuditFilter(action="user_role.assign"))
        rebuilds = await tx.audit.count(AuditFilter(action="graph.rebuild"))
    assert (created, grants, rebuilds) == (len(DEMO_TENANTS), 7, 1)
    for demo in DEMO_TENANTS:
        result = await VerifyAuditChain(uow).execute(
            OPERATOR, VerifyAuditChainQuery(tenant_id=demo.tenant_id)
        )
        assert result.ok
        assert result.entries_checked >= 2
    assert (await VerifyAuditChain(uow).execute(OPERATOR, VerifyAuditChainQuery())).ok


# --------------------------------------------------------------------------- adminctl


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ADMIN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}")
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "keys" / "signing.pem"))
    assert main(["db", "upgrade"]) == 0
    assert main(["demo", "seed"]) == 0
    return tmp_path


def test_cli_query_pages_with_the_cursor(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["--json", "audit", "query", "--action", "user_role.", "--limit", "3"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert len(first["entries"]) == 3
    assert {e["action"] for e in first["entries"]} == {"user_role.assign"}
    args = ["--json", "audit", "query", "--action", "user_role.", "--limit", "3"]
    assert main([*args, "--cursor", first["next_cursor"]]) == 0
    second = json.loads(capsys.readouterr().out)
    assert not {e["id"] for e in first["entries"]} & {e["id"] for e in second["entries"]}
    assert main(["--json", "audit", "query", "--cursor", first["next_cursor"]]) == 2
    assert json.loads(capsys.readouterr().err)["errors"][0]["field"] == "cursor"


def test_cli_verify_exits_non_zero_on_a_broken_chain(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    capsys.readouterr()
    assert main(["--json", "audit", "verify", "--tenant-id", "apollo-chennai"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    db = sqlite3.connect(embedded / "admin.db")
    db.execute("DROP TRIGGER audit_log_no_update")
    db.execute(
        "UPDATE audit_log SET actor_id = 'x' WHERE id = (SELECT entry_id FROM audit_chain_links "
        "WHERE chain = 'tenant:apollo-chennai' AND seq = 3)"
    )
    db.commit()
    db.close()
    assert main(["audit", "verify", "--tenant-id", "apollo-chennai", "--no-progress"]) == 1
    assert "BROKEN" in capsys.readouterr().out
    assert main(["--json", "audit", "verify", "--tenant-id", "apollo-chennai"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["broken_at"]["seq"] == 3
    assert report["broken_at"]["reason"] == "hash_mismatch"
    assert main(["--json", "audit", "verify", "--all"]) == 1  # every chain, one broken
    every = json.loads(capsys.readouterr().out)
    assert [r["chain"] for r in every if not r["ok"]] == ["tenant:apollo-chennai"]
    assert len(every) > 1
    assert [r["chain"] for r in every] == sorted(r["chain"] for r in every)
    assert main(["audit", "verify", "--all", "--no-progress"]) == 1
    assert f"{len(every)} chains" in capsys.readouterr().out


def test_cli_export_streams_json_lines_and_csv(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["audit", "export", "--tenant-id", "bumrungrad-bangkok", "--no-progress"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines
    assert {line["tenant_id"] for line in lines} == {"bumrungrad-bangkok"}
    assert [line["seq"] for line in lines] == sorted((line["seq"] for line in lines), reverse=True)
    target = embedded / "export.csv"
    assert main(["audit", "export", "--format", "csv", "-o", str(target)]) == 0
    with target.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) > len(lines)
    assert rows[0]["occurred_at"].endswith("Z")
    assert len(rows[0]["hash"]) == 64
    with_after = next(r for r in rows if r["after"])
    assert isinstance(json.loads(with_after["after"]), dict)


def test_cli_export_files_are_readable_by_their_owner_only(embedded: Path) -> None:
    """An export holds whole chains: other users of the machine must not read it."""
    for extra in ([], ["--format", "csv"], ["--with-checkpoints"]):
        target = embedded / f"export-{len(extra)}"
        assert main(["audit", "export", "--no-progress", *extra, "-o", str(target)]) == 0
        assert target.stat().st_size > 0
        assert stat.S_IMODE(target.stat().st_mode) == 0o600, extra


def test_the_embedded_database_file_is_readable_by_its_owner_only(embedded: Path) -> None:
    """The SQLite file holds what an export does, and the doctors' and sessions' rows too:
    made by `db upgrade`, it and its write-ahead log are for their owner alone."""
    files = sorted(embedded.glob("admin.db*"))
    assert embedded / "admin.db" in files
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name


def test_cli_export_over_a_file_others_could_read_leaves_it_readable_by_its_owner_only(
    embedded: Path,
) -> None:
    """The file an export replaces does not lend it its permissions: an old export left
    world-readable, or a file made by hand, must not show the new one to other users."""
    for extra in ([], ["--with-checkpoints"]):
        target = embedded / f"shared-{len(extra)}.jsonl"
        target.write_text("an older export\n")
        target.chmod(0o644)
        assert main(["audit", "export", "--no-progress", *extra, "-o", str(target)]) == 0
        assert "an older export" not in target.read_text()
        assert stat.S_IMODE(target.stat().st_mode) == 0o600, extra
