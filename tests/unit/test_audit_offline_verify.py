"""An auditor verifies an export of whole chains with their checkpoints, holding nothing but
the public key: the untouched export verifies, each tampered variant does not."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from adapters.ed25519.keys import (
    Ed25519CheckpointKeys,
    Ed25519CheckpointSigner,
)
from adapters.memory.audit import InMemoryCheckpointSink, InProcessCheckpointLock
from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryTransactions
from adapters.system.runtime import UlidGenerator
from admin_core.audit.checkpoints import CheckpointIssue, PublicKey
from admin_core.audit.model import AuditRecord, BreakReason, CheckpointProblem, link, unlinked
from admin_core.audit.offline import ExportVerification, verify_export
from admin_core.audit.use_cases import (
    ExportSealedChains,
    SealedChainsQuery,
    WriteCheckpoint,
    WriteCheckpointCommand,
)
from admin_core.kernel.principal import Principal
from entrypoints.cli.main import main
from entrypoints.http.presenters.audit import entry_out
from tests.support.adminctl import ADMINCTL
from tests.support.clock import ManualClock

OPERATOR = Principal.operator("auditor-test")
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def record(n: int, tenant_id: str = "tenant-a") -> AuditRecord:
    return AuditRecord(
        tenant_id=tenant_id,
        actor_id="user_1",
        actor_role="org:admin",
        action="tenant.update",
        event_type="ADMIN_TENANT_UPDATE",
        resource_type="tenant",
        resource_id=f"res-{n}",
        before={"n": n - 1},
        after={"n": n, "when": "2026-03-01", "ratio": 0.5},
    )


class Log:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = ManualClock(T0, step=timedelta(seconds=1))
        self.uow = InMemoryTransactions(InMemoryStore(), self.clock, UlidGenerator())
        self.sink = InMemoryCheckpointSink()
        self.key_path = tmp_path / "checkpoint.pem"
        self.use_key(self.key_path)

    def use_key(self, path: Path) -> None:
        self.signer = Ed25519CheckpointSigner(path, create=True)
        self.keys = Ed25519CheckpointKeys([self.signer.public_key])

    async def append(self, *records: AuditRecord) -> None:
        async with self.uow() as tx:
            for r in records:
                await tx.audit.append(r)
            await tx.commit()

    async def checkpoint(self) -> None:
        writer = WriteCheckpoint(
            self.uow,
            signer=self.signer,
            keys=self.keys,
            sink=self.sink,
            lock=InProcessCheckpointLock(),
            clock=self.clock,
        )
        assert (await writer.execute(OPERATOR, WriteCheckpointCommand())).written

    async def export(self, tenant_id: str | None = None) -> list[dict[str, Any]]:
        export = await ExportSealedChains(self.uow).execute(
            OPERATOR, SealedChainsQuery(tenant_id=tenant_id)
        )
        lines: list[dict[str, Any]] = [
            {"checkpoint": json.loads(d)} async for d in export.checkpoints()
        ]
        async for batch in export.entries():
            lines += [msgspec.to_builtins(entry_out(e)) for e in batch]
        return lines


def check(lines: list[dict[str, Any]], *keys: PublicKey) -> ExportVerification:
    verifier = Ed25519CheckpointKeys(list(keys))
    return verify_export((json.dumps(line) for line in lines), verifier.verify)


@pytest.fixture
async def log(tmp_path: Path) -> Log:
    log = Log(tmp_path)
    await log.append(*(record(n) for n in range(1, 6)), record(1, tenant_id="tenant-b"))
    await log.checkpoint()
    await log.append(*(record(n) for n in range(6, 9)))
    await log.checkpoint()
    await log.append(record(9))  # after the latest checkpoint
    return log


def entries_of(lines: list[dict[str, Any]], chain: str = "tenant-a") -> list[dict[str, Any]]:
    return [line for line in lines if line.get("tenant_id") == chain]


async def test_an_untouched_export_verifies_and_says_what_each_checkpoint_covers(
    log: Log,
) -> None:
    result = check(await log.export(), log.signer.public_key)
    assert result.ok, result
    assert result.entries == 10
    chains = {c.chain: c for c in result.chains}
    assert (chains["tenant:tenant-a"].sealed_seq, chains["tenant:tenant-a"].unsealed_entries) == (
        8,
        1,
    )
    covers = [[(v.chain, v.through_seq, v.holds) for v in c.covers] for c in result.checkpoints]
    assert covers == [
        [("tenant:tenant-a", 5, True), ("tenant:tenant-b", 1, True)],
        [("tenant:tenant-a", 8, True), ("tenant:tenant-b", 1, True)],
    ]
    one = check(await log.export("tenant-a"), log.signer.public_key)
    assert one.ok
    assert [c.chains_not_exported for c in one.checkpoints] == [1, 1]


async def test_a_chain_taken_out_of_a_full_export_fails_it_when_every_chain_is_expected(
    log: Log,
) -> None:
    """Nothing in an export but its checkpoints is signed, so a file from which a whole chain
    was removed reads like an export of the other chains. The auditor who asked for every
    chain says so (`--all-chains`), and the checkpoint names the chain that is missing."""
    lines = await log.export()
    keys = Ed25519CheckpointKeys([log.signer.public_key])
    whole = verify_export((json.dumps(line) for line in lines), keys.verify, every_chain=True)
    assert whole.ok
    assert whole.missing_chains == ()
    without_b = [line for line in lines if line.get("tenant_id") != "tenant-b"]
    cut = verify_export((json.dumps(line) for line in without_b), keys.verify, every_chain=True)
    assert not cut.ok
    assert [(m.chain, m.through_seq, m.checkpoint_seq) for m in cut.missing_chains] == [
        ("tenant:tenant-b", 1, 2)
    ]
    partial = check(without_b, log.signer.public_key)  # an export of one tenant: fine
    assert partial.ok
    assert [m.chain for m in partial.missing_chains] == ["tenant:tenant-b"]


async def test_a_changed_entry_is_found(log: Log) -> None:
    lines = await log.export()
    entries_of(lines)[2]["after"]["n"] = 99
    result = check(lines, log.signer.public_key)
    assert not result.ok
    [broken] = [c.broken_at for c in result.chains if c.broken_at]
    assert (broken.seq, broken.reason) == (3, BreakReason.HASH_MISMATCH)
    assert [v.holds for c in result.checkpoints for v in c.covers if v.chain.endswith("-a")] == [
        False,
        False,
    ]


async def test_a_resealed_chain_is_found_at_the_first_sealed_head(log: Log) -> None:
    async with log.uow() as tx:
        chain = list(await tx.audit.read_chain("tenant:tenant-a", after_seq=0, limit=100))
    prev = chain[1].hash
    forged = []
    for i, entry in enumerate(chain[2:]):
        content = replace(entry, after={"n": 99}) if i == 0 else entry
        relinked = link(unlinked(content), seq=entry.seq, prev_hash=prev)
        forged.append(relinked)
        prev = relinked.hash
    lines = await log.export()
    wire = [msgspec.to_builtins(entry_out(e)) for e in [*chain[:2], *forged]]
    lines = [line for line in lines if line.get("tenant_id") != "tenant-a"] + wire
    result = check(lines, log.signer.public_key)
    [broken] = [c.broken_at for c in result.chains if c.broken_at]
    assert (broken.seq, broken.reason, broken.checkpoint_seq) == (
        5,
        BreakReason.CHECKPOINT_MISMATCH,
        1,
    )


async def test_a_truncated_chain_is_found(log: Log) -> None:
    lines = await log.export()
    cut = entries_of(lines)[6:]  # seq 7-9: 7 and 8 were sealed
    result = check([line for line in lines if line not in cut], log.signer.public_key)
    [broken] = [c.broken_at for c in result.chains if c.broken_at]
    assert (broken.seq, broken.reason, broken.checkpoint_seq) == (7, BreakReason.TRUNCATED, 2)


async def test_an_altered_missing_or_foreign_checkpoint_is_found(log: Log, tmp_path: Path) -> None:
    lines = await log.export()
    altered = json.loads(json.dumps(lines))
    altered[0]["checkpoint"]["heads"][0][1] = 4
    problem = check(altered, log.signer.public_key).checkpoint_problem
    assert problem is not None
    assert (problem.checkpoint_seq, problem.reason) == (1, CheckpointIssue.SIGNATURE_INVALID)

    problem = check(lines[1:], log.signer.public_key).checkpoint_problem
    assert problem is not None  # checkpoint 1 left out: 2 does not chain from the start
    assert (problem.checkpoint_seq, problem.reason) == (2, CheckpointIssue.CHAIN_BROKEN)

    stranger = Ed25519CheckpointSigner(tmp_path / "stranger.pem", create=True).public_key
    problem = check(lines, stranger).checkpoint_problem
    assert problem is not None
    assert problem.reason == CheckpointIssue.UNKNOWN_KEY

    no_checkpoints = check([line for line in lines if "checkpoint" not in line])
    assert not no_checkpoints.ok
    assert no_checkpoints.checkpoint_problem is not None


async def test_checkpoints_signed_before_a_key_rotation_still_verify(
    log: Log, tmp_path: Path
) -> None:
    old = log.signer.public_key
    log.use_key(tmp_path / "new.pem")
    log.keys = Ed25519CheckpointKeys([log.signer.public_key, old])
    await log.append(record(10))
    await log.checkpoint()
    lines = await log.export()
    assert check(lines, log.signer.public_key, old).ok
    problem = check(lines, log.signer.public_key).checkpoint_problem
    assert problem is not None
    assert (problem.checkpoint_seq, problem.reason) == (1, CheckpointIssue.UNKNOWN_KEY)


def test_adminctl_exports_with_checkpoints_and_verifies_offline_with_an_empty_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [n for n in os.environ if n.startswith("ADMIN_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ADMIN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}")
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "keys" / "signing.pem"))
    monkeypatch.setenv("ADMIN_DEMO_SEED", "false")
    assert main(["db", "upgrade"]) == 0
    assert main(["graph", "rebuild"]) == 0  # writes a platform audit entry
    assert main(["audit", "checkpoint"]) == 0
    capsys.readouterr()
    assert main(["audit", "public-key"]) == 0
    (tmp_path / "audit.pub").write_text(capsys.readouterr().out)
    export = tmp_path / "audit.jsonl"
    assert main(["audit", "export", "--with-checkpoints", "--no-progress", "-o", str(export)]) == 0
    assert export.read_text().startswith('{"checkpoint":')

    def offline(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ADMINCTL), *args],
            env={},  # no setting, no database: the file and the key
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = offline("audit", "verify-export", str(export), "--public-key", "audit.pub")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "checkpoint 1 trusted" in done.stdout
    every = offline(
        "audit", "verify-export", str(export), "--public-key", "audit.pub", "--all-chains"
    )
    assert every.returncode == 0, every.stdout + every.stderr
    empty = tmp_path / "nothing.jsonl"
    empty.write_text(export.read_text().splitlines()[0] + "\n")  # the checkpoint alone
    none = offline(
        "audit", "verify-export", str(empty), "--public-key", "audit.pub", "--all-chains"
    )
    assert none.returncode == 1, none.stdout
    assert "MISSING" in none.stdout
    as_json = offline("--json", "audit", "verify-export", str(export), "--public-key", "audit.pub")
    assert json.loads(as_json.stdout)["ok"] is True
    lines = export.read_text().splitlines()
    first = json.loads(lines[0])
    first["checkpoint"]["created_at"] = "2020-01-01T00:00:00.000000Z"
    export.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    done = offline("audit", "verify-export", str(export), "--public-key", "audit.pub")
    assert done.returncode == 1, done.stdout
    assert "checkpoint_signature_invalid" in done.stdout
    assert not (tmp_path / "var").exists()


@pytest.mark.parametrize("as_json", [False, True], ids=["pem", "key-set"])
def test_audit_public_key_writes_the_file_it_is_given_in_either_form(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    as_json: bool,
) -> None:
    """`-o FILE` is honoured with `--json` too (the key set, not stdout), and `verify-export`
    reads what was written."""
    for name in [n for n in os.environ if n.startswith("ADMIN_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ADMIN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}")
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "keys" / "signing.pem"))
    monkeypatch.setenv("ADMIN_DEMO_SEED", "false")
    assert main(["db", "upgrade"]) == 0
    assert main(["graph", "rebuild"]) == 0
    assert main(["audit", "checkpoint"]) == 0
    export = tmp_path / "audit.jsonl"
    assert main(["audit", "export", "--with-checkpoints", "--no-progress", "-o", str(export)]) == 0
    capsys.readouterr()
    key_file = tmp_path / "audit.pub"
    flag = ["--json"] if as_json else []
    assert main([*flag, "audit", "public-key", "-o", str(key_file)]) == 0
    assert capsys.readouterr().out == ""
    if as_json:
        assert [key["crv"] for key in json.loads(key_file.read_text())["keys"]] == ["Ed25519"]
    else:
        assert "BEGIN PUBLIC KEY" in key_file.read_text()
    assert main(["audit", "verify-export", str(export), "--public-key", str(key_file)]) == 0


def test_checkpoints_of_a_rotated_key_not_yet_trusted_say_how_to_trust_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An operator who rotated the signing key and has not listed the former one is told
    which setting to fix, not only to treat it as tampering; listing it clears the report."""
    for name in [n for n in os.environ if n.startswith("ADMIN_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ADMIN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}")
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "keys" / "signing.pem"))
    monkeypatch.setenv("ADMIN_DEMO_SEED", "false")
    assert main(["db", "upgrade"]) == 0
    assert main(["graph", "rebuild"]) == 0
    assert main(["audit", "checkpoint"]) == 0
    former = tmp_path / "former.pub"
    assert main(["audit", "public-key", "-o", str(former)]) == 0
    new_key = tmp_path / "new.pem"
    Ed25519CheckpointSigner(new_key, create=True)
    monkeypatch.setenv("ADMIN_AUDIT_CHECKPOINT_KEY_FILE", str(new_key))
    capsys.readouterr()
    assert main(["audit", "verify", "--no-progress"]) == 1
    report = " ".join(capsys.readouterr().out.split())
    assert "checkpoint_key_unknown — signed by a key this configuration does not trust" in report
    assert "in ADMIN_AUDIT_CHECKPOINT_TRUSTED_KEYS" in report
    monkeypatch.setenv("ADMIN_AUDIT_CHECKPOINT_TRUSTED_KEYS", str(former))
    assert main(["audit", "verify", "--no-progress"]) == 0, capsys.readouterr().out


