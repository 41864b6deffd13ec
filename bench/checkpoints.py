"""A chain's verify as the signed checkpoints accumulate (SQLite, one process).

`ADMIN_AUDIT_CHECKPOINT_SECONDS` (60 s) writes a checkpoint a minute while the log moves:
~1,440 a day, ~525,000 a year, each sealing every chain's head. A verify checks every
checkpoint the first time a process verifies; later verifies check the latest trusted one
again and those written since (docs/adr/0056, "Later"). Measured on one database holding
`--chains` chains and `--checkpoints` checkpoints, one more written between verifies:

- the first verify of a process (nothing remembered: every checkpoint checked), the baseline;
- a later verify of the same process (the checkpoints remembered).

Both verify the same short chain, so the difference is the checkpoints.

    python -m bench checkpoints -- [--chains 200] [--checkpoints 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from adapters.ed25519.keys import Ed25519CheckpointKeys, Ed25519CheckpointSigner
from adapters.filesystem.checkpoints import DirectoryCheckpointSink
from adapters.memory.audit import InProcessCheckpointLock
from adapters.sql.engine import create_engine
from adapters.sql.migrate import upgrade
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.audit.checkpoints import TrustedCheckpoints
from admin_core.audit.model import AuditRecord
from admin_core.audit.use_cases import (
    VerifyAuditChain,
    VerifyAuditChainQuery,
    WriteCheckpoint,
    WriteCheckpointCommand,
)
from admin_core.kernel.principal import Principal

OPERATOR = Principal.operator("bench-checkpoints")


def _record(tenant: str, n: int) -> AuditRecord:
    return AuditRecord(
        tenant_id=tenant,
        actor_id="bench",
        actor_role="org:admin",
        action="tenant.update",
        event_type="ADMIN_TENANT_UPDATE",
        resource_type="tenant",
        resource_id=tenant,
        request_id=f"req-{tenant}-{n}",
        before={"fee_minor": n - 1},
        after={"fee_minor": n},
    )


async def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench checkpoints")
    parser.add_argument("--chains", type=int, default=200)
    parser.add_argument("--checkpoints", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-checkpoints-") as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/admin.db"
        await upgrade(url)
        engine = create_engine(url)
        try:
            uow = SqlTransactions(engine, SystemClock(), UlidGenerator())
            signer = Ed25519CheckpointSigner(Path(tmp) / "checkpoint.pem", create=True)
            keys = Ed25519CheckpointKeys([signer.public_key])
            sink = DirectoryCheckpointSink(Path(tmp) / "sink")
            writer = WriteCheckpoint(
                uow,
                signer=signer,
                keys=keys,
                sink=sink,
                lock=InProcessCheckpointLock(),
                clock=SystemClock(),
            )
            tenants = [f"tenant-{i:05d}" for i in range(args.chains)]
            async with uow() as tx:
                for tenant in tenants:
                    await tx.audit.append(_record(tenant, 1))
                await tx.commit()
            started = time.perf_counter()
            for n in range(args.checkpoints):
                async with uow() as tx:  # the busiest chain moves between checkpoints
                    await tx.audit.append(_record(tenants[-1], n + 2))
                    await tx.commit()
                await writer.execute(OPERATOR, WriteCheckpointCommand())
            print(
                f"{args.checkpoints:,} checkpoints of {args.chains:,} chains written in "
                f"{time.perf_counter() - started:.1f} s ({datetime.now(UTC):%H:%M} UTC)"
            )

            query = VerifyAuditChainQuery(tenant_id=tenants[0])
            first: list[float] = []
            later: list[float] = []
            for _ in range(args.rounds):
                trusted = TrustedCheckpoints()
                verify = VerifyAuditChain(uow, keys=keys, sink=sink, trusted=trusted)
                started = time.perf_counter()
                result = await verify.execute(OPERATOR, query)
                first.append(time.perf_counter() - started)
                assert result.ok, result
                await writer.execute(OPERATOR, WriteCheckpointCommand())
                started = time.perf_counter()
                result = await verify.execute(OPERATOR, query)
                later.append(time.perf_counter() - started)
                assert result.ok, result
        finally:
            await engine.dispose()

    base = statistics.median(first)
    print(f"verify of one chain, medians of {args.rounds} rounds")
    print(f"{'verify':<46} {'ms (median)':>12} {'min–max':>18} {'× first':>9}")
    for label, times in (
        ("first in a process: every checkpoint checked", first),
        ("later: the checkpoints written since", later),
    ):
        median = statistics.median(times)
        spread = f"{min(times) * 1e3:,.1f}–{max(times) * 1e3:,.1f}"
        print(f"{label:<46} {median * 1e3:>12,.1f} {spread:>18} {median / base:>9.4f}")
    per = base / (args.checkpoints + 1) * 1e6
    print(f"first verify: {per:,.0f} µs a checkpoint of {args.chains:,} chains")
    return 0
