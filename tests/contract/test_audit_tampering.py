"""An attacker with the database's owner (or superuser) rights against the audit log and its
signed checkpoints, on SQLite and PostgreSQL (docs/adr/0056-signed-audit-checkpoints.md).

Each test edits the database with direct SQL, as such an attacker would, and checks what the
database refuses, or where `verify` finds the edit: a careless edit by its broken link, a
careful re-seal by the checkpoint that sealed the entries, an edit after the latest
checkpoint as within the unsealed window.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from adapters.ed25519.keys import Ed25519CheckpointKeys, Ed25519CheckpointSigner
from adapters.filesystem.checkpoints import DirectoryCheckpointSink
from adapters.memory.audit import InProcessCheckpointLock
from adapters.sql.audit import PostgresCheckpointLock
from adapters.sql.engine import create_engine
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import UlidGenerator
from admin_core.audit.checkpoints import CheckpointIssue, TrustedCheckpoints
from admin_core.audit.errors import AuditChainBroken
from admin_core.audit.model import AuditEntry, AuditRecord, BreakReason, chain_of, link, unlinked
from admin_core.audit.ports import CheckpointLock
from admin_core.audit.use_cases import (
    VerifyAuditChain,
    VerifyAuditChainQuery,
    WriteCheckpoint,
    WriteCheckpointCommand,
)
from admin_core.kernel.principal import Principal
from admin_core.kernel.transaction import Transactions
from tests.support.audit import tenant_update as record
from tests.support.clock import ManualClock
from tests.support.databases import database, postgres_urls
from tests.support.services import service_url

OPERATOR = Principal.operator("attacker-test")
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TENANT = "tenant-a"
CHAIN = chain_of(TENANT)
#: What the triggers of migrations 0002, 0005 and 0008 say (not a constraint's own error).
REFUSALS = r"cannot be replaced|append-only|one linked step|follow its chain head|cannot be deleted"
TABLES = ("audit_log", "audit_chain_links", "audit_chain_heads", "audit_checkpoints")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@dataclass
class Attacker:
    """Direct SQL on the database, bypassing the application; `?` placeholders, `?j` for
    JSON values."""

    backend: str
    path: Path

    async def run(
        self, statements: Sequence[tuple[str, Sequence[Any]]], *, without_triggers: bool = False
    ) -> None:
        if self.backend == "sqlite":
            self._sqlite(statements, without_triggers)
        else:
            await self._postgres(statements, without_triggers)

    def _sqlite(self, statements: Sequence[tuple[str, Sequence[Any]]], drop: bool) -> None:
        connection = sqlite3.connect(self.path)
        try:
            if drop:  # the owner of the file can drop the triggers and leave them dropped
                names = connection.execute(
                    "select name from sqlite_master where type = 'trigger'"
                ).fetchall()
                for (name,) in names:
                    connection.execute(f"DROP TRIGGER {name}")
            for statement, params in statements:
                connection.execute(statement.replace("?j", "?"), tuple(params))
            connection.commit()
        finally:
            connection.close()

    async def _postgres(self, statements: Sequence[tuple[str, Sequence[Any]]], drop: bool) -> None:
        """As the superuser (triggers enabled ALWAYS fire even for replication sessions: they
        have to be switched off, which only the owner or a superuser can do)."""
        connection = await asyncpg.connect(dsn(service_url("POSTGRES_SUPER")))
        try:
            async with connection.transaction():
                modes = await connection.fetch(
                    "select c.relname, t.tgname, t.tgenabled::text as mode from pg_trigger t "
                    "join pg_class c on c.oid = t.tgrelid where not t.tgisinternal "
                    "and c.relname = any($1::text[]) and t.tgenabled <> 'D'",
                    list(TABLES),
                )
                if drop:
                    for row in modes:
                        await connection.execute(
                            f'ALTER TABLE {row["relname"]} DISABLE TRIGGER "{row["tgname"]}"'
                        )
                for statement, params in statements:
                    await connection.execute(_numbered(statement), *params)
                if drop:  # restored so later tests start from the migrated schema
                    enable = {"O": "ENABLE", "A": "ENABLE ALWAYS", "R": "ENABLE REPLICA"}
                    for row in modes:
                        await connection.execute(
                            f"ALTER TABLE {row['relname']} {enable[row['mode']]} "
                            f'TRIGGER "{row["tgname"]}"'
                        )
        finally:
            await connection.close()

    async def refused(self, statement: str, *params: Any) -> None:
        """The statement fails below the application (as the owner, triggers in place)."""
        if self.backend == "sqlite":
            connection = sqlite3.connect(self.path)
            try:
                with pytest.raises(sqlite3.IntegrityError, match=REFUSALS):
                    connection.execute(statement.replace("?j", "?"), params)
            finally:
                connection.close()
            return
        connection = await asyncpg.connect(dsn(service_url("POSTGRES_OWNER")))
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):  # the triggers' answer
                await connection.execute(_numbered(statement), *params)
        finally:
            await connection.close()


def _numbered(statement: str) -> str:
    counter = iter(range(1, 1000))

    def number(match: re.Match[str]) -> str:
        n = next(counter)
        return f"${n}::jsonb" if match.group(0) == "?j" else f"${n}"

    return re.sub(r"\?j|\?", number, statement)


@dataclass
class Sealed:
    """A database with audited chains, a checkpoint signer, a directory sink."""

    uow: Transactions[Any]
    attacker: Attacker
    sink: DirectoryCheckpointSink
    keys: Ed25519CheckpointKeys
    writer: WriteCheckpoint

    async def append(self, *records: AuditRecord) -> None:
        async with self.uow() as tx:
            for r in records:
                await tx.audit.append(r)
            await tx.commit()

    async def chain(self) -> list[AuditEntry]:
        async with self.uow() as tx:
            return list(await tx.audit.read_chain(CHAIN, after_seq=0, limit=10**6))

    async def checkpoint(self) -> int:
        written = await self.writer.execute(OPERATOR, WriteCheckpointCommand())
        assert written.written
        assert written.checkpoint is not None
        return written.checkpoint.seq

    async def verify(
        self,
        tenant_id: str = TENANT,
        batch_size: int = 3,
        trusted: TrustedCheckpoints | None = None,
    ) -> Any:
        """A verify with nothing remembered, unless given what an earlier one trusted."""
        return await VerifyAuditChain(
            self.uow, batch_size=batch_size, keys=self.keys, sink=self.sink, trusted=trusted
        ).execute(OPERATOR, VerifyAuditChainQuery(tenant_id=tenant_id))

    async def reseal_from(self, index: int) -> list[AuditEntry]:
        """Change entry `index` (0-based) and recompute its hash and every later link with
        the project's own functions, then move the head: a chain that links perfectly."""
        entries = await self.chain()
        prev = entries[index - 1].hash if index else "0" * 64
        rewritten: list[AuditEntry] = []
        for i, entry in enumerate(entries[index:]):
            content = replace(entry, after={"fee_minor": 1}) if i == 0 else entry
            relinked = link(unlinked(content), seq=entry.seq, prev_hash=prev)
            rewritten.append(relinked)
            prev = relinked.hash
        statements: list[tuple[str, Sequence[Any]]] = [
            (
                "UPDATE audit_log SET after = ?j WHERE id = ?",
                (json.dumps({"fee_minor": 1}), entries[index].id),
            )
        ]
        statements += [
            (
                "UPDATE audit_chain_links SET prev_hash = ?, hash = ? WHERE entry_id = ?",
                (e.prev_hash, e.hash, e.id),
            )
            for e in rewritten
        ]
        last = rewritten[-1]
        statements.append(
            (
                "UPDATE audit_chain_heads SET hash = ?, prev_hash = ? WHERE chain = ?",
                (last.hash, last.prev_hash, CHAIN),
            )
        )
        await self.attacker.run(statements, without_triggers=True)
        return rewritten


