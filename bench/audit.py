"""Audit-log benchmark on PostgreSQL: page latency per filter shape, and append throughput.

Loads N entries (default 1,000,000) across ~200 tenants with valid hash chains (computed in
Python with the domain's own functions, written by COPY into a schema of its own), then:

- for each filter shape (tenant, actor, action exact, action prefix, case, patient, date
  range, combined) times first pages and deep pages reached by following cursors, through
  the `QueryAuditLog` use case on the SQL adapter as the application role;
- prints the plan PostgreSQL chose for each shape (every one must be an index range scan);
- measures append throughput on one tenant with concurrent writers through the real path
  (`tx.audit.append(audit_record(...))` in a unit of work, one entry per transaction, in
  worker processes on uvloop as under uvicorn, each with the application's default pool),
  against a baseline in the same run: plain INSERTs of the same rows into an identical
  table without the chain; and the same two at the SQL level (asyncpg, each INSERT its own
  transaction), which shows what the chain itself costs;
- measures the same application append path without and with the periodic checkpoint
  writer (`WriteCheckpoint`) running every second, in alternating rounds;
- verifies the longest chain (or every chain, `--verify-all`) in a fresh process per run,
  reporting entries/s and peak RSS (docs/adr/0057-audit-performance.md).

    python -m bench audit -- [--rows 10000000] [--reuse] [--writers 20] [--seconds 5]
        [--parts pages,appends,checkpoints,verify] [--rounds 3] [--verify-all] [--durable]
        [--prewarm]

`--prewarm` reads the log's tables and indexes into the page cache before the pages.
`--durable` runs the appends with `fsync=on` and `synchronous_commit=on` (ALTER SYSTEM as
ADMIN_TEST_POSTGRES_SUPER_URL, reset afterwards).

Needs `make services` (ADMIN_TEST_POSTGRES_BENCH_OWNER_URL, ADMIN_TEST_POSTGRES_BENCH_URL, from
the environment or var/services.env). Everything lives in the schema `audit_bench`, which the
benchmark drops and recreates (`--reuse` keeps a loaded one of the same size).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import multiprocessing
import os
import random
import resource
import statistics
import tempfile
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
import uvloop
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.ed25519.keys import Ed25519CheckpointKeys, Ed25519CheckpointSigner
from adapters.filesystem.checkpoints import DirectoryCheckpointSink
from adapters.sql.audit import PostgresCheckpointLock
from adapters.sql.engine import (
    DEFAULT_POOL_SIZE,
    PING_AFTER_IDLE_S,
    json_loads,
    ping_when_idle,
)
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.audit.model import (
    GENESIS_HASH,
    AuditEntry,
    AuditRecord,
    ChainVerification,
    chain_of,
    content_digest,
    draft,
    link,
    tenant_of_chain,
)
from admin_core.audit.recording import audit_record
from admin_core.audit.use_cases import (
    AuditQuery,
    QueryAuditLog,
    VerifyAuditChain,
    VerifyAuditChainQuery,
    WriteCheckpoint,
    WriteCheckpointCommand,
)
from admin_core.kernel.principal import Principal
from bench.services import dsn as _dsn
from bench.services import fresh_schema, on_database
from bench.services import setting as _setting

SCHEMA = "audit_bench"
APP_ROLE = "admin_app"
TARGET_PAGE_P99_MS = 5.0
TARGET_DEEP_RATIO = 1.5
TARGET_APPENDS_PER_S = 2000
SPAN = timedelta(days=730)
START = datetime(2024, 11, 1, tzinfo=UTC)

ACTIONS: tuple[tuple[str, str, float], ...] = (
    # action, resource type, weight
    ("tenant.create", "tenant", 0.5),
    ("tenant.update", "tenant", 4),
    ("provider.create", "provider", 0.5),
    ("flag.identity_override", "flag", 10),
    ("flag.identity_override_removed", "flag", 3),
    ("triage_threshold.update", "flag", 8),
    ("mso_doctor.onboard", "mso_doctor", 4),
    ("mso_doctor.update", "mso_doctor", 8),
    ("mso_session.refund", "mso_session", 14),
    ("mso_session.reconcile", "mso_session", 2),
    ("mso_session.cancel", "mso_session", 6),
    ("mso_session.reschedule", "mso_session", 9),
    ("user_role.assign", "user", 8),
    ("user_role.revoke", "user", 3),
    ("org_mapping.create", "tenant", 0.5),
    ("matching_weights.update", "flag", 3),
    ("case.assign", "case", 6),
    ("case.transfer", "case", 3),
    ("case.close", "case", 4),
    ("payment.capture_review", "mso_session", 3),
)
PREFIXES = ("mso_session.", "flag.", "user_role.", "case.", "tenant.", "mso_doctor.")


def _engine(url: str, pool: int = DEFAULT_POOL_SIZE) -> AsyncEngine:
    """The same pool settings and JSON decoder as `adapters.sql.engine.create_engine` (by
    default its pool size, no overflow), in the bench schema."""
    engine = create_async_engine(
        url,
        pool_size=pool,
        max_overflow=0,
        connect_args={"server_settings": {"search_path": SCHEMA}},
        json_deserializer=json_loads,
    )
    ping_when_idle(engine, PING_AFTER_IDLE_S)
    return engine


# --------------------------------------------------------------------------- data


def _skewed(rng: random.Random, n: int, power: float) -> int:
    """0..n-1, small numbers far more likely (a few hot tenants, actors, cases)."""
    return min(int(n * rng.random() ** power), n - 1)


_CROCKFORD = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)


def _ulid(at: datetime, random_bits: int) -> str:
    """A ULID-shaped id (48-bit milliseconds, 80 random bits) that sorts by time."""
    raw = (int(at.timestamp() * 1000) << 80 | random_bits).to_bytes(16, "big")
    return "aud_" + base64.b32encode(raw)[:26].translate(_CROCKFORD).decode("ascii")


def owner_of(chain: str, workers: int) -> int:
    return zlib.crc32(chain.encode()) % workers


@dataclass
class Dataset:
    rows: int
    tenants: int = 200
    actors_per_tenant: int = 12
    operators: int = 25
    cases: int = 50_000
    patients: int = 30_000


def generate(
    plan: Dataset, seed: int = 7, *, worker: int = 0, workers: int = 1
) -> Iterator[tuple[AuditEntry, str, str]]:
    """Entries in time order with valid chains: (entry, chain, content digest). With
    `workers` > 1, every worker draws the same random stream and builds only the entries of
    its own chains."""
    rng = random.Random(seed)
    heads: dict[str, tuple[int, str]] = {}
    names = [a for a, _, _ in ACTIONS]
    resources = {a: r for a, r, _ in ACTIONS}
    cumulative = list(itertools.accumulate(w for _, _, w in ACTIONS))
    step = SPAN / plan.rows
    owners: dict[int, bool] = {}
    for n in range(plan.rows):
        at = START + step * n + timedelta(microseconds=rng.randrange(0, 1000))
        platform = rng.random() < 0.02
        tenant = -1 if platform else _skewed(rng, plan.tenants, 2.2)
        operator = platform or rng.random() < 0.25
        who = (
            _skewed(rng, plan.operators, 1.5)
            if operator
            else _skewed(rng, plan.actors_per_tenant, 1.8)
        )
        action = "graph.rebuild" if platform else rng.choices(names, cum_weights=cumulative)[0]
        with_case = action.startswith(("mso_session.", "case.", "payment."))
        case = _skewed(rng, plan.cases, 3.0) if with_case else -1
        patient = _skewed(rng, plan.patients, 3.0) if with_case and rng.random() < 0.8 else -1
        resource, amount, bits = (
            rng.randrange(1_000_000),
            rng.randrange(1000, 90000),
            rng.getrandbits(80),
        )
        mine = owners.get(tenant)
        if mine is None:
            tenant_id = None if tenant < 0 else f"tenant-{tenant:04d}"
            mine = owners[tenant] = owner_of(chain_of(tenant_id), workers) == worker
        if not mine:
            continue
        tenant_id = None if platform else f"tenant-{tenant:04d}"
        record = AuditRecord(
            tenant_id=tenant_id,
            actor_id=f"user_ops_{who:02d}" if operator else f"user_{tenant_id}_{who:02d}",
            actor_role="org:admin" if operator else "org:provider:admin",
            action=action,
            event_type="ADMIN_" + action.upper().replace(".", "_"),
            resource_type=resources.get(action, "graph"),
            resource_id=f"res_{resource:06d}",
            case_id=f"case_{case:06d}" if case >= 0 else None,
            patient_id=f"pat_{patient:06d}" if patient >= 0 else None,
            request_id=f"req_{n:09d}",
            before={"status": "paid", "version": n % 7},
            after={"status": "refunded", "amount_minor": amount},
        )
        chain = chain_of(tenant_id)
        seq, prev = heads.get(chain, (0, GENESIS_HASH))
        written = draft(record, entry_id=_ulid(at, bits), occurred_at=at)
        digest = content_digest(written)
        entry = link(written, seq=seq + 1, prev_hash=prev, digest=digest)
        heads[chain] = (entry.seq, entry.hash)
        yield entry, chain, digest


COLUMNS = (
    "id",
    "chain",
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
    "before",
    "after",
    "digest",
)
LINK_COLUMNS = ("chain", "seq", "entry_id", "prev_hash", "hash")


def _copy_row(entry: AuditEntry, chain: str, digest: str) -> tuple[Any, ...]:
    return (
        entry.id,
        chain,
        entry.occurred_at,
        entry.tenant_id,
        entry.actor_id,
        entry.actor_role,
        entry.action,
        entry.event_type,
        entry.resource_type,
        entry.resource_id,
        entry.case_id,
        entry.patient_id,
        entry.request_id,
        json.dumps(entry.before),
        json.dumps(entry.after),
        digest,
    )


def _link_row(entry: AuditEntry, chain: str) -> tuple[Any, ...]:
    return (chain, entry.seq, entry.id, entry.prev_hash, entry.hash)


async def reset_schema(owner_url: str) -> None:
    await fresh_schema(owner_url, SCHEMA, APP_ROLE, _engine(owner_url, 1))


async def loaded_rows(owner_url: str) -> int:
    connection = await asyncpg.connect(_dsn(owner_url), server_settings={"search_path": SCHEMA})
    try:
        exists = await connection.fetchval("select to_regclass('audit_log') is not null")
        return int(await connection.fetchval("select count(*) from audit_log")) if exists else -1
    finally:
        await connection.close()


async def durability(owner_url: str) -> str:
    """The server's durability settings, which decide what a commit waits for."""
    connection = await asyncpg.connect(_dsn(owner_url))
    try:
        names = ("fsync", "synchronous_commit")
        return ", ".join([f"{n}={await connection.fetchval(f'show {n}')}" for n in names])
    finally:
        await connection.close()