# --- what fails an export -----------------------------------------------------------------------


async def test_an_untrusted_checkpoint_fails_the_export_and_every_later_one_is_untrusted(
    log: Log,
) -> None:
    """Entries that check out do not make up for a checkpoint that does not: the export fails,
    and no checkpoint after the first untrusted one is trusted."""
    lines = await log.export()
    altered = json.loads(json.dumps(lines))
    altered[0]["checkpoint"]["heads"][0][1] = 4
    result = check(altered, log.signer.public_key)
    assert all(chain.ok for chain in result.chains)
    assert not result.ok
    assert [(c.seq, c.trusted, c.reason) for c in result.checkpoints] == [
        (1, False, CheckpointIssue.SIGNATURE_INVALID),
        (2, False, "after_an_untrusted_checkpoint"),
    ]
    assert [v.holds for c in result.checkpoints for v in c.covers] == [False] * 4


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda e: e.pop("request_id"), "fields differ"),
        (lambda e: e.update(colour="blue"), "fields differ"),
        (lambda e: e.update(occurred_at=e["occurred_at"].replace("Z", "").split("+")[0]), "zone"),
        (lambda e: e.update(seq=str(e["seq"])), "seq"),
        (lambda e: e.update(seq=float(e["seq"])), "seq"),
    ],
    ids=["a field missing", "a field added", "a time without zone", "seq text", "seq float"],
)
async def test_a_line_that_is_no_entry_fails_the_export_and_is_named(
    log: Log, change: Any, why: str
) -> None:
    lines = await log.export()
    first_entry = next(i for i, line in enumerate(lines) if "checkpoint" not in line)
    garbled = json.loads(json.dumps(lines))
    change(garbled[first_entry])
    result = check(garbled, log.signer.public_key)
    assert not result.ok
    assert result.bad_line is not None
    number, message = result.bad_line
    assert number == first_entry + 1
    assert why in message