async def _sealed(backend: str, tmp_path: Path) -> AsyncIterator[Sealed]:
    clock = ManualClock(T0, step=timedelta(seconds=1))
    async with database(backend, tmp_path, clock=clock) as uow:
        signer = Ed25519CheckpointSigner(tmp_path / "keys" / "checkpoint.pem", create=True)
        keys = Ed25519CheckpointKeys([signer.public_key])
        sink = DirectoryCheckpointSink(tmp_path / "sink")
        lock: CheckpointLock = (
            PostgresCheckpointLock(uow.engine)  # type: ignore[attr-defined]
            if backend == "postgres"
            else InProcessCheckpointLock()
        )
        writer = WriteCheckpoint(uow, signer=signer, keys=keys, sink=sink, lock=lock, clock=clock)
        yield Sealed(
            uow=uow,
            attacker=Attacker(backend, tmp_path / "admin_core.db"),
            sink=sink,
            keys=keys,
            writer=writer,
        )


@pytest.fixture
async def sealed(backend: str, tmp_path: Path) -> AsyncIterator[Sealed]:
    async for value in _sealed(backend, tmp_path):
        yield value


async def ten_sealed_then_two(sealed: Sealed) -> list[AuditEntry]:
    """Entries 1-10 sealed by checkpoint 1, entries 11-12 after it."""
    await sealed.append(*(record(n) for n in range(1, 11)))
    await sealed.append(record(99, tenant_id="tenant-other"))
    assert await sealed.checkpoint() == 1
    await sealed.append(record(11), record(12))
    result = await sealed.verify()
    assert (result.ok, result.sealed_seq, result.unsealed_entries) == (True, 10, 2)
    return await sealed.chain()