async def _copy_part(owner_url: str, plan: Dataset, worker: int, workers: int) -> int:
    connection = await asyncpg.connect(_dsn(owner_url), server_settings={"search_path": SCHEMA})
    heads: dict[str, tuple[int, str, str]] = {}
    entries: list[tuple[Any, ...]] = []
    links: list[tuple[Any, ...]] = []
    copied = 0

    async def flush() -> None:
        await connection.copy_records_to_table(
            "audit_log", records=entries, columns=COLUMNS, schema_name=SCHEMA
        )
        await connection.copy_records_to_table(
            "audit_chain_links", records=links, columns=LINK_COLUMNS, schema_name=SCHEMA
        )

    try:
        for entry, chain, digest in generate(plan, worker=worker, workers=workers):
            entries.append(_copy_row(entry, chain, digest))
            links.append(_link_row(entry, chain))
            heads[chain] = (entry.seq, entry.hash, entry.prev_hash)
            if len(entries) == 20_000:
                await flush()
                copied += len(entries)
                entries, links = [], []
        if entries:
            await flush()
            copied += len(entries)
        await connection.copy_records_to_table(
            "audit_chain_heads",
            records=[(c, s, h, p) for c, (s, h, p) in heads.items()],
            columns=("chain", "seq", "hash", "prev_hash"),
            schema_name=SCHEMA,
        )
    finally:
        await connection.close()
    return copied