async def test_an_export_without_checkpoints_fails_naming_no_checkpoint(log: Log) -> None:
    lines = [line for line in await log.export() if "checkpoint" not in line]
    result = check(lines, log.signer.public_key)
    assert all(chain.ok for chain in result.chains)
    assert not result.ok
    assert result.checkpoint_problem is not None
    assert (result.checkpoint_problem.checkpoint_seq, result.checkpoint_problem.reason) == (
        0,
        "no_checkpoints",
    )


@pytest.mark.parametrize(
    ("changed_seq", "holds"),
    [
        (5, [False, False]),  # the head checkpoint 1 sealed
        (6, [True, False]),  # the first entry after it
        (9, [True, True]),  # after the latest checkpoint: no checkpoint covers it
    ],
)
async def test_a_checkpoint_holds_exactly_when_the_chain_is_intact_through_its_head(
    log: Log, changed_seq: int, holds: list[bool]
) -> None:
    lines = await log.export()
    entries_of(lines)[changed_seq - 1]["after"]["n"] = 99
    result = check(lines, log.signer.public_key)
    assert not result.ok
    covers = [v.holds for c in result.checkpoints for v in c.covers if v.chain.endswith("-a")]
    assert covers == holds
    assert [v.holds for c in result.checkpoints for v in c.covers if v.chain.endswith("-b")] == [
        True,
        True,
    ]