# --------------------------------------------------------------------------- refused outright


async def test_replace_and_upsert_cannot_change_an_entry_a_link_a_head_or_a_checkpoint(
    sealed: Sealed, backend: str
) -> None:
    entries = await ten_sealed_then_two(sealed)
    e = entries[3]
    a = sealed.attacker
    if backend == "sqlite":
        await a.refused(
            "INSERT OR REPLACE INTO audit_log (id, chain, occurred_at, actor_id, action, "
            "event_type, resource_type) VALUES (?, ?, '2026-01-01 00:00:00.000000', 'x', "
            "'tenant.update', 'E', 'tenant')",
            e.id,
            CHAIN,
        )
        await a.refused(
            "REPLACE INTO audit_chain_links (chain, seq, entry_id, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?)",
            CHAIN,
            e.seq,
            e.id,
            e.prev_hash,
            "f" * 64,
        )
        await a.refused(
            "INSERT OR REPLACE INTO audit_chain_heads (chain, seq, hash, prev_hash) "
            "VALUES (?, 8, ?, ?)",
            CHAIN,
            entries[7].hash,
            entries[6].hash,
        )
        await a.refused("INSERT OR REPLACE INTO audit_checkpoints SELECT * FROM audit_checkpoints")
    await a.refused(
        "INSERT INTO audit_log (id, chain, occurred_at, actor_id, action, event_type, "
        "resource_type) SELECT id, chain, occurred_at, actor_id, action, event_type, "
        "resource_type FROM audit_log WHERE id = ? ON CONFLICT (id) DO UPDATE SET actor_id = 'x'",
        e.id,
    )
    await a.refused(
        "INSERT INTO audit_chain_links (chain, seq, entry_id, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (chain, seq) DO UPDATE SET hash = excluded.hash",
        CHAIN,
        e.seq,
        e.id,
        e.prev_hash,
        "f" * 64,
    )
    # a head moves forward one linked step at a time: not back, not two, not to a forged hash
    for seq, head_hash in ((10, entries[9].hash), (14, "f" * 64), (12, entries[11].hash)):
        await a.refused(
            "UPDATE audit_chain_heads SET seq = ?, hash = ? WHERE chain = ?",
            seq,
            head_hash,
            CHAIN,
        )
    await a.refused("DELETE FROM audit_chain_heads WHERE chain = ?", CHAIN)
    await a.refused("UPDATE audit_checkpoints SET document = 'x'")
    await a.refused("DELETE FROM audit_checkpoints")
    assert (await sealed.verify()).ok