def _load_part(owner_url: str, plan: Dataset, worker: int, workers: int) -> int:
    return asyncio.run(_copy_part(owner_url, plan, worker, workers))


#: Off while the loader COPYs precomputed chains (links, then each chain's final head): the
#: commit-time linker and the guards that let a link or a head move only one linked step.
_LOAD_TRIGGERS = (
    ("audit_log", "audit_log_link_at_commit"),
    ("audit_chain_links", "audit_chain_links_follow_head"),
    ("audit_chain_heads", "audit_chain_heads_one_linked_step"),
)


async def load(owner_url: str, plan: Dataset, workers: int) -> tuple[float, float]:
    """Drop the secondary indexes, generate and COPY the dataset (entries with their links,
    precomputed, so the commit-time linking trigger is off meanwhile) in `workers` processes
    (each owns a share of the chains), then build the indexes; returns (seconds generating and
    copying, seconds indexing)."""
    await reset_schema(owner_url)
    connection = await asyncpg.connect(_dsn(owner_url), server_settings={"search_path": SCHEMA})
    try:
        for table, trigger in _LOAD_TRIGGERS:
            await connection.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        indexes = await connection.fetch(
            "select indexname, indexdef from pg_indexes where schemaname = $1 "
            "and tablename = 'audit_log' and indexname like 'ix_%'",
            SCHEMA,
        )
        for index in indexes:
            await connection.execute(f"DROP INDEX {index['indexname']}")
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = [
                loop.run_in_executor(pool, _load_part, owner_url, plan, worker, workers)
                for worker in range(workers)
            ]
            copied = sum(await asyncio.gather(*parts))
        if copied != plan.rows:
            raise RuntimeError(f"copied {copied:,} rows, expected {plan.rows:,}")
        copy_s = time.perf_counter() - started
        started = time.perf_counter()
        for table, trigger in _LOAD_TRIGGERS:
            await connection.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
        await connection.execute("SET maintenance_work_mem = '512MB'")
        for index in indexes:
            await connection.execute(index["indexdef"])
        await connection.execute("VACUUM ANALYZE audit_log")
        await connection.execute("VACUUM ANALYZE audit_chain_links")
        await connection.execute("VACUUM ANALYZE audit_chain_heads")
        return copy_s, time.perf_counter() - started
    finally:
        await connection.close()


# --------------------------------------------------------------------------- latency


@dataclass
class Shape:
    name: str
    queries: list[AuditQuery]
    first_ms: list[float] = field(default_factory=list)
    deep_ms: list[float] = field(default_factory=list)
    deep_pages: list[int] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    first_db_ms: list[float] = field(default_factory=list)
    deep_db_ms: list[float] = field(default_factory=list)
    plan: str = ""
    index_scans: bool = False


def _ms(value: float, width: int = 9) -> str:
    return f"{value:>{width - 2}.2f}ms"


