"""Migration 0005 keeps every existing entry in its chain when links move to their own table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from adapters.sql.engine import create_engine
from adapters.sql.migrate import upgrade
from adapters.sql.transaction import SqlTransactions
from adapters.sql.types import Json, UtcDateTime
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.audit.model import GENESIS_HASH, AuditEntry, AuditFilter, AuditRecord, seal
from admin_core.audit.use_cases import VerifyAuditChain, VerifyAuditChainQuery
from admin_core.kernel.principal import Principal

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

# `audit_log` as revision 0004 left it: the chain columns on the entry itself.
_legacy = sa.MetaData()
legacy_log = sa.Table(
    "audit_log",
    _legacy,
    *(
        sa.Column(name, type_)
        for name, type_ in (
            ("id", sa.Text),
            ("chain", sa.Text),
            ("seq", sa.BigInteger),
            ("occurred_at", UtcDateTime),
            ("tenant_id", sa.Text),
            ("actor_id", sa.Text),
            ("actor_role", sa.Text),
            ("action", sa.Text),
            ("event_type", sa.Text),
            ("resource_type", sa.Text),
            ("resource_id", sa.Text),
            ("case_id", sa.Text),
            ("patient_id", sa.Text),
            ("request_id", sa.Text),
            ("before", Json),
            ("after", Json),
            ("prev_hash", sa.Text),
            ("hash", sa.Text),
        )
    ),
)
legacy_heads = sa.Table(
    "audit_chain_heads",
    _legacy,
    sa.Column("chain", sa.Text),
    sa.Column("seq", sa.BigInteger),
    sa.Column("hash", sa.Text),
    sa.Column("prev_hash", sa.Text),
)


def _record(n: int) -> AuditRecord:
    return AuditRecord(
        tenant_id="tenant-a",
        actor_id="user_1",
        actor_role="org:admin",
        action="tenant.update",
        event_type="ADMIN_TENANT_UPDATE",
        resource_type="tenant",
        resource_id="tenant-a",
        after={"n": n},
    )


def _history(n: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    prev = GENESIS_HASH
    for i in range(1, n + 1):
        entry = seal(
            _record(i),
            entry_id=f"aud_{i:04d}",
            seq=i,
            occurred_at=T0 + timedelta(minutes=i),
            prev_hash=prev,
        )
        entries.append(entry)
        prev = entry.hash
    return entries


async def test_entries_written_before_0005_keep_their_chain_and_new_ones_extend_it(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'admin_core.db'}"
    await upgrade(url, revision="0004")
    history = _history(5)
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for entry in history:
                values = {c.name: getattr(entry, c.name, None) for c in legacy_log.c}
                await connection.execute(legacy_log.insert().values(**values))
            await connection.execute(
                legacy_heads.insert().values(
                    chain="tenant:tenant-a",
                    seq=5,
                    hash=history[-1].hash,
                    prev_hash=history[-1].prev_hash,
                )
            )

        await upgrade(url)

        uow = SqlTransactions(engine, SystemClock(), UlidGenerator())
        async with uow() as tx:
            assert (
                list(await tx.audit.read_chain("tenant:tenant-a", after_seq=0, limit=10)) == history
            )
            await tx.audit.append(_record(6))
            await tx.commit()
        result = await VerifyAuditChain(uow).execute(
            Principal.operator("test"), VerifyAuditChainQuery(tenant_id="tenant-a")
        )
        async with uow() as tx:
            newest = (await tx.audit.query(AuditFilter(), before=None, limit=1))[0]
    finally:
        await engine.dispose()
    assert (result.ok, result.entries_checked) == (True, 6)
    assert (newest.seq, newest.prev_hash) == (6, history[-1].hash)