# --------------------------------------------------------------------------- re-seals


async def test_a_full_reseal_before_a_checkpoint_is_caught_at_the_sealed_head(
    sealed: Sealed,
) -> None:
    await ten_sealed_then_two(sealed)
    await sealed.reseal_from(4)  # entry 5 changed; 5..12 relinked; head moved
    result = await sealed.verify()
    assert not result.ok
    assert result.broken_at is not None
    assert result.broken_at.reason is BreakReason.CHECKPOINT_MISMATCH
    assert (result.broken_at.seq, result.broken_at.checkpoint_seq) == (10, 1)
    assert (result.head_seq, result.sealed_seq) == (12, 10)
    assert (await sealed.verify("tenant-other")).ok


#: Checkpoints 1-7 seal entries 2, 4, 6, 6, 8, 10, 12 of the chain.
SEALED_BY = {2: 1, 4: 2, 6: 3, 8: 5, 10: 6, 12: 7}


async def verify_both_ways(sealed: Sealed, trusted: TrustedCheckpoints) -> Any:
    """A verify that remembers the checkpoints in `trusted`, checked to answer as one that
    checks them all."""
    remembered = await sealed.verify(trusted=trusted)
    assert remembered == await sealed.verify()
    return remembered


async def sealed_in_pairs(sealed: Sealed) -> None:
    for pair in range(6):
        await sealed.append(record(2 * pair + 1), record(2 * pair + 2))
        await sealed.append(record(pair + 1, tenant_id="tenant-other"))
        await sealed.checkpoint()
        if pair == 2:
            await sealed.checkpoint()  # seals the same heads again


@pytest.mark.parametrize("changed", [2, 3, 5, 6, 8, 11, 12])
async def test_a_reseal_is_reported_at_the_earliest_seal_it_contradicts(
    sealed: Sealed, changed: int
) -> None:
    """The chain is held to its latest seal; where it fails, the earliest checkpoint whose
    seal it contradicts is found by bisection: the entry sealed next after the change, by
    the first checkpoint that sealed it."""
    await sealed_in_pairs(sealed)
    rewritten = await sealed.reseal_from(changed - 1)
    result = await sealed.verify()
    assert not result.ok
    broken = result.broken_at
    assert broken is not None
    assert broken.reason is BreakReason.CHECKPOINT_MISMATCH
    seq = changed + changed % 2
    assert (broken.seq, broken.checkpoint_seq) == (seq, SEALED_BY[seq])
    assert broken.entry_id == rewritten[seq - changed].id
    assert (result.verified_seq, result.entries_checked) == (seq - 1, seq)
    assert (result.head_seq, result.sealed_seq, result.checkpoint_seq) == (12, 12, 7)


async def test_a_reseal_with_a_careless_edit_after_it_is_reported_at_the_earliest_seal(
    sealed: Sealed,
) -> None:
    """A re-seal from entry 3 and, later in the chain, an entry changed without relinking:
    the change checkpoint 2 contradicts comes first, so it is the break, and the entries it
    covers are not counted as verified."""
    await sealed_in_pairs(sealed)
    rewritten = await sealed.reseal_from(2)
    await sealed.attacker.run(
        [("UPDATE audit_log SET after = ?j WHERE id = ?", (json.dumps({"n": 2}), rewritten[7].id))],
        without_triggers=True,
    )
    result = await sealed.verify()
    broken = result.broken_at
    assert broken is not None
    assert (broken.seq, broken.reason, broken.checkpoint_seq) == (
        4,
        BreakReason.CHECKPOINT_MISMATCH,
        2,
    )
    assert broken.entry_id == rewritten[1].id
    assert (result.verified_seq, result.entries_checked) == (3, 4)