def _p(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _top(connection: asyncpg.Connection, column: str, n: int) -> list[str]:
    rows = await connection.fetch(
        f"select {column} from audit_log where {column} is not null "
        f"group by {column} order by count(*) desc limit $1",
        n,
    )
    return [r[0] for r in rows]


async def shapes(owner_url: str, values: int) -> list[Shape]:
    """Filter values with the most entries, so deep pages exist for every shape."""
    connection = await asyncpg.connect(_dsn(owner_url), server_settings={"search_path": SCHEMA})
    try:
        tenants = await _top(connection, "tenant_id", values)
        actors = await _top(connection, "actor_id", values)
        actions = await _top(connection, "action", values)
        cases = await _top(connection, "case_id", values)
        patients = await _top(connection, "patient_id", values)
    finally:
        await connection.close()
    rng = random.Random(11)

    def week() -> tuple[str, str]:
        start = START + timedelta(days=rng.randrange(0, SPAN.days - 8))
        return start.date().isoformat(), (start + timedelta(days=6)).date().isoformat()

    def year() -> tuple[str, str]:
        start = START + timedelta(days=rng.randrange(0, SPAN.days - 366))
        return start.isoformat(), (start + timedelta(days=365)).isoformat()

    weeks = [week() for _ in range(values)]
    combined = [
        AuditQuery(tenant_id=tenant, action=prefix, from_date=start, to_date=stop)
        for tenant, prefix, (start, stop) in zip(
            itertools.cycle(tenants[:5]),
            itertools.cycle(PREFIXES[:3]),
            (year() for _ in range(values)),
            strict=False,
        )
    ]
    return [
        Shape("tenant", [AuditQuery(tenant_id=t) for t in tenants]),
        Shape("actor", [AuditQuery(actor_id=a) for a in actors]),
        Shape("action exact", [AuditQuery(action=a) for a in actions]),
        Shape("action prefix", [AuditQuery(action=p) for p in PREFIXES]),
        Shape("case", [AuditQuery(case_id=c) for c in cases]),
        Shape("patient", [AuditQuery(patient_id=p) for p in patients]),
        Shape("date range (7 d)", [AuditQuery(from_date=f, to_date=t) for f, t in weeks]),
        Shape("tenant+prefix+365 d", combined),
    ]


class PlanCapture:
    """Keeps the last page statement sent on the engine's connections, to EXPLAIN it. Pages
    run on the driver connection (`adapters.sql.reads.Read`), past SQLAlchemy's events, so
    the capture is asyncpg's query logger."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.statement: str = ""
        self.params: Any = ()
        sa.event.listen(engine.sync_engine, "connect", self._connected)

    def _connected(self, dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(self._logged)

    def _logged(self, record: Any) -> None:
        query = record.query
        if "audit_log" in query and "count(" not in query and not query.startswith("EXPLAIN"):
            self.statement, self.params = query, tuple(record.args)


def _plan_summary(node: dict[str, Any]) -> list[str]:
    kind = node["Node Type"]
    if "Index Name" in node:
        direction = " backward" if node.get("Scan Direction") == "Backward" else ""
        kind = f"{kind}{direction}({node['Index Name'].removeprefix('ix_audit_log_')})"
    parts = [kind]
    for child in node.get("Plans", []):
        parts += _plan_summary(child)
    return parts


@dataclass
class Plan:
    summary: str
    index_scans: bool
    execution_ms: float


async def explain(engine: AsyncEngine, capture: PlanCapture) -> Plan:
    """EXPLAIN ANALYZE the last query: its plan in short, whether it avoided sequential
    scans, and the time PostgreSQL spent executing it."""
    async with engine.connect() as connection:
        result = await connection.exec_driver_sql(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + capture.statement, capture.params
        )
        raw = result.scalar_one()
    document = (json.loads(raw) if isinstance(raw, str) else raw)[0]
    nodes = _plan_summary(document["Plan"])
    compact: list[str] = []
    for node in nodes:
        if compact and compact[-1].split(" ×")[0] == node:
            count = int(compact[-1].split(" ×")[1]) + 1 if " ×" in compact[-1] else 2
            compact[-1] = f"{node} ×{count}"
        else:
            compact.append(node)
    return Plan(
        summary=" > ".join(n for n in compact if n not in {"Subquery Scan", "Result"}),
        index_scans=not any(n.startswith("Seq Scan") for n in nodes),
        execution_ms=float(document["Execution Time"]),
    )


async def measure(
    engine: AsyncEngine,
    shape: Shape,
    *,
    walks: int,
    deep_from: int,
    deep_to: int,
    capture: PlanCapture,
) -> None:
    """Walk `walks` result sets page by page through their cursors; time every page from
    `deep_from` on, and right after each one a first page of the next filter value in turn,
    so first and deep pages are measured side by side under the same conditions."""
    uow = SqlTransactions(engine, SystemClock(), UlidGenerator())
    use_case = QueryAuditLog(uow)
    operator = Principal.operator("bench")

    async def timed(query: AuditQuery) -> tuple[float, str | None]:
        cpu = time.thread_time()
        started = time.perf_counter()
        page = await use_case.execute(operator, query)
        shape.cpu_ms.append((time.thread_time() - cpu) * 1000)
        return (time.perf_counter() - started) * 1000, page.next_cursor

    for query in shape.queries:  # warm the caches the way a running service has them
        await use_case.execute(operator, query)
    first_plan = await explain(engine, capture)
    shape.plan = first_plan.summary
    rotation = itertools.cycle(shape.queries)
    plans_ok = first_plan.index_scans
    for i in range(walks):
        query = shape.queries[i % len(shape.queries)]
        cursor: str | None = None
        page = 0
        for page in range(1, deep_to + 1):
            elapsed, cursor = await timed(replace(query, cursor=cursor))
            if page >= deep_from:
                shape.deep_ms.append(elapsed)
                if page == deep_from:  # what the database spends on a deep page
                    deep_plan = await explain(engine, capture)
                    shape.deep_db_ms.append(deep_plan.execution_ms)
                    plans_ok = plans_ok and deep_plan.index_scans
                shape.first_ms.append((await timed(next(rotation)))[0])
                if page == deep_from:  # ... and on a first page
                    shape.first_db_ms.append((await explain(engine, capture)).execution_ms)
            if cursor is None:
                break
        shape.deep_pages.append(page)
    shape.index_scans = plans_ok


# --------------------------------------------------------------------------- appends


BENCH_TENANT = "tenant-append-bench"


def _append_record(n: int) -> AuditRecord:
    return AuditRecord(
        tenant_id=BENCH_TENANT,
        actor_id=f"user_writer_{n % 20:02d}",
        actor_role="org:admin",
        action="mso_session.refund",
        event_type="ADMIN_MSO_SESSION_REFUND",
        resource_type="mso_session",
        resource_id=f"mso_{n:08d}",
        case_id=f"case_{n % 977:06d}",
        patient_id=f"pat_{n % 613:06d}",
        request_id=f"req-bench-{n}",
        before={"status": "paid"},
        after={"status": "refunded", "amount_minor": 14900, "currency": "USD"},
    )


async def _run_writers(
    writers: int,
    seconds: float,
    one: Callable[[int], Awaitable[None]],
    start_at: float | None = None,
    offset: int = 0,
) -> tuple[int, float]:
    """`writers` coroutines calling `one` until `seconds` have passed (from the wall-clock
    `start_at`, when given, so that several processes measure the same window)."""
    if start_at is not None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
    deadline = time.perf_counter() + seconds
    count = 0
    started = time.perf_counter()

    async def writer(w: int) -> None:
        nonlocal count
        n = offset + w
        while time.perf_counter() < deadline:
            await one(n)
            count += 1
            n += writers

    await asyncio.gather(*(writer(w) for w in range(writers)))
    return count, time.perf_counter() - started


async def _warm(engine: AsyncEngine, connections: int) -> None:
    """Open the pool's connections before the clock starts."""

    async def hold() -> None:
        async with engine.connect() as connection:
            await connection.execute(sa.text("select 1"))
            await asyncio.sleep(0.2)

    await asyncio.gather(*(hold() for _ in range(connections)))


def _app_part(
    chained: bool, app_url: str, writers: int, seconds: float, start_at: float, offset: int
) -> tuple[int, float]:
    job = append_through_app if chained else plain_through_app
    # The event loop an API worker runs on: uvicorn picks uvloop when it is installed.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(job(app_url, writers, seconds, start_at=start_at, offset=offset))


async def through_app(
    app_url: str, writers: int, seconds: float, *, chained: bool, processes: int
) -> tuple[int, float]:
    """The application path in `processes` processes (like API workers), `writers` in all."""
    start_at = time.time() + 5.0  # time for the processes to start and connect
    share = max(1, writers // processes)
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        parts = await asyncio.gather(
            *(
                loop.run_in_executor(
                    pool, _app_part, chained, app_url, share, seconds, start_at, p * 1_000_000
                )
                for p in range(processes)
            )
        )
    return sum(count for count, _ in parts), max(elapsed for _, elapsed in parts)


async def append_through_app(
    app_url: str, writers: int, seconds: float, *, start_at: float | None = None, offset: int = 0
) -> tuple[int, float]:
    engine = _engine(app_url)
    uow = SqlTransactions(engine, SystemClock(), UlidGenerator())
    actor = Principal.operator("bench", request_id="bench")

    async def one(n: int) -> None:
        r = _append_record(n)
        async with uow() as tx:
            await tx.audit.append(
                audit_record(
                    actor,
                    action=r.action,
                    event_type=r.event_type,
                    resource_type=r.resource_type,
                    resource_id=r.resource_id,
                    tenant_id=r.tenant_id,
                    before=r.before,
                    after=r.after,
                    case_id=r.case_id,
                    patient_id=r.patient_id,
                )
            )
            await tx.commit()

    try:
        await one(-1)  # the chain's head row exists before the clock starts
        await _warm(engine, DEFAULT_POOL_SIZE)
        return await _run_writers(writers, seconds, one, start_at, offset)
    finally:
        await engine.dispose()


async def plain_through_app(
    app_url: str, writers: int, seconds: float, *, start_at: float | None = None, offset: int = 0
) -> tuple[int, float]:
    """The same row in the same unit of work, written the way the unit of work writes an
    appended entry at commit (by the driver, one round trip), into a twin table (same columns
    and indexes, no link trigger)."""
    engine = _engine(app_url)
    uow = SqlTransactions(engine, SystemClock(), UlidGenerator())
    ids = UlidGenerator()

    async def one(n: int) -> None:
        entry = draft(_append_record(n), entry_id=ids.new_id("aud"), occurred_at=datetime.now(UTC))
        row = _copy_row(entry, chain_of(BENCH_TENANT), content_digest(entry))
        async with uow() as tx:
            driver = tx.connection.sync_connection.connection.driver_connection
            await driver.execute(_insert_sql("audit_log_plain"), *row)
            await tx.commit()

    try:
        await _warm(engine, DEFAULT_POOL_SIZE)
        return await _run_writers(writers, seconds, one, start_at, offset)
    finally:
        await engine.dispose()


def _insert_sql(table: str) -> str:
    return (
        f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES "
        f"({', '.join(f'${i + 1}' for i in range(len(COLUMNS)))})"
    )


async def sql_level(
    app_url: str, writers: int, seconds: float, *, chained: bool
) -> tuple[int, float]:
    """The database alone: asyncpg, each writer on its own connection, each INSERT its own
    transaction (one round trip); `chained` into `audit_log`, whose entries the trigger links
    at commit, else into its plain twin."""
    connections = [
        await asyncpg.connect(_dsn(app_url), server_settings={"search_path": SCHEMA})
        for _ in range(writers)
    ]
    insert = _insert_sql("audit_log" if chained else "audit_log_plain")
    ids = UlidGenerator()

    async def one(n: int) -> None:  # writer w calls with n = w, w + writers, ...
        entry = draft(_append_record(n), entry_id=ids.new_id("aud"), occurred_at=datetime.now(UTC))
        row = _copy_row(entry, chain_of(BENCH_TENANT), content_digest(entry))
        await connections[n % writers].execute(insert, *row)

    try:
        return await _run_writers(writers, seconds, one)
    finally:
        for connection in connections:
            await connection.close()


async def prepare_plain_table(owner_url: str) -> None:
    connection = await asyncpg.connect(_dsn(owner_url), server_settings={"search_path": SCHEMA})
    try:
        await connection.execute("DROP TABLE IF EXISTS audit_log_plain")
        await connection.execute("CREATE TABLE audit_log_plain (LIKE audit_log INCLUDING ALL)")
        await connection.execute(f'GRANT SELECT, INSERT ON audit_log_plain TO "{APP_ROLE}"')
    finally:
        await connection.close()


async def verify(
    app_url: str, tenant_id: str | None, engine: AsyncEngine | None = None
) -> tuple[ChainVerification, float, float]:
    own = engine is None
    engine = engine or _engine(app_url, 2)
    uow = SqlTransactions(engine, SystemClock(), UlidGenerator())
    try:
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        result = await VerifyAuditChain(uow).execute(
            Principal.operator("bench"), VerifyAuditChainQuery(tenant_id=tenant_id)
        )
        elapsed = time.perf_counter() - started
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return result, elapsed, rss_after - rss_before
    finally:
        if own:
            await engine.dispose()


@dataclass
class VerifyRun:
    entries: int
    seconds: float
    ok: bool
    peak_rss_mb: float  # the verifying process's own peak (a fresh process per run)
    rss_at_start_mb: float


async def _verify_chains(app_url: str, tenants: list[str | None] | None) -> VerifyRun:
    """`tenants`' chains one after the other, or (None) every chain at once, as
    `adminctl audit verify --all` does (`VerifyAuditChain.execute_all`)."""
    rss_at_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    entries, seconds, ok = 0, 0.0, True
    engine = _engine(app_url, 2)  # one pool, as a service has, warmed before the clock starts
    try:
        await _warm(engine, 2)
        await verify(app_url, BENCH_TENANT, engine)  # statements compiled and prepared
        if tenants is None:
            uow = SqlTransactions(engine, SystemClock(), UlidGenerator())
            started = time.perf_counter()
            results = await VerifyAuditChain(uow).execute_all(Principal.operator("bench"))
            seconds = time.perf_counter() - started
            entries = sum(r.entries_checked for r in results)
            ok = all(r.ok for r in results)
        for tenant in tenants or ():
            result, elapsed, _ = await verify(app_url, tenant, engine)
            entries, seconds = entries + result.entries_checked, seconds + elapsed
            ok = ok and result.ok
    finally:
        await engine.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return VerifyRun(entries, seconds, ok, peak, rss_at_start)


def _verify_part(app_url: str, tenants: list[str | None] | None) -> VerifyRun:
    return asyncio.run(_verify_chains(app_url, tenants))


async def verify_in_process(app_url: str, tenants: list[str | None] | None) -> VerifyRun:
    """Verify `tenants`' chains one after the other (None: every chain, two at a time) in a
    fresh process, whose peak RSS is then the verification's own."""
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return await loop.run_in_executor(pool, _verify_part, app_url, tenants)


async def all_tenants(owner_url: str) -> list[str | None]:
    """Every chain's tenant, the longest chain first (None: the platform chain)."""
    connection = await asyncpg.connect(_dsn(owner_url), server_settings={"search_path": SCHEMA})
    try:
        rows = await connection.fetch("select chain from audit_chain_heads order by seq desc")
        return [tenant_of_chain(r[0]) for r in rows]
    finally:
        await connection.close()


# --------------------------------------------------------------------------- checkpoints


async def _checkpoints_every(
    app_url: str, interval: float, stop: asyncio.Event, directory: Path
) -> tuple[int, list[float]]:
    """Run the periodic checkpoint writer (`WriteCheckpoint`, `only_if_changed`, as the
    service's timer does) every `interval` s until `stop`: (checkpoints written, ms each)."""
    engine = _engine(app_url, 2)
    signer = Ed25519CheckpointSigner(directory / "checkpoint.key", create=True)
    write = WriteCheckpoint(
        SqlTransactions(engine, SystemClock(), UlidGenerator()),
        signer=signer,
        keys=Ed25519CheckpointKeys([signer.public_key]),
        sink=DirectoryCheckpointSink(directory / "published"),
        lock=PostgresCheckpointLock(engine),
        clock=SystemClock(),
    )
    operator = Principal.operator("bench")
    written, took = 0, []
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            if stop.is_set():
                break
            started = time.perf_counter()
            result = await write.execute(operator, WriteCheckpointCommand(only_if_changed=True))
            took.append((time.perf_counter() - started) * 1000)
            written += result.written
    finally:
        await engine.dispose()
    return written, took


@dataclass
class CheckpointRound:
    without: float  # appends/s
    with_checkpoints: float
    written: int
    checkpoint_ms: list[float]


async def checkpoint_overhead(
    app_url: str, writers: int, seconds: float, processes: int, interval: float, rounds: int
) -> list[CheckpointRound]:
    """Append throughput on the application path without and with the periodic checkpoint
    writer running every `interval` s, in alternating order (so drift on a shared machine
    does not favour one side)."""
    result = []
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as temporary:
        for r in range(rounds):
            rates: dict[bool, float] = {}
            written, took = 0, list[float]()
            for checkpoints in (False, True) if r % 2 == 0 else (True, False):
                stop = asyncio.Event()
                writer = asyncio.ensure_future(
                    _checkpoints_every(app_url, interval, stop, Path(temporary))
                    if checkpoints
                    else asyncio.sleep(0, result=(0, []))
                )
                count, elapsed = await through_app(
                    app_url, writers, seconds, chained=True, processes=processes
                )
                stop.set()
                outcome = await writer
                if checkpoints:
                    written, took = outcome
                rates[checkpoints] = count / elapsed
            result.append(CheckpointRound(rates[False], rates[True], written, took))
            print(
                f"  round {r + 1}: {rates[False]:,.0f}/s without, {rates[True]:,.0f}/s with "
                f"checkpoints ({written} written)",
                flush=True,
            )
    return result


# --------------------------------------------------------------------------- the run


def _size(text: str) -> int:
    text = text.strip().lower().replace("_", "").replace(",", "")
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * factor)


PARTS = ("pages", "appends", "checkpoints", "verify")
_DURABLE = ("fsync", "synchronous_commit")


@contextlib.asynccontextmanager
async def durable(super_url: str) -> AsyncIterator[None]:
    """The server as production runs it (`fsync=on`, `synchronous_commit=on`, by ALTER SYSTEM
    as the superuser, for new sessions) for the block; the test cluster's settings after."""
    connection = await asyncpg.connect(_dsn(super_url))
    try:
        for name in _DURABLE:
            await connection.execute(f"ALTER SYSTEM SET {name} = on")
        await connection.execute("SELECT pg_reload_conf()")
        await asyncio.sleep(0.5)  # the postmaster signals its children
        yield
    finally:
        for name in _DURABLE:
            await connection.execute(f"ALTER SYSTEM RESET {name}")
        await connection.execute("SELECT pg_reload_conf()")
        await connection.close()


async def prewarm(super_url: str) -> tuple[float, float]:
    """Read the log's tables and every index on them once into the operating system's page
    cache (`pg_prewarm(..., 'read')`), as a server that has been serving holds them when the
    machine's memory allows. Returns the seconds it took and the megabytes read."""
    connection = await asyncpg.connect(_dsn(super_url))
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm SCHEMA public")
        relations = await connection.fetch(
            """SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name,
                      pg_relation_size(c.oid) AS bytes
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = $1 AND c.relkind IN ('r', 'i')
                 AND (c.relname LIKE 'audit%' OR c.relname LIKE 'ix_audit%'
                      OR c.relname LIKE 'pk_audit%' OR c.relname LIKE 'uq_audit%')""",
            SCHEMA,
        )
        started = time.perf_counter()
        for relation in relations:
            await connection.execute(
                "SELECT public.pg_prewarm($1::regclass, 'read')", relation["name"]
            )
        return time.perf_counter() - started, sum(r["bytes"] for r in relations) / 2**20
    finally:
        await connection.close()


def _parts(text: str) -> frozenset[str]:
    chosen = frozenset(p.strip() for p in text.split(",") if p.strip())
    if not chosen <= set(PARTS):
        raise argparse.ArgumentTypeError(f"parts are {', '.join(PARTS)}")
    return chosen


async def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench audit")
    parser.add_argument("--rows", type=_size, default=1_000_000, help="entries to load (1m, 10m)")
    parser.add_argument("--reuse", action="store_true", help="keep an already loaded schema")
    parser.add_argument("--load-workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--parts", type=_parts, default=frozenset(PARTS), help=f"any of {','.join(PARTS)}"
    )
    parser.add_argument("--walks", type=int, default=20, help="cursor walks per shape")
    parser.add_argument("--deep-from", type=int, default=41, help="first deep page measured")
    parser.add_argument("--deep-to", type=int, default=60, help="last page of each walk")
    parser.add_argument("--writers", type=int, default=20, help="concurrent appenders")
    parser.add_argument(
        "--app-processes",
        type=int,
        default=2,
        help="processes sharing the writers on the application path (like API workers)",
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="per append measurement")
    parser.add_argument(
        "--checkpoint-every", type=float, default=1.0, help="seconds between checkpoints"
    )
    parser.add_argument("--rounds", type=int, default=3, help="checkpoint and verify runs")
    parser.add_argument(
        "--verify-all", action="store_true", help="verify every chain, not the longest"
    )
    parser.add_argument(
        "--durable",
        action="store_true",
        help="appends with fsync=on and synchronous_commit=on (ADMIN_TEST_POSTGRES_SUPER_URL)",
    )
    parser.add_argument(
        "--prewarm",
        action="store_true",
        help="read the log's tables and indexes once before the pages, as a running server's"
        " page cache holds them (pg_prewarm, ADMIN_TEST_POSTGRES_SUPER_URL)",
    )
    args = parser.parse_args(argv)
    parts = args.parts

    owner_url = _setting("ADMIN_TEST_POSTGRES_BENCH_OWNER_URL")
    app_url = _setting("ADMIN_TEST_POSTGRES_BENCH_URL")
    load_start = os.getloadavg()[0]
    plan = Dataset(rows=args.rows, tenants=max(20, min(2000, args.rows // 5000)))

    existing = await loaded_rows(owner_url) if args.reuse else -1
    if existing >= plan.rows:
        print(f"reusing {existing:,} entries in schema {SCHEMA}", flush=True)
    else:
        print(f"loading {plan.rows:,} entries across {plan.tenants} tenants ...", flush=True)
        copy_s, index_s = await load(owner_url, plan, args.load_workers)
        print(
            f"  generated, hashed and copied in {copy_s:.1f} s "
            f"({plan.rows / copy_s:,.0f} rows/s); indexes built in {index_s:.1f} s",
            flush=True,
        )

    checks: list[tuple[str, bool]] = []
    procs = args.app_processes
    if "pages" in parts:
        if args.prewarm:
            super_url = on_database(_setting("ADMIN_TEST_POSTGRES_SUPER_URL"), owner_url)
            seconds, megabytes = await prewarm(super_url)
            print(f"prewarmed {megabytes:,.0f} MB into the page cache in {seconds:.1f} s")
        checks += await _pages_part(owner_url, app_url, plan, args, load_start)
    if "appends" in parts:
        async with (
            durable(_setting("ADMIN_TEST_POSTGRES_SUPER_URL"))
            if args.durable
            else contextlib.nullcontext()
        ):
            checks += await _appends_part(owner_url, app_url, args)
    if "checkpoints" in parts:
        await prepare_plain_table(owner_url)
        await append_through_app(app_url, 1, 0.0)  # the bench chain's head exists
        print(
            f"checkpoint overhead: {args.writers} writers, {procs} processes, "
            f"{args.seconds:.0f} s each side, a checkpoint every {args.checkpoint_every} s",
            flush=True,
        )
        rounds = await checkpoint_overhead(
            app_url, args.writers, args.seconds, procs, args.checkpoint_every, args.rounds
        )
        without = statistics.median(r.without for r in rounds)
        with_ = statistics.median(r.with_checkpoints for r in rounds)
        ratios = [r.with_checkpoints / r.without for r in rounds]
        took = [ms for r in rounds for ms in r.checkpoint_ms]
        print()
        print(
            f"Append with periodic checkpoints (app ×{procs}, hash chain, {args.writers} writers;"
            f" median of {len(rounds)} alternating rounds; server {await durability(owner_url)})"
        )
        print(f"  without checkpoints {without:>9,.0f} entries/s")
        print(f"  with checkpoints    {with_:>9,.0f} entries/s")
        print(
            f"  ratio per round {', '.join(f'{x:.3f}' for x in ratios)}; median "
            f"{statistics.median(ratios):.3f}; {sum(r.written for r in rounds)} checkpoints "
            f"written, {_p(took, 0.5):.1f} ms p50 / {max(took, default=0):.1f} ms max each"
        )
        checks.append(("append with checkpoints ≥ 0.9× without", statistics.median(ratios) >= 0.9))
    if "verify" in parts:
        tenants = await all_tenants(owner_url)
        chosen = None if args.verify_all else tenants[:1]
        runs = []
        for _ in range(args.rounds):
            runs.append(await verify_in_process(app_url, chosen))
            done = runs[-1]
            print(
                f"  verified {done.entries:,} entries in {done.seconds:.1f} s "
                f"({done.entries / done.seconds:,.0f}/s, peak RSS {done.peak_rss_mb:.0f} MB)",
                flush=True,
            )
        rate = statistics.median(r.entries / r.seconds for r in runs)
        print()
        print(
            f"Verify (streamed, batches of 5,000, next batch read while one is hashed): "
            f"{'every chain (verify --all)' if chosen is None else chosen[0]}, "
            f"{runs[0].entries:,} entries: median {rate:,.0f} entries/s of {len(runs)} runs; "
            f"peak RSS {statistics.median(r.peak_rss_mb for r in runs):.0f} MB "
            f"(the process at start {statistics.median(r.rss_at_start_mb for r in runs):.0f} MB)"
        )
        checks.append(("verify ≥ 50,000 entries/s", rate >= 50_000))
        checks.append(("chains verify", all(r.ok for r in runs)))
    print()
    for name, passed in checks:
        print(f"target {name}: {'met' if passed else 'MISSED'}")
    return 0


async def _pages_part(
    owner_url: str, app_url: str, plan: Dataset, args: argparse.Namespace, load_start: float
) -> list[tuple[str, bool]]:
    engine = _engine(app_url, 4)
    capture = PlanCapture(engine)
    measured = await shapes(owner_url, values=max(args.walks, 20))
    try:
        for shape in measured:
            await measure(
                engine,
                shape,
                walks=args.walks,
                deep_from=args.deep_from,
                deep_to=args.deep_to,
                capture=capture,
            )
            print(f"  measured {shape.name}", flush=True)
    finally:
        await engine.dispose()
    print()
    print(
        f"Audit log on PostgreSQL: {plan.rows:,} entries, {plan.tenants} tenants, "
        f"page size 50, {os.cpu_count()} cores; latency through QueryAuditLog "
        f"(SQL adapter, application role)"
    )
    header = (
        f"{'filter shape':<20} {'first p50':>9} {'first p99':>9} {'deep p50':>9} "
        f"{'deep p99':>9} {'deep/first':>10} {'depth':>6} {'samples':>9} {'cpu/page':>8} "
        f"{'db first':>8} {'db deep':>8}"
    )
    print(header)
    print("-" * len(header))
    for shape in measured:
        first99, deep99 = _p(shape.first_ms, 0.99), _p(shape.deep_ms, 0.99)
        depth = statistics.median(shape.deep_pages) if shape.deep_pages else 0
        print(
            f"{shape.name:<20} {_ms(_p(shape.first_ms, 0.5))} {_ms(first99)} "
            f"{_ms(_p(shape.deep_ms, 0.5))} {_ms(deep99)} {deep99 / first99:>10.2f} "
            f"{depth:>6.0f} {len(shape.first_ms):>4}/{len(shape.deep_ms):<4} "
            f"{_ms(statistics.median(shape.cpu_ms), 8)} "
            f"{_ms(_p(shape.first_db_ms, 0.5), 8)} {_ms(_p(shape.deep_db_ms, 0.5), 8)}"
        )
    print(
        "(ms; p50/p99 of wall time per page through the use case; depth: median page reached "
        "by the cursor walks; samples: first/deep pages timed; deep = pages "
        f"{args.deep_from}..{args.deep_to}; cpu/page: this thread's CPU per page (median), "
        "db: PostgreSQL's own execution time, EXPLAIN ANALYZE, median)"
    )
    print()
    print("Plans (first page; every deep page's plan is checked for sequential scans too)")
    for shape in measured:
        print(f"  {shape.name:<20} {shape.plan}")
    print(f"load average (1 min) at start {load_start:.2f}, at end {os.getloadavg()[0]:.2f}")
    checks = []
    for shape in measured:
        first99, deep99 = _p(shape.first_ms, 0.99), _p(shape.deep_ms, 0.99)
        if not shape.deep_ms:
            print(f"  {shape.name}: too few matching rows for deep pages (not a miss)")
        checks.append(
            (
                f"{shape.name}: page p99 ≤ {TARGET_PAGE_P99_MS:.0f} ms",
                max(first99, deep99) <= TARGET_PAGE_P99_MS,
            )
        )
        checks.append(
            (
                f"{shape.name}: deep p99 ≤ {TARGET_DEEP_RATIO}× first p99",
                deep99 <= TARGET_DEEP_RATIO * first99,
            )
        )
        checks.append(
            (f"{shape.name}: CPU ≤ 1 ms per page", statistics.median(shape.cpu_ms) <= 1.0)
        )
    checks.append(("every shape is an index range scan", all(s.index_scans for s in measured)))
    return checks


async def _appends_part(
    owner_url: str, app_url: str, args: argparse.Namespace
) -> list[tuple[str, bool]]:
    await prepare_plain_table(owner_url)
    appends: dict[str, tuple[int, float]] = {}
    procs = args.app_processes
    for name, job in (
        (
            f"app ×{procs}, hash chain",
            lambda: through_app(app_url, args.writers, args.seconds, chained=True, processes=procs),
        ),
        (
            f"app ×{procs}, plain INSERT",
            lambda: through_app(
                app_url, args.writers, args.seconds, chained=False, processes=procs
            ),
        ),
        ("SQL, hash chain", lambda: sql_level(app_url, args.writers, args.seconds, chained=True)),
        (
            "SQL, plain INSERT",
            lambda: sql_level(app_url, args.writers, args.seconds, chained=False),
        ),
    ):
        appends[name] = await job()
        count, seconds = appends[name]
        print(f"  {name}: {count:,} entries in {seconds:.1f} s", flush=True)
    print()
    print(
        f"Append, one tenant, {args.writers} concurrent writers, one entry per transaction "
        f"(app: {procs} processes with {DEFAULT_POOL_SIZE} pooled connections each; "
        f"SQL: a connection per writer; server {await durability(owner_url)})"
    )
    for name, (count, seconds) in appends.items():
        rate = count / seconds
        print(f"  {name:<20} {rate:>9,.0f} entries/s   ({1000 / rate:.2f} ms per entry)")
    rates = {name: count / seconds for name, (count, seconds) in appends.items()}
    app_chain, app_plain = rates[f"app ×{procs}, hash chain"], rates[f"app ×{procs}, plain INSERT"]
    sql_chain, sql_plain = rates["SQL, hash chain"], rates["SQL, plain INSERT"]
    print(
        f"  ratios: app chain / app plain = {app_chain / app_plain:.2f}; "
        f"SQL chain / SQL plain = {sql_chain / sql_plain:.2f}"
    )
    return [
        (f"append ≥ {TARGET_APPENDS_PER_S:,}/s (app)", app_chain >= TARGET_APPENDS_PER_S),
        (f"append ≥ {TARGET_APPENDS_PER_S:,}/s (SQL)", sql_chain >= TARGET_APPENDS_PER_S),
    ]