async def test_a_checkpoint_is_the_documented_payload_signed_so_any_ed25519_tool_checks_it(
    log: Log,
) -> None:
    """An auditor with a verifier of their own rebuilds the signed payload from the published
    document (every field but `signature`, canonical JSON) and checks it with the public key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    checkpoints = [line["checkpoint"] for line in await log.export() if "checkpoint" in line]
    public = Ed25519PublicKey.from_public_bytes(log.signer.public_key.raw)
    previous = "0" * 64
    for seq, document in enumerate(checkpoints, start=1):
        body = {k: v for k, v in document.items() if k != "signature"}
        assert body["type"] == "admin-core/audit-checkpoint"
        assert (body["v"], body["seq"], body["prev_hash"]) == (1, seq, previous)
        assert body["created_at"].endswith("Z")
        assert body["key_id"] == hashlib.sha256(log.signer.public_key.raw).hexdigest()[:16]
        assert body["heads"] == sorted(body["heads"])
        payload = json.dumps(body, sort_keys=True, separators=(",", ":")).encode("ascii")
        signature = document["signature"]
        public.verify(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)), payload)
        previous = hashlib.sha256(payload).hexdigest()
    first = checkpoints[0]["heads"]
    assert first == [["tenant:tenant-a", 5, first[0][2]], ["tenant:tenant-b", 1, first[1][2]]]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=70),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


async def test_a_checkpoint_field_holding_any_other_json_value_fails_the_export_without_a_crash(
    log: Log,
) -> None:
    lines = await log.export()
    fields = sorted(lines[0]["checkpoint"])

    @settings(max_examples=300, deadline=None)
    @given(field=st.sampled_from(fields), value=JSON_VALUES)
    def altered(field: str, value: Any) -> None:
        changed = json.loads(json.dumps(lines))
        assume(changed[0]["checkpoint"][field] != value)
        changed[0]["checkpoint"][field] = value
        result = check(changed, log.signer.public_key)
        assert not result.ok
        assert result.checkpoint_problem is not None
        # Named by its place in the file: an unsigned `seq` points nowhere else.
        assert result.checkpoint_problem.checkpoint_seq == 1, result.checkpoint_problem

    altered()


async def test_a_checkpoint_whose_seq_was_altered_is_named_by_its_place_not_by_that_seq(
    log: Log,
) -> None:
    """The first checkpoint's `seq` rewritten to 2: its signature fails, and the problem is
    the first checkpoint's, not that of the real checkpoint 2 after it. A checkpoint taken out
    of the file is still found where the chain breaks: at the signed checkpoint after it."""
    lines = await log.export()
    assert [line["checkpoint"]["seq"] for line in lines if "checkpoint" in line][:2] == [1, 2]
    changed = json.loads(json.dumps(lines))
    changed[0]["checkpoint"]["seq"] = 2
    result = check(changed, log.signer.public_key)
    assert not result.ok
    assert result.checkpoint_problem == CheckpointProblem(
        checkpoint_seq=1, reason=CheckpointIssue.SIGNATURE_INVALID
    )

    without_first = [line for line in lines if line.get("checkpoint", {}).get("seq") != 1]
    result = check(without_first, log.signer.public_key)
    assert result.checkpoint_problem == CheckpointProblem(
        checkpoint_seq=2, reason=CheckpointIssue.CHAIN_BROKEN
    )