async def test_a_verify_that_remembers_checkpoints_answers_as_one_that_checks_them_all(
    sealed: Sealed,
) -> None:
    """Checkpoints checked once are not checked again; the latest of them is read again
    from both sides, and a change to it, or its loss, is reported as a full check would."""
    await sealed_in_pairs(sealed)
    trusted = TrustedCheckpoints()

    def both_agree() -> Any:
        return verify_both_ways(sealed, trusted)

    assert (await both_agree()).ok
    assert trusted.prefix is not None
    assert trusted.prefix.latest.seq == 7
    await sealed.append(record(13))
    await sealed.checkpoint()
    result = await both_agree()
    assert (result.ok, result.checkpoints_checked, result.sealed_seq) == (True, 8, 13)
    assert trusted.prefix.latest.seq == 8

    file = sealed.sink.path(8)
    published = file.read_bytes()
    file.chmod(0o644)
    file.write_bytes(published.replace(b'"v":1', b'"v":1 '))
    problem = (await both_agree()).checkpoint_problem
    assert (problem.checkpoint_seq, problem.reason) == (8, CheckpointIssue.SINK_DISAGREES)
    file.write_bytes(published)
    assert (await both_agree()).ok

    await sealed.attacker.run(
        [("UPDATE audit_checkpoints SET document = ? WHERE seq = 8", (published.decode() + " ",))],
        without_triggers=True,
    )
    problem = (await both_agree()).checkpoint_problem
    assert (problem.checkpoint_seq, problem.reason) == (8, CheckpointIssue.SINK_DISAGREES)
    await sealed.attacker.run(
        [("DELETE FROM audit_checkpoints WHERE seq = 8", ())], without_triggers=True
    )
    problem = (await both_agree()).checkpoint_problem
    assert (problem.checkpoint_seq, problem.reason) == (8, CheckpointIssue.MISSING_IN_DATABASE)
    assert trusted.prefix.latest.seq == 7

    await sealed.reseal_from(2)
    broken = (await both_agree()).broken_at
    assert broken is not None
    assert (broken.seq, broken.reason, broken.checkpoint_seq) == (
        4,
        BreakReason.CHECKPOINT_MISMATCH,
        2,
    )


async def test_a_reseal_after_the_latest_checkpoint_is_within_the_unsealed_window(
    sealed: Sealed,
) -> None:
    await ten_sealed_then_two(sealed)
    rewritten = await sealed.reseal_from(11)  # entry 12, after checkpoint 1
    result = await sealed.verify()
    assert result.ok  # the chain alone cannot tell: say so
    assert (result.sealed_seq, result.unsealed_entries) == (10, 2)
    assert rewritten[0].seq > result.sealed_seq
    # the next checkpoint seals what is there now; the window closes
    assert await sealed.checkpoint() == 2
    assert (await sealed.verify()).unsealed_entries == 0


# --------------------------------------------------------------------------- heads and tails


async def test_a_rolled_back_head_is_reported_and_appends_answer_audit_chain_broken(
    sealed: Sealed,
) -> None:
    entries = await ten_sealed_then_two(sealed)
    await sealed.attacker.run(
        [
            (
                "UPDATE audit_chain_heads SET seq = 10, hash = ?, prev_hash = ? WHERE chain = ?",
                (entries[9].hash, entries[8].hash, CHAIN),
            )
        ],
        without_triggers=True,
    )
    result = await sealed.verify()
    assert result.broken_at is not None
    assert (result.broken_at.seq, result.broken_at.reason) == (11, BreakReason.LINKS_BEYOND_HEAD)
    assert (result.head_seq, result.recorded_head_seq) == (12, 10)  # the real head
    with pytest.raises(AuditChainBroken) as refused:
        await sealed.append(record(13))
    assert refused.value.details == {"chain": CHAIN, "reason": "links_beyond_head"}
    await sealed.append(record(1, tenant_id="tenant-other"))  # other chains are unaffected
    assert len(await sealed.chain()) == 12  # nothing was repaired


async def test_a_tail_deleted_with_the_triggers_dropped_is_a_truncation(
    sealed: Sealed,
) -> None:
    entries = await ten_sealed_then_two(sealed)
    gone = [e.id for e in entries[8:]]  # entries 9-12, of which 9 and 10 are sealed
    marks = ", ".join("?" for _ in gone)
    await sealed.attacker.run(
        [
            (f"DELETE FROM audit_chain_links WHERE entry_id IN ({marks})", gone),
            (f"DELETE FROM audit_log WHERE id IN ({marks})", gone),
            (
                "UPDATE audit_chain_heads SET seq = 8, hash = ?, prev_hash = ? WHERE chain = ?",
                (entries[7].hash, entries[6].hash, CHAIN),
            ),
        ],
        without_triggers=True,
    )
    result = await sealed.verify()
    assert result.broken_at is not None
    assert (result.broken_at.seq, result.broken_at.reason) == (9, BreakReason.TRUNCATED)
    assert result.broken_at.checkpoint_seq == 1
    assert (result.head_seq, result.sealed_seq) == (8, 10)


async def test_an_entry_whose_document_no_parser_reads_is_reported_altered(
    sealed: Sealed,
) -> None:
    """A document nested deeper than a parser goes, written past the application (which never
    stores one): the entry reads as the text stored, a verify names it altered, and the chain
    still reads, instead of every read of it failing."""
    entries = await ten_sealed_then_two(sealed)
    deep = '{"fee_minor":' + "[" * 5_000 + "]" * 5_000 + "}"
    await sealed.attacker.run(
        [("UPDATE audit_log SET after = ?j WHERE id = ?", (deep, entries[4].id))],
        without_triggers=True,
    )
    result = await sealed.verify()
    assert result.broken_at is not None
    assert (result.broken_at.seq, result.broken_at.reason) == (5, BreakReason.HASH_MISMATCH)
    read = await sealed.chain()
    assert [e.id for e in read] == [e.id for e in entries]
    assert isinstance(read[4].after, str)


async def test_an_unsealed_tail_deleted_is_within_the_unsealed_window(sealed: Sealed) -> None:
    entries = await ten_sealed_then_two(sealed)
    gone = [entries[11].id]
    await sealed.attacker.run(
        [
            ("DELETE FROM audit_chain_links WHERE entry_id = ?", gone),
            ("DELETE FROM audit_log WHERE id = ?", gone),
            (
                "UPDATE audit_chain_heads SET seq = 11, hash = ?, prev_hash = ? WHERE chain = ?",
                (entries[10].hash, entries[9].hash, CHAIN),
            ),
        ],
        without_triggers=True,
    )
    result = await sealed.verify()
    assert (result.ok, result.head_seq, result.sealed_seq, result.unsealed_entries) == (
        True,
        11,
        10,
        1,
    )


# --------------------------------------------------------------------------- checkpoints


async def test_a_checkpoint_row_altered_or_deleted_is_reported(sealed: Sealed) -> None:
    await ten_sealed_then_two(sealed)
    assert await sealed.checkpoint() == 2
    async with sealed.uow() as tx:
        [(_, document)] = await tx.checkpoints.documents(after_seq=1, limit=1)
    sealed_head = rb'"tenant:tenant-a",12,"[0-9a-f]{64}"'
    forged = re.sub(sealed_head, b'"tenant:tenant-a",12,"' + b"f" * 64 + b'"', document)
    assert forged != document
    await sealed.attacker.run(
        [("UPDATE audit_checkpoints SET document = ? WHERE seq = 2", (forged.decode(),))],
        without_triggers=True,
    )
    result = await sealed.verify()
    assert not result.ok
    assert result.broken_at is None
    assert result.checkpoint_problem is not None
    assert (result.checkpoint_problem.checkpoint_seq, result.checkpoint_problem.reason) == (
        2,
        CheckpointIssue.SINK_DISAGREES,
    )
    assert result.checkpoint_seq == 1  # only the checkpoints before it are trusted
    # the attacker rewrites the sink's file too: the signature gives it away
    path = sealed.sink.path(2)
    path.chmod(0o644)
    path.write_bytes(forged)
    problem = (await sealed.verify()).checkpoint_problem
    assert problem is not None
    assert problem.reason == CheckpointIssue.SIGNATURE_INVALID
    # deleted from the database: the sink still has it
    await sealed.attacker.run(
        [("DELETE FROM audit_checkpoints WHERE seq = 2", ())], without_triggers=True
    )
    problem = (await sealed.verify()).checkpoint_problem
    assert problem is not None
    assert (problem.checkpoint_seq, problem.reason) == (2, CheckpointIssue.MISSING_IN_DATABASE)


async def test_a_checkpoint_deleted_in_the_middle_breaks_the_checkpoint_chain(
    sealed: Sealed,
) -> None:
    await ten_sealed_then_two(sealed)
    await sealed.checkpoint()
    await sealed.append(record(13))
    await sealed.checkpoint()
    await sealed.attacker.run(
        [("DELETE FROM audit_checkpoints WHERE seq = 2", ())], without_triggers=True
    )
    problem = (await sealed.verify()).checkpoint_problem
    assert problem is not None
    assert (problem.checkpoint_seq, problem.reason) == (2, CheckpointIssue.MISSING_IN_DATABASE)


async def test_a_checkpoint_file_altered_is_reported(sealed: Sealed) -> None:
    await ten_sealed_then_two(sealed)
    path = sealed.sink.path(1)
    path.chmod(0o644)
    path.write_bytes(path.read_bytes().replace(b'"v":1', b'"v":1 '))
    problem = (await sealed.verify()).checkpoint_problem
    assert problem is not None
    assert (problem.checkpoint_seq, problem.reason) == (1, CheckpointIssue.SINK_DISAGREES)
    path.unlink()
    problem = (await sealed.verify()).checkpoint_problem
    assert problem is not None
    assert (problem.checkpoint_seq, problem.reason) == (1, CheckpointIssue.MISSING_IN_SINK)


# --------------------------------------------------------------------------- single flight


@pytest.mark.postgres
async def test_checkpoints_are_single_flight_across_two_engines(tmp_path: Path) -> None:
    """Two replicas (two engines, two locks) writing checkpoints at once: one at a time holds
    the lock, no checkpoint number is written twice and the checkpoints chain."""
    app_url, _ = postgres_urls()
    async for one in _sealed("postgres", tmp_path):
        await one.append(*(record(n) for n in range(1, 4)))
        other_engine = create_engine(app_url)
        try:
            lock_a = PostgresCheckpointLock(one.uow.engine)  # type: ignore[attr-defined]
            lock_b = PostgresCheckpointLock(other_engine)
            async with lock_a.hold() as taken_a, lock_b.hold() as taken_b:
                assert (taken_a, taken_b) == (True, False)
            other = WriteCheckpoint(
                SqlTransactions(other_engine, ManualClock(T0), UlidGenerator()),
                signer=Ed25519CheckpointSigner(tmp_path / "keys" / "checkpoint.pem", create=False),
                keys=one.keys,
                sink=one.sink,
                lock=lock_b,
                clock=ManualClock(T0),
            )

            async def write(db: Sealed, writer: WriteCheckpoint, n: int) -> bool:
                if n % 2:
                    await db.append(record(100 + n))
                return (await writer.execute(OPERATOR, WriteCheckpointCommand())).written

            results = await asyncio.gather(
                *(write(one, one.writer if n % 2 else other, n) for n in range(12))
            )
        finally:
            await other_engine.dispose()
        written = sum(results)
        async with one.uow() as tx:
            seqs = [seq for seq, _ in await tx.checkpoints.documents(after_seq=0, limit=100)]
        assert seqs == list(range(1, written + 1))
        assert all(one.sink.path(seq).exists() for seq in seqs)
        result = await one.verify()
        assert (result.ok, result.checkpoints_checked) == (True, written)


# --------------------------------------------------------------------------- every chain


async def verify_all(sealed: Sealed) -> dict[str, Any]:
    results = await VerifyAuditChain(
        sealed.uow, batch_size=3, keys=sealed.keys, sink=sealed.sink
    ).execute_all(OPERATOR, concurrency=2)
    return {result.chain: result for result in results}


async def test_every_chain_is_verified_and_only_the_edited_one_is_broken(sealed: Sealed) -> None:
    entries = await ten_sealed_then_two(sealed)
    await sealed.append(record(1, tenant_id=None))  # the platform chain
    clean = await verify_all(sealed)
    assert sorted(clean) == sorted({CHAIN, chain_of("tenant-other"), chain_of(None)})
    assert all(result.ok for result in clean.values())
    assert {c: r.entries_checked for c, r in clean.items()} == {
        CHAIN: 12,
        chain_of("tenant-other"): 1,
        chain_of(None): 1,
    }
    await sealed.attacker.run(
        [("UPDATE audit_log SET action = ? WHERE id = ?", ("tenant.create", entries[4].id))],
        without_triggers=True,
    )
    edited = await verify_all(sealed)
    assert [c for c, r in edited.items() if not r.ok] == [CHAIN]
    broken = edited[CHAIN].broken_at
    assert broken is not None
    assert (broken.seq, broken.reason) == (5, BreakReason.HASH_MISMATCH)


async def test_a_sealed_chain_whose_head_was_deleted_is_still_verified(sealed: Sealed) -> None:
    await ten_sealed_then_two(sealed)
    await sealed.attacker.run(
        [
            ("DELETE FROM audit_chain_links WHERE chain = ?", (CHAIN,)),
            ("DELETE FROM audit_chain_heads WHERE chain = ?", (CHAIN,)),
        ],
        without_triggers=True,
    )
    results = await verify_all(sealed)
    assert CHAIN in results  # the checkpoint names it, though no head does any more
    broken = results[CHAIN].broken_at
    assert broken is not None
    assert (broken.seq, broken.reason, broken.checkpoint_seq) == (1, BreakReason.TRUNCATED, 1)
    assert results[chain_of("tenant-other")].ok


async def test_one_chain_and_every_chain_agree_on_what_the_checkpoints_sealed(
    sealed: Sealed,
) -> None:
    """With many chains in a checkpoint, one chain's seals are looked up, every chain's are
    picked out: both read the same."""
    await sealed.append(*(record(n) for n in range(1, 4)))
    await sealed.append(*(record(1, tenant_id=f"tenant-{i:02d}") for i in range(12)))
    assert await sealed.checkpoint() == 1
    await sealed.append(record(4))
    every = await verify_all(sealed)
    one = await sealed.verify()
    assert len(every) == 13
    assert (one.sealed_seq, one.unsealed_entries, one.checkpoint_seq) == (3, 1, 1)
    mine = every[CHAIN]
    assert (mine.sealed_seq, mine.unsealed_entries, mine.checkpoint_seq) == (3, 1, 1)
    assert all(r.sealed_seq == 1 and r.ok for c, r in every.items() if c != CHAIN)
