"""MSO sessions on PostgreSQL: list latency per filter shape, and refund throughput.

Loads N sessions (default 1,000,000) across 20 tenants into a schema of its own (`mso_bench`,
migrated by alembic like the application's; COPY, then the indexes, then VACUUM ANALYZE):
tenants skewed (a few hold most sessions), `scheduled_at` over two years (booked up to
`--ahead-days` ahead, 30 by default, so the future thins out over those days), every status at
a frequency a running service would have (past sessions mostly completed, future ones scheduled
or paid, few refund_*), payments taken by Stripe, Razorpay or the sandbox. Then:

- Lists: `ListMsoSessions.execute` on `SqlTransactions` as the application role, for each
  filter shape, the first page and the page at offset 10,000 (limit 50), each timed N times
  after a warm-up, `--rounds` times (the median of the rounds' p50/p99 is reported), with the
  page's `total` and whether it is exact (the repository counts up to 10,000 matches and
  takes PostgreSQL's planner estimate beyond), and what an exact `count(*)` of the shape costs
  (why it is not counted), and the plans PostgreSQL runs the page with (custom and generic,
  and how often the pool's prepared statements ran each); against a baseline measured in the
  same run: as many transactions of the same `SqlTransactions` doing one `SELECT 1` round trip
  each. Target: first page p99 ≤ 20 ms.
- Refunds: `RefundSession.execute` with the real `StripePaymentGateway` (the official SDK) against
  the local fake Stripe (tests/support/fake_stripe.py, a fresh one per round, in a process of
  its own as a remote provider is; `--fake thread` runs it in this process), on sessions
  created for the round, `--concurrency` at a time; against a baseline in the same run: as
  many bare refund POSTs straight at a fresh fake with httpx at the same concurrency. Target:
  ≥ 200 distinct sessions refunded per second.

A missed target (or a page over 20 ms) is followed by where the time goes: the statements of
one list call as the client timed them with EXPLAIN ANALYZE of each; for refunds, one round of
each piece on its own (the fake in a process of its own, no provider at all, the use case's
round trips alone, the gateway alone), the statements per refund, and cProfile of 200 refunds.

    python -m bench mso -- [--rows 1m] [--reuse] [--ahead-days 30] [--calls 200] [--rounds 3]
                           [--refunds 2000] [--concurrency 16] [--refund-rounds 3]
                           [--no-lists] [--no-refunds]

Needs `make services` (ADMIN_TEST_POSTGRES_BENCH_OWNER_URL, ADMIN_TEST_POSTGRES_BENCH_URL, from
the environment or var/services.env). Everything lives in the schema `mso_bench`, which the
benchmark drops and recreates (`--reuse` keeps a loaded one of the same data set, after
removing the sessions earlier refund rounds added).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import io
import json
import math
import multiprocessing
import os
import pstats
import random
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.sql.engine import DEFAULT_POOL_SIZE, PING_AFTER_IDLE_S, json_loads, ping_when_idle
from adapters.sql.mso_sessions import EXACT_TOTAL_UP_TO
from adapters.sql.reads import Read, driver_connection
from adapters.sql.transaction import SqlTransactions
from adapters.stripe.refunds import StripePaymentGateway
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.kernel.principal import Principal
from admin_core.payments.model import PaymentProvider, Refund, RefundStatus, SessionStatus
from admin_core.payments.ports import PaymentGateway, RefundRequest
from admin_core.payments.refunds import GatewayRegistry, SessionRefunds
from admin_core.payments.session_payments import SessionPayments
from admin_core.payments.use_cases import (
    ListMsoSessions,
    ListSessionsQuery,
    RefundSession,
    RefundSessionCommand,
)
from admin_core.side_effects.runner import SideEffects
from bench.services import ROOT, fresh_schema
from bench.services import dsn as _dsn
from bench.services import setting as _setting
from tests.support.fake_stripe import API_KEY, FakeStripe, start_fake_stripe, stripe_gateway

SCHEMA = "mso_bench"
APP_ROLE = "admin_app"
TARGET_FIRST_P99_MS = 20.0
TARGET_REFUNDS_PER_S = 200.0
DEEP_OFFSET = 10_000
LIMIT = 50
#: The data's "now": sessions run from 700 days before it to `--ahead-days` (30) after it,
#: booked up to that long ahead, so ever fewer the further ahead (the bookings made so far).
NOW = datetime(2026, 10, 1, tzinfo=UTC)
PAST_DAYS = 700
START = NOW - timedelta(days=PAST_DAYS)
TENANTS = 20
REFUND_TENANT = "tenant-mso-refunds"
CHUNK = 50_000

#: (status, weight) of sessions scheduled in the past, within the last two hours, in the future.
PAST = (
    ("completed", 76.0),
    ("cancelled", 7.0),
    ("no_show", 4.0),
    ("refunded", 5.0),
    ("payment_failed", 3.0),
    ("scheduled", 1.5),  # never updated after the session
    ("paid", 1.5),
    ("pending_payment", 0.5),
    ("refund_failed", 0.4),
    ("refund_pending", 0.2),
)
RUNNING = (("in_progress", 75.0), ("completed", 15.0), ("no_show", 5.0), ("cancelled", 5.0))
FUTURE = (
    ("scheduled", 55.0),
    ("paid", 25.0),
    ("pending_payment", 10.0),
    ("cancelled", 5.0),
    ("payment_failed", 3.0),
    ("refunded", 1.5),
    ("refund_pending", 0.3),
    ("refund_failed", 0.2),
)
COLUMNS = (
    "id",
    "tenant_id",
    "patient_id",
    "case_id",
    "mso_doctor_id",
    "scheduled_at",
    "status",
    "amount_minor",
    "currency",
    "payment_provider",
    "payment_ref",
    "refund_id",
    "refund_status",
    "refund_amount_minor",
    "refund_provider",
    "refund_created_at",
    "refund_attempts",
    "refund_intent_id",
    "created_at",
    "updated_at",
)
PRICES = {"INR": (150_000, 250_000, 350_000, 500_000), "USD": (9_900, 14_900, 19_900, 29_900)}


async def _connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(_dsn(url), server_settings={"search_path": SCHEMA})


def _engine(url: str, pool: int = DEFAULT_POOL_SIZE) -> AsyncEngine:
    """`adapters.sql.engine.create_engine` for PostgreSQL (its pool size, no overflow, its JSON
    decoder, the idle ping), in the bench schema."""
    engine = create_async_engine(
        url,
        pool_size=pool,
        max_overflow=0,
        json_deserializer=json_loads,
        connect_args={"server_settings": {"search_path": SCHEMA}},
    )
    ping_when_idle(engine, PING_AFTER_IDLE_S)
    return engine


def _size(text: str) -> int:
    text = text.strip().lower().replace("_", "").replace(",", "")
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * factor)


# --------------------------------------------------------------------------- data


_CROCKFORD = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)


def _ulid(prefix: str, at: datetime, random_bits: int) -> str:
    raw = (int(at.timestamp() * 1000) << 80 | random_bits).to_bytes(16, "big")
    return prefix + base64.b32encode(raw)[:26].translate(_CROCKFORD).decode("ascii")


def _skewed(rng: random.Random, n: int, power: float) -> int:
    """0..n-1, small numbers far more likely."""
    return min(int(n * rng.random() ** power), n - 1)


def tenant_id(n: int) -> str:
    return f"tenant-mso-{n:02d}"


def _picker(weights: Sequence[tuple[str, float]]) -> Callable[[random.Random], str]:
    names = [name for name, _ in weights]
    total = sum(w for _, w in weights)
    cumulative: list[float] = []
    running = 0.0
    for _, w in weights:
        running += w / total
        cumulative.append(running)

    def pick(rng: random.Random) -> str:
        u = rng.random()
        for name, edge in zip(names, cumulative, strict=True):
            if u < edge:
                return name
        return names[-1]

    return pick


@dataclass(frozen=True)
class Dataset:
    rows: int
    ahead_days: int = 30

    @property
    def tag(self) -> str:
        """What the loaded table is marked with (`--reuse` reuses the same data set only)."""
        return f"bench mso: rows={self.rows} ahead_days={self.ahead_days} seed=7"


def _scheduled(position: float, ahead_days: int) -> datetime:
    """The time at `position` (0..1) of the sessions in time order: evenly spread over the
    past, then thinning out linearly to none `ahead_days` ahead."""
    days = position * (PAST_DAYS + ahead_days / 2)
    if days > PAST_DAYS and ahead_days > 0:
        ahead = days - PAST_DAYS
        days = PAST_DAYS + ahead_days * (1 - math.sqrt(max(0.0, 1 - 2 * ahead / ahead_days)))
    return START + timedelta(days=days)


def _rows(first: int, count: int, plan: Dataset, seed: int = 7) -> list[tuple[Any, ...]]:
    """Rows `first`..`first + count - 1` of `total`, in `scheduled_at` order (give or take a few
    hours: the table's physical order is roughly the order sessions were booked in)."""
    rng = random.Random(seed * 1_000_003 + first)
    total = plan.rows
    booked_ahead = timedelta(days=max(1, plan.ahead_days))
    past, running, future = _picker(PAST), _picker(RUNNING), _picker(FUTURE)
    rows = []
    for n in range(first, first + count):
        at = _scheduled(n / total, plan.ahead_days) + timedelta(seconds=rng.randrange(0, 4 * 3600))
        tenant = _skewed(rng, TENANTS, 2.0)
        u = rng.random()
        # Even tenants are Indian (Razorpay), odd ones international (Stripe); a few sessions
        # go through the other provider or the sandbox.
        primary = "razorpay" if tenant % 2 == 0 else "stripe"
        other = "stripe" if primary == "razorpay" else "razorpay"
        provider = primary if u < 0.9 else other if u < 0.98 else "sandbox"
        currency = "USD" if provider == "stripe" else "INR"
        amount = rng.choice(PRICES[currency])
        if at < NOW - timedelta(hours=2):
            status = past(rng)
        elif at < NOW:
            status = running(rng)
        else:
            status = future(rng)
        # Booked an hour to `ahead_days` ahead, and never after `NOW`.
        least = max(timedelta(hours=1), at - NOW + timedelta(minutes=1))
        lead = least + (max(booked_ahead, least + timedelta(hours=1)) - least) * rng.random()
        booked = at - lead
        updated = min(at + timedelta(minutes=rng.randrange(30, 120)), NOW) if at < NOW else booked
        updated = max(updated, booked)
        bits = rng.getrandbits(80)
        ref = {
            "stripe": "pi_",
            "razorpay": "pay_",
            "sandbox": "sbx_pay_",
        }[provider] + _ulid("", booked, bits)[:20]
        refund: tuple[Any, ...] = (None, None, None, None, None)
        if status == "refunded":
            refunded_at = updated
            refund_id = {"stripe": "re_", "razorpay": "rfnd_", "sandbox": "sbx_rf_"}[provider]
            refund = (
                refund_id + _ulid("", refunded_at, bits ^ 0xFFFF)[:20],
                "succeeded",
                amount,
                provider,
                refunded_at,
            )
        rows.append(
            (
                _ulid("mso_", booked, bits),
                tenant_id(tenant),
                f"pat_{tenant:02d}_{_skewed(rng, 40_000, 1.3):05d}",
                f"case_{tenant:02d}_{rng.randrange(1_000_000):06d}",
                f"msd_{tenant:02d}_{_skewed(rng, 60, 1.5):02d}",
                at,
                status,
                amount,
                currency,
                provider,
                ref,
                *refund,
                0,
                None,
                booked,
                updated,
            )
        )
    return rows


async def _copy_chunks(owner_url: str, chunks: Sequence[tuple[int, int]], plan: Dataset) -> int:
    connection = await _connect(owner_url)
    copied = 0
    try:
        for first, count in chunks:
            rows = _rows(first, count, plan)
            await connection.copy_records_to_table(
                "mso_sessions", records=rows, columns=COLUMNS, schema_name=SCHEMA
            )
            copied += len(rows)
    finally:
        await connection.close()
    return copied


def _load_part(owner_url: str, chunks: Sequence[tuple[int, int]], plan: Dataset) -> int:
    return asyncio.run(_copy_chunks(owner_url, chunks, plan))


async def reset_schema(owner_url: str) -> None:
    await fresh_schema(owner_url, SCHEMA, APP_ROLE, _engine(owner_url, 1))


async def _add_tenants(connection: asyncpg.Connection) -> None:
    at = START - timedelta(days=30)
    ids = [tenant_id(n) for n in range(TENANTS)] + [REFUND_TENANT]
    await connection.copy_records_to_table(
        "providers",
        records=[
            (f"prv_{t}", f"Hospital {t}", "IN" if n % 2 == 0 else "US", None, at, at, None, None)
            for n, t in enumerate(ids)
        ],
        columns=(
            "id",
            "name",
            "country",
            "city",
            "created_at",
            "updated_at",
            "specialties",
            "languages",
        ),
        schema_name=SCHEMA,
    )
    await connection.copy_records_to_table(
        "tenants",
        records=[(t, f"Hospital {t}", "active", f"prv_{t}", at, at) for t in ids],
        columns=("id", "name", "status", "provider_id", "created_at", "updated_at"),
        schema_name=SCHEMA,
    )


async def load(owner_url: str, plan: Dataset, workers: int) -> tuple[float, float]:
    """Reset the schema, COPY the sessions (secondary indexes dropped meanwhile) in `workers`
    processes, build the indexes, VACUUM ANALYZE; returns (seconds copying, seconds indexing)."""
    await reset_schema(owner_url)
    connection = await _connect(owner_url)
    try:
        await _add_tenants(connection)
        indexes = await connection.fetch(
            "select indexname, indexdef from pg_indexes where schemaname = $1 "
            "and tablename = 'mso_sessions' and indexname like 'ix_%'",
            SCHEMA,
        )
        for index in indexes:
            await connection.execute(f"DROP INDEX {index['indexname']}")
        rows = plan.rows
        chunks = [(first, min(CHUNK, rows - first)) for first in range(0, rows, CHUNK)]
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            parts = [
                loop.run_in_executor(pool, _load_part, owner_url, chunks[w::workers], plan)
                for w in range(workers)
            ]
            copied = sum(await asyncio.gather(*parts))
        if copied != rows:
            raise RuntimeError(f"copied {copied:,} sessions, expected {rows:,}")
        copy_s = time.perf_counter() - started
        started = time.perf_counter()
        await connection.execute("SET maintenance_work_mem = '512MB'")
        for index in indexes:
            await connection.execute(index["indexdef"])
        await connection.execute("VACUUM ANALYZE mso_sessions")
        await connection.execute("VACUUM ANALYZE tenants")
        await connection.execute(f"COMMENT ON TABLE mso_sessions IS '{plan.tag}'")
        return copy_s, time.perf_counter() - started
    finally:
        await connection.close()


async def loaded(owner_url: str, plan: Dataset) -> bool:
    """Whether the schema holds `plan`'s data set; first removes what earlier refund rounds
    left (their sessions and intents), so that the lists see the loaded data only."""
    connection = await _connect(owner_url)
    try:
        if not await connection.fetchval("select to_regclass('mso_sessions') is not null"):
            return False
        tag = await connection.fetchval("select obj_description('mso_sessions'::regclass)")
        if tag != plan.tag:
            return False
        removed = await connection.execute(
            "delete from mso_sessions where tenant_id = $1", REFUND_TENANT
        )
        await connection.execute(
            "delete from side_effect_intents where tenant_id = $1", REFUND_TENANT
        )
        if removed != "DELETE 0":
            await connection.execute("VACUUM ANALYZE mso_sessions")
        return int(await connection.fetchval("select count(*) from mso_sessions")) == plan.rows
    finally:
        await connection.close()


async def distribution(owner_url: str) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(tenant, sessions) and (status, sessions), most first."""
    connection = await _connect(owner_url)
    try:
        tenants = await connection.fetch(
            "select tenant_id, count(*) from mso_sessions group by 1 order by 2 desc"
        )
        statuses = await connection.fetch(
            "select status, count(*) from mso_sessions group by 1 order by 2 desc"
        )
    finally:
        await connection.close()
    return [(r[0], r[1]) for r in tenants], [(r[0], r[1]) for r in statuses]


# --------------------------------------------------------------------------- lists


@dataclass
class Shape:
    name: str
    query: ListSessionsQuery
    #: offset → one (p50, p99) per round, in ms
    rounds: dict[int, list[tuple[float, float]]] = field(default_factory=dict)
    #: offset → (items on the page, total, total_exact) of the last call
    page: dict[int, tuple[int, int, bool]] = field(default_factory=dict)
    count_ms: float = float("nan")
    exact_total: int = 0
    #: offset → the page query's (custom, generic) plans in short
    plans: dict[int, tuple[str, str]] = field(default_factory=dict)
    page_sql: str = ""
    #: how often the pooled connections ran the page statement (generic plan, custom plans)
    plan_runs: tuple[int, int] = (0, 0)

    def p(self, offset: int, which: int) -> float:
        return statistics.median(r[which] for r in self.rounds[offset])


def shapes(busiest: str, status: str) -> list[Shape]:
    week_to = (NOW - timedelta(days=30)).date()
    week_from = week_to - timedelta(days=6)  # 7 whole days, both dates inclusive
    start, stop = week_from.isoformat(), week_to.isoformat()
    return [
        Shape("none", ListSessionsQuery()),
        Shape("tenant", ListSessionsQuery(tenant_id=busiest)),
        Shape("status", ListSessionsQuery(status=status)),
        Shape("tenant+status", ListSessionsQuery(tenant_id=busiest, status=status)),
        Shape("from/to (7 d)", ListSessionsQuery(from_date=start, to_date=stop)),
        Shape(
            "tenant+from/to", ListSessionsQuery(tenant_id=busiest, from_date=start, to_date=stop)
        ),
        Shape("status+from/to", ListSessionsQuery(status=status, from_date=start, to_date=stop)),
    ]


def _p(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


_SELECT_1 = Read(sa.select(sa.literal_column("1")))


async def baseline_select_1(uow: SqlTransactions, calls: int) -> tuple[float, float]:
    """p50/p99 (ms) of a transaction of `uow` doing one `SELECT 1` round trip, the way the
    lists read (on the driver connection the transaction holds)."""

    async def one() -> None:
        async with uow() as tx:
            await _SELECT_1.rows(tx.connection, {})

    for _ in range(max(10, calls // 10)):
        await one()
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        await one()
        times.append((time.perf_counter() - started) * 1000)
    return _p(times, 0.5), _p(times, 0.99)


async def measure_shape(
    list_sessions: ListMsoSessions, principal: Principal, shape: Shape, calls: int
) -> None:
    for offset in (0, DEEP_OFFSET):
        query = replace(shape.query, limit=LIMIT, offset=offset)
        for _ in range(max(10, calls // 10)):  # warm the caches, as a running service has them
            await list_sessions.execute(principal, query)
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            page = await list_sessions.execute(principal, query)
            times.append((time.perf_counter() - started) * 1000)
        shape.rounds.setdefault(offset, []).append((_p(times, 0.5), _p(times, 0.99)))
        shape.page[offset] = (len(page.items), page.total, page.total_exact)


def _where_sql(query: ListSessionsQuery) -> tuple[str, list[Any]]:
    """The filter of `query` as SQL, for the exact count (the repository's conditions)."""
    conditions: list[str] = []
    args: list[Any] = []
    if query.tenant_id is not None:
        args.append(query.tenant_id)
        conditions.append(f"tenant_id = ${len(args)}")
    if query.status is not None:
        args.append(query.status)
        conditions.append(f"status = ${len(args)}")
    if query.from_date is not None:
        args.append(
            datetime.combine(date.fromisoformat(str(query.from_date)), datetime.min.time(), UTC)
        )
        conditions.append(f"scheduled_at >= ${len(args)}")
    if query.to_date is not None:
        args.append(
            datetime.combine(date.fromisoformat(str(query.to_date)), datetime.max.time(), UTC)
        )
        conditions.append(f"scheduled_at <= ${len(args)}")
    return (" where " + " and ".join(conditions)) if conditions else "", args


async def exact_counts(app_url: str, measured: Sequence[Shape], times: int = 5) -> None:
    """What counting every match costs (the median of `times`), as the application role."""
    connection = await _connect(app_url)
    try:
        for shape in measured:
            where, args = _where_sql(shape.query)
            spent = []
            for _ in range(times):
                started = time.perf_counter()
                shape.exact_total = int(
                    await connection.fetchval(f"select count(*) from mso_sessions{where}", *args)
                )
                spent.append((time.perf_counter() - started) * 1000)
            shape.count_ms = statistics.median(spent)
    finally:
        await connection.close()


# --------------------------------------------------------------------------- refunds


async def add_refund_sessions(owner_url: str, count: int, tag: str) -> list[str]:
    """`count` completed sessions paid through Stripe, in the refund tenant."""
    connection = await _connect(owner_url)
    now = datetime.now(UTC)
    rows = []
    for n in range(count):
        at = now - timedelta(days=2, minutes=n)
        rows.append(
            (
                f"mso_rf_{tag}_{n:05d}",
                REFUND_TENANT,
                f"pat_rf_{n % 997:04d}",
                f"case_rf_{tag}_{n:05d}",
                f"msd_rf_{n % 13:02d}",
                at,
                SessionStatus.COMPLETED.value,
                14_900,
                "USD",
                PaymentProvider.STRIPE.value,
                f"pi_bench{tag}{n:05d}",
                None,
                None,
                None,
                None,
                None,
                0,
                None,
                at - timedelta(days=7),
                at,
            )
        )
    try:
        await connection.copy_records_to_table(
            "mso_sessions", records=rows, columns=COLUMNS, schema_name=SCHEMA
        )
    finally:
        await connection.close()
    return [row[0] for row in rows]


async def refunded_count(owner_url: str, ids: Sequence[str]) -> int:
    connection = await _connect(owner_url)
    try:
        return int(
            await connection.fetchval(
                "select count(*) from mso_sessions where id = any($1::text[]) and status = $2 "
                "and refund_id is not null",
                list(ids),
                SessionStatus.REFUNDED.value,
            )
        )
    finally:
        await connection.close()


class InstantGateway(PaymentGateway):
    """Refunds every payment at once, without a provider: what the use case costs on its own
    (the database, the core, SQLAlchemy)."""

    name = "stripe"

    def __init__(self) -> None:
        self.refunds = 0

    async def refund(self, request: RefundRequest) -> Refund:
        self.refunds += 1
        return Refund(
            id=f"re_{request.key}",
            status=RefundStatus.SUCCEEDED,
            amount_minor=request.amount_minor,
            currency=request.currency,
            provider=self.name,
            created_at=datetime.now(UTC),
        )

    async def find_refund(self, request: RefundRequest) -> Refund | None:
        return None


#: A fake Stripe in a process of its own (which imports the fake only): prints its URL, then,
#: given a line on stdin, its `refunds_created`, and stops.
_FAKE_PROCESS = """
import sys
from tests.support.fake_stripe import start_fake_stripe
fake = start_fake_stripe(auto_payments=True)
print(fake.url, flush=True)
sys.stdin.readline()
print(fake.refunds_created, flush=True)
fake.stop()
"""


_WHERE = {"process": "in a process of its own", "thread": "in this process"}


class Provider:
    """A fresh provider for one measurement. `thread`: the fake Stripe in this process (a
    thread, as the tests run it: its request handling shares this process's GIL); `process`:
    the same fake in a process of its own; `instant`: no provider (`InstantGateway`)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self._fake: FakeStripe | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._instant: InstantGateway | None = None
        self._gateway: StripePaymentGateway | None = None
        self.url = ""

    async def start(self) -> PaymentGateway:
        if self.where == "instant":
            self._instant = InstantGateway()
            return self._instant
        if self.where == "thread":
            self._fake = start_fake_stripe(auto_payments=True)
            self.url = self._fake.url
            self._gateway = stripe_gateway(self._fake)
            return self._gateway
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _FAKE_PROCESS,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        self.url = await self._line()
        # The settings `tests.support.fake_stripe.stripe_gateway` gives.
        self._gateway = StripePaymentGateway(
            API_KEY, api_base=self.url, timeout_seconds=2.0, max_network_retries=1
        )
        return self._gateway

    async def stop(self) -> int:
        """Refunds the provider made."""
        if self._gateway is not None:
            await self._gateway.aclose()
        if self._instant is not None:
            return self._instant.refunds
        if self._fake is not None:
            self._fake.stop()
            return self._fake.refunds_created
        assert self._process is not None
        assert self._process.stdin is not None
        self._process.stdin.write(b"stop\n")
        await self._process.stdin.drain()
        made = int(await self._line())
        await self._process.wait()
        return made

    async def _line(self) -> str:
        assert self._process is not None
        assert self._process.stdout is not None
        line = (await self._process.stdout.readline()).decode().strip()
        if not line:
            await self._process.wait()
            raise RuntimeError(f"the fake Stripe process ended ({self._process.returncode})")
        return line


def payments_on(uow: SqlTransactions, gateway: PaymentGateway) -> SessionPayments:
    """The session use cases wired as tests/support/payments.py does, without its fault
    injection: Stripe's payments refunded by `gateway`."""
    clock = SystemClock()
    return SessionPayments(
        transactions=uow,
        refunds=SessionRefunds(GatewayRegistry({PaymentProvider.STRIPE: gateway})),
        side_effects=SideEffects(uow, clock, UlidGenerator()),
        clock=clock,
    )


async def _workers(
    items: Sequence[str], concurrency: int, one: Callable[[str], Awaitable[None]]
) -> tuple[float, float]:
    """Call `one` on every item, `concurrency` at a time; returns (seconds of wall time,
    seconds of CPU of this thread, the event loop's)."""
    queue = list(reversed(items))

    async def worker() -> None:
        while queue:
            await one(queue.pop())

    cpu = time.thread_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, time.thread_time() - cpu


@dataclass
class RefundRound:
    refunded: int
    seconds: float
    cpu_s: float
    refunds_created: int
    recorded: int  # sessions `refunded` with their refund, read back

    @property
    def rate(self) -> float:
        return self.refunded / self.seconds

    @property
    def cpu_ms(self) -> float:
        return self.cpu_s * 1000 / max(1, self.refunded)


async def refund_round(
    uow: SqlTransactions,
    owner_url: str,
    count: int,
    concurrency: int,
    *,
    where: str = "thread",
    profile: cProfile.Profile | None = None,
) -> RefundRound:
    """`count` new completed Stripe sessions, each refunded once through the use case."""
    tag = secrets.token_hex(4)
    ids = await add_refund_sessions(owner_url, count, tag)
    provider = Provider(where)
    refund = RefundSession(payments_on(uow, await provider.start()))
    principal = Principal.operator("bench", request_id=f"bench-mso-{tag}")
    done = 0

    async def one(session_id: str) -> None:
        nonlocal done
        outcome = await refund.execute(
            principal, RefundSessionCommand(session_id=session_id, reason="bench: refund")
        )
        if outcome.session.status is SessionStatus.REFUNDED and not outcome.in_progress:
            done += 1

    try:
        if profile is not None:
            profile.enable()
        seconds, cpu_s = await _workers(ids, concurrency, one)
    finally:
        if profile is not None:
            profile.disable()
        made = await provider.stop()
    recorded = await refunded_count(owner_url, ids)
    return RefundRound(done, seconds, cpu_s, made, recorded)


async def gateway_alone(count: int, concurrency: int, where: str) -> RefundRound:
    """`StripePaymentGateway.refund` alone (no database), `count` distinct payments."""
    tag = secrets.token_hex(4)
    provider = Provider(where)
    gateway = await provider.start()
    done = 0

    async def one(n: str) -> None:
        nonlocal done
        await gateway.refund(
            RefundRequest(
                key=f"mso-refund-gw-{tag}-{n}",
                session_id=f"mso_gw_{tag}_{n}",
                payment_ref=f"pi_gw{tag}{n}",
                amount_minor=14_900,
                currency="USD",
                reason="bench",
            )
        )
        done += 1

    try:
        seconds, cpu_s = await _workers([f"{n:05d}" for n in range(count)], concurrency, one)
    finally:
        made = await provider.stop()
    return RefundRound(done, seconds, cpu_s, made, done)


async def raw_posts(count: int, concurrency: int, where: str = "thread") -> RefundRound:
    """Bare refund POSTs at a fresh fake, like the ones the SDK sends (a form body with
    metadata, an idempotency key each), with httpx."""
    provider = Provider(where)
    await provider.start()
    tag = secrets.token_hex(4)
    done = 0
    try:
        async with httpx.AsyncClient(
            base_url=provider.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10.0
        ) as client:

            async def one(n: str) -> None:
                nonlocal done
                key = f"mso-refund-raw-{tag}-{n}"
                response = await client.post(
                    "/v1/refunds",
                    data={
                        "payment_intent": f"pi_raw{tag}{n}",
                        "amount": "14900",
                        "reason": "requested_by_customer",
                        "metadata[session_id]": f"mso_raw_{n}",
                        "metadata[idempotency_key]": key,
                    },
                    headers={"Idempotency-Key": key},
                )
                response.raise_for_status()
                response.json()
                done += 1

            seconds, cpu_s = await _workers([f"{n:05d}" for n in range(count)], concurrency, one)
    finally:
        made = await provider.stop()
    return RefundRound(done, seconds, cpu_s, made, done)


async def round_trips_alone(
    uow: SqlTransactions, count: int, concurrency: int, shape: Sequence[int] = (5, 7, 1)
) -> RefundRound:
    """What the use case's round trips cost alone: per refund, transactions of `shape`
    bare `SELECT 1`s each (on the driver connection, as the lists read), no statement built
    or executed by SQLAlchemy, no core."""

    async def one(_item: str) -> None:
        for trips in shape:
            async with uow() as tx:
                for _ in range(trips):
                    await _SELECT_1.rows(tx.connection, {})

    seconds, cpu_s = await _workers([f"{n}" for n in range(count)], concurrency, one)
    return RefundRound(count, seconds, cpu_s, 0, count)


class StatementCount:
    """Round trips an engine makes: statements SQLAlchemy runs, statements run on the driver
    directly (`Read`, the audit append), pool checkouts."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.counts: dict[str, int] = {}
        sync = engine.sync_engine
        sa.event.listen(sync, "before_cursor_execute", self._statement)
        sa.event.listen(sync, "checkout", self._checkout)
        sa.event.listen(sync, "connect", self._connect)

    def _add(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def _statement(self, _c: Any, _cur: Any, statement: str, *_: Any) -> None:
        self._add(_label(statement))

    def _checkout(self, *_: Any) -> None:
        self._add("(pool checkout)")

    def _connect(self, dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(lambda q: self._add(_label(q.query)))


def _label(statement: str) -> str:
    """`SELECT … FROM t FOR UPDATE`, `UPDATE t`, `INSERT INTO t`, `BEGIN`, `COMMIT`."""
    words = statement.replace(";", " ").split()
    verb = words[0].upper() if words else "?"
    upper = [w.upper() for w in words]
    if verb == "SELECT" and "FROM" in upper:
        table = words[upper.index("FROM") + 1]
        return f"SELECT {table}" + (" FOR UPDATE" if "UPDATE" in upper[-3:] else "")
    if verb in ("INSERT", "UPDATE", "DELETE"):
        return " ".join(words[:3] if verb in ("INSERT", "DELETE") else words[:2])
    return verb


# --------------------------------------------------------------------------- where time goes


class LoggedLists:
    """The list use case on an engine of one connection whose driver logs every statement it
    runs (its SQL, its arguments, its time as the client saw it)."""

    def __init__(self, app_url: str) -> None:
        self.logged: list[Any] = []
        self.engine = _engine(app_url, 1)
        sa.event.listen(self.engine.sync_engine, "connect", self._connect)
        uow = SqlTransactions(self.engine, SystemClock(), UlidGenerator())
        self.lists = ListMsoSessions(payments_on(uow, _NoGateway()))

    def _connect(self, dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(self.logged.append)

    async def call(self, shape: Shape, offset: int) -> tuple[float, list[tuple[str, Any, float]]]:
        """(ms of the whole call, [(sql, args, ms)]) of one call, its statements prepared."""
        query = replace(shape.query, limit=LIMIT, offset=offset)
        principal = Principal.operator("bench")
        await self.lists.execute(principal, query)
        self.logged.clear()
        started = time.perf_counter()
        await self.lists.execute(principal, query)
        total_ms = (time.perf_counter() - started) * 1000
        return total_ms, [(q.query, q.args, q.elapsed * 1000) for q in self.logged]

    async def explain(self, sql: str, args: Any, options: str) -> list[Any]:
        async with self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            return list(await driver.fetch(f"EXPLAIN ({options}) {sql}", *args))

    async def aclose(self) -> None:
        await self.engine.dispose()


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node]
    for child in node.get("Plans", []):
        found += _nodes(child)
    return found


def _plan_summary(raw: Any) -> str:
    document = (json.loads(raw) if isinstance(raw, str) else raw)[0]
    parts = []
    for node in _nodes(document["Plan"]):
        kind = node["Node Type"]
        if kind == "Limit":
            continue
        if "Index Name" in node:
            backward = " backward" if node.get("Scan Direction") == "Backward" else ""
            kind = f"{kind}{backward} on {node['Index Name'].removeprefix('ix_mso_sessions_')}"
        if "Filter" in node:
            kind += f", filter drops {node.get('Rows Removed by Filter', 0):,}"
        parts.append(kind)
    return f"{' > '.join(parts)}: {document['Execution Time']:.1f} ms"


def _literal(value: Any) -> str:
    """`value` as an SQL literal, for `EXECUTE` (which takes no bind parameters)."""
    if isinstance(value, bool | int | float):
        return str(value)
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text.replace("'", "''") + "'"


async def page_plans(app_url: str, measured: Sequence[Shape]) -> None:
    """The plans PostgreSQL may run each page query with (EXPLAIN ANALYZE, in short): the
    custom plan (made for the values) and the generic one (made for any values), which a
    prepared statement — asyncpg prepares every statement — may switch to after its fifth
    execution, when the planner estimates it no dearer than the custom plans so far."""
    logged = LoggedLists(app_url)
    try:
        for shape in measured:
            for offset in (0, DEEP_OFFSET):
                _, statements = await logged.call(shape, offset)
                sql, args, _ = next(s for s in statements if "ORDER BY" in s[0].upper())
                shape.page_sql = sql
                [custom] = await logged.explain(sql, args, "ANALYZE, FORMAT JSON")
                async with logged.engine.connect() as connection:
                    raw = await connection.get_raw_connection()
                    driver = raw.driver_connection
                    assert driver is not None
                    await driver.execute("SET plan_cache_mode = force_generic_plan")
                    await driver.execute(f"PREPARE bench_page AS {sql}")
                    try:
                        values = ", ".join(_literal(a) for a in args)
                        generic = await driver.fetchval(
                            f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE bench_page({values})"
                        )
                    finally:
                        await driver.execute("DEALLOCATE bench_page")
                        await driver.execute("RESET plan_cache_mode")
                shape.plans[offset] = (_plan_summary(custom[0]), _plan_summary(generic))
    finally:
        await logged.aclose()


async def plans_run(uow: SqlTransactions, measured: Sequence[Shape]) -> None:
    """How often the pooled connections ran each shape's page statement with its generic
    plan and with custom plans (`pg_prepared_statements`, on every connection of the pool)."""
    barrier = asyncio.Barrier(DEFAULT_POOL_SIZE)
    found: list[tuple[str, int, int]] = []

    async def one() -> None:
        async with uow() as tx:
            driver = await driver_connection(tx.connection)
            rows = await driver.fetch(
                "select statement, generic_plans, custom_plans from pg_prepared_statements"
            )
            found.extend((r[0], r[1], r[2]) for r in rows)
            await barrier.wait()  # every connection of the pool is held at once

    await asyncio.gather(*(one() for _ in range(DEFAULT_POOL_SIZE)))
    for shape in measured:
        runs = [(g, c) for sql, g, c in found if sql == shape.page_sql]
        shape.plan_runs = (sum(g for g, _ in runs), sum(c for _, c in runs))


async def explain_list(app_url: str, shape: Shape, offset: int) -> list[str]:
    """One call of the list through the use case, its statements as the client timed them,
    then EXPLAIN ANALYZE of each."""
    logged = LoggedLists(app_url)
    lines = [f"{shape.name}, offset {offset:,}: statements of one call, as the client timed them"]
    try:
        total_ms, statements = await logged.call(shape, offset)
        for sql, _, ms in statements:
            lines.append(f"  {ms:7.2f} ms  {' '.join(sql.split())[:150]}")
        lines.append(f"  {total_ms:7.2f} ms  the whole call")
        for sql, args, _ in statements:
            if sql.lstrip().upper().startswith("EXPLAIN"):
                continue
            plan = await logged.explain(sql, args, "ANALYZE, BUFFERS")
            lines.append(f"  EXPLAIN ANALYZE {' '.join(sql.split())[:90]} ...")
            lines += [f"    {row[0]}" for row in plan]
    finally:
        await logged.aclose()
    return lines


class _NoGateway(PaymentGateway):
    name = "none"

    async def refund(self, request: RefundRequest) -> Refund:
        raise NotImplementedError

    async def find_refund(self, request: RefundRequest) -> Refund | None:
        raise NotImplementedError


def _profile_lines(profile: cProfile.Profile, refunds: int, top: int = 15) -> list[str]:
    """Own time per refund by package, then the functions with the most own time."""
    stats = pstats.Stats(profile)
    packages: dict[str, float] = {}
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (path, _line, name), (_cc, _nc, own, _cum, _callers) in raw.items():
        where = str(path)
        if "site-packages/" in where:
            where = where.split("site-packages/")[1].split("/")[0]
        elif "/src/" in where:
            where = "/".join(where.split("/src/")[1].split("/")[:2])
        elif where == "~":
            where = name.split(" of ")[-1].strip("<>'") if " of " in name else "builtins"
        elif "/lib/python3" in where:
            where = "stdlib " + where.split("/")[-1].removesuffix(".py")
        packages[where] = packages.get(where, 0.0) + own
    total = sum(packages.values())
    lines = [f"  own time per refund by package (of {total * 1000 / refunds:.1f} ms profiled):"]
    for where, own in sorted(packages.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"    {own * 1000 / refunds:6.2f} ms  {own / total:5.1%}  {where}")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(top)
    body = [line for line in out.getvalue().splitlines() if line.strip()]
    start = next((i for i, line in enumerate(body) if "ncalls" in line), 0)
    lines.append(f"  top {top} functions by own time:")
    lines += [f"  {line}" for line in body[start:]]
    return lines


async def refunds_breakdown(
    app_url: str, owner_url: str, count: int, concurrency: int, profiled: int = 200
) -> list[str]:
    """One round of each piece of a refund on its own, then cProfile of `profiled` refunds."""
    engine = _engine(app_url)
    uow = SqlTransactions(engine, SystemClock(), UlidGenerator())
    counted = StatementCount(engine)
    rows: list[tuple[str, RefundRound]] = []
    try:
        rows.append(
            (
                "use case, fake in this process (as above)",
                await refund_round(uow, owner_url, count, concurrency),
            )
        )
        rows.append(
            (
                "use case, fake in a process of its own",
                await refund_round(uow, owner_url, count, concurrency, where="process"),
            )
        )
        counted.counts.clear()
        rows.append(
            (
                "use case, no provider (InstantGateway)",
                await refund_round(uow, owner_url, count, concurrency, where="instant"),
            )
        )
        statements = dict(counted.counts)
        shape = (5, 7, 1)  # the use case's round trips per transaction (counted below)
        rows.append(
            (
                f"{sum(shape)} bare SELECT 1 round trips in {len(shape)} transactions",
                await round_trips_alone(uow, count, concurrency, shape),
            )
        )
        rows.append(
            (
                "StripePaymentGateway.refund alone, fake in own process",
                await gateway_alone(count, concurrency, "process"),
            )
        )
        rows.append(
            (
                "raw httpx POST alone, fake in own process",
                await raw_posts(count, concurrency, "process"),
            )
        )
        profile = cProfile.Profile()
        profiled_round = await refund_round(uow, owner_url, profiled, concurrency, profile=profile)
    finally:
        await engine.dispose()
    lines = [
        f"Where the time goes: refunds, one round of {count:,} each, {concurrency} concurrent "
        f"({os.cpu_count()} cores shared by this process, PostgreSQL and a fake in its own "
        "process; CPU ms: this process's event-loop thread per refund)"
    ]
    for name, result in rows:
        lines.append(
            f"  {name:<50} {result.rate:>6,.0f}/s  {result.cpu_ms:>6.2f} CPU ms  "
            f"(ceiling at one core: {1000 / result.cpu_ms:,.0f}/s)"
        )
    per = {k: v / count for k, v in sorted(statements.items(), key=lambda kv: -kv[1])}
    lines.append(
        "  database work per refund: " + ", ".join(f"{n:.0f}× {what}" for what, n in per.items())
    )
    lines.append(
        f"cProfile of {profiled} refunds (fake in this process, {concurrency} concurrent): "
        f"{profiled_round.rate:,.0f}/s under the profiler"
    )
    lines += _profile_lines(profile, profiled)
    return lines


# --------------------------------------------------------------------------- the run


async def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench mso")
    parser.add_argument("--rows", type=_size, default=1_000_000, help="sessions (100k, 1m)")
    parser.add_argument("--reuse", action="store_true", help="keep an already loaded schema")
    parser.add_argument(
        "--ahead-days",
        type=int,
        default=30,
        help="how far ahead sessions are booked (the newest rows: scheduled, not completed)",
    )
    parser.add_argument("--load-workers", type=int, default=min(4, os.cpu_count() or 2))
    parser.add_argument("--calls", type=int, default=200, help="timed calls per shape and page")
    parser.add_argument("--rounds", type=int, default=3, help="list rounds (median reported)")
    parser.add_argument("--refunds", type=int, default=2000, help="sessions refunded per round")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent refunds")
    parser.add_argument("--refund-rounds", type=int, default=3)
    parser.add_argument(
        "--fake",
        choices=["process", "thread"],
        default="process",
        help="where the fake Stripe runs: a process of its own, as a remote provider is"
        " (default), or a thread of this process (sharing its GIL)",
    )
    parser.add_argument("--no-lists", action="store_true")
    parser.add_argument("--no-refunds", action="store_true")
    args = parser.parse_args(argv)

    owner_url = _setting("ADMIN_TEST_POSTGRES_BENCH_OWNER_URL")
    app_url = _setting("ADMIN_TEST_POSTGRES_BENCH_URL")
    load_start = os.getloadavg()[0]

    plan = Dataset(args.rows, args.ahead_days)
    if args.reuse and await loaded(owner_url, plan):
        print(f"reusing {plan.rows:,} sessions in schema {SCHEMA} ({plan.tag})", flush=True)
    else:
        print(
            f"loading {args.rows:,} sessions across {TENANTS} tenants, booked up to "
            f"{plan.ahead_days} days ahead ...",
            flush=True,
        )
        copy_s, index_s = await load(owner_url, plan, args.load_workers)
        print(
            f"  generated and copied in {copy_s:.1f} s ({args.rows / copy_s:,.0f} rows/s); "
            f"indexes built and vacuumed in {index_s:.1f} s",
            flush=True,
        )
    tenants, statuses = await distribution(owner_url)
    busiest = tenants[0][0]
    status = statuses[0][0]

    engine = _engine(app_url)
    uow = SqlTransactions(engine, SystemClock(), UlidGenerator())
    status_code = 0
    measured = shapes(busiest, status)
    base: list[tuple[float, float]] = []
    refunds: list[RefundRound] = []
    raws: list[RefundRound] = []
    try:
        if not args.no_lists:
            list_sessions = ListMsoSessions(payments_on(uow, _NoGateway()))
            principal = Principal.operator("bench", request_id="bench-mso")
            for r in range(args.rounds):
                base.append(await baseline_select_1(uow, args.calls))
                for shape in measured:
                    await measure_shape(list_sessions, principal, shape, args.calls)
                print(f"  list round {r + 1}/{args.rounds} done", flush=True)
            await page_plans(app_url, measured)  # on an engine of its own: the pool as it was
            await plans_run(uow, measured)
            await exact_counts(app_url, measured)
        if not args.no_refunds:
            where = args.fake
            await refund_round(uow, owner_url, min(64, args.refunds), args.concurrency, where=where)
            for r in range(args.refund_rounds):
                result = await refund_round(
                    uow, owner_url, args.refunds, args.concurrency, where=where
                )
                refunds.append(result)
                raws.append(await raw_posts(args.refunds, args.concurrency, where=where))
                print(
                    f"  refund round {r + 1}/{args.refund_rounds}: {result.rate:,.0f}/s "
                    f"through the use case, {raws[-1].rate:,.0f}/s raw POSTs",
                    flush=True,
                )
    finally:
        await engine.dispose()

    # ------------------------------------------------------------------ report
    print()
    slow_first: list[Shape] = []
    slow_deep: list[Shape] = []
    if not args.no_lists:
        base50 = statistics.median(b[0] for b in base)
        base99 = statistics.median(b[1] for b in base)
        total_rows = sum(n for _, n in tenants)
        print(
            f"MSO session lists on PostgreSQL: {total_rows:,} sessions, {len(tenants)} tenants "
            f"(busiest {busiest}: {tenants[0][1]:,}), limit {LIMIT}; ListMsoSessions.execute "
            f"(SQL adapter, application role), {args.calls} timed calls per row and round, "
            f"median of {args.rounds} rounds; {os.cpu_count()} cores"
        )
        header = (
            f"{'filter shape':<16} {'offset':>6} {'p50':>8} {'p99':>8} {'p50×base':>8} "
            f"{'p99×base':>8} {'rows':>5} {'total':>10} {'exact':>5} {'count(*)':>10} "
            f"{'matches':>9}  {'p99 ≤ 20 ms':<11}"
        )
        print(header)
        print("-" * len(header))
        for shape in measured:
            for offset in (0, DEEP_OFFSET):
                p50, p99 = shape.p(offset, 0), shape.p(offset, 1)
                items, total, exact = shape.page[offset]
                if offset == 0:
                    verdict = "ok" if p99 <= TARGET_FIRST_P99_MS else "MISSED"
                    if p99 > TARGET_FIRST_P99_MS:
                        slow_first.append(shape)
                else:
                    verdict = "(no target)" if p99 <= TARGET_FIRST_P99_MS else "(over)"
                    if p99 > TARGET_FIRST_P99_MS:
                        slow_deep.append(shape)
                count = f"{shape.count_ms:.1f} ms" if offset == 0 else ""
                matches = f"{shape.exact_total:,}" if offset == 0 else ""
                print(
                    f"{shape.name if offset == 0 else '':<16} {offset:>6,} {p50:>6.2f}ms "
                    f"{p99:>6.2f}ms {p50 / base50:>8.1f} {p99 / base99:>8.1f} {items:>5} "
                    f"{total:>10,} {'yes' if exact else 'est.':>5} {count:>10} {matches:>9}  "
                    f"{verdict:<11}"
                )
        print(
            f"{'baseline':<16} {'':>6} {base50:>6.2f}ms {base99:>6.2f}ms {1:>8.1f} {1:>8.1f}  "
            "(a transaction of the same SqlTransactions, one SELECT 1 round trip)"
        )
        week_shape = measured[4].query
        print(
            f"(ms, wall time per call; values: tenant {busiest}, status {status}, "
            f"from/to {week_shape.from_date}..{week_shape.to_date} inclusive; rows: items on "
            f"the page; total/exact: the page's `total` and `total_exact` (exact up to "
            f"{EXACT_TOTAL_UP_TO:,} matches, PostgreSQL's planner estimate beyond); "
            "count(*): what an exact count of the shape costs on its own (median of 5); "
            "matches: that count)"
        )
        estimated = [s for s in measured if not s.page[0][2]]
        if estimated:
            worst = max(estimated, key=lambda s: s.count_ms)
            print(
                f"total: exact only up to {EXACT_TOTAL_UP_TO:,} matches — counting "
                f"{worst.exact_total:,} matches ({worst.name}) costs {worst.count_ms:.0f} ms "
                "on its own, so a page of a larger result carries the planner's estimate "
                "(`total_exact: false`); estimate vs count: "
                + ", ".join(f"{s.name} {s.page[0][1]:,}/{s.exact_total:,}" for s in estimated)
            )
        print(
            "plans of the page query, EXPLAIN ANALYZE with the values (custom) and for any "
            "values (generic), time in PostgreSQL; `ran`: how often the pool's prepared "
            "statement ran each kind in the measurement (pg_prepared_statements):"
        )
        for shape in measured:
            generic_runs, custom_runs = shape.plan_runs
            print(
                f"  {shape.name:<15} ran generic {generic_runs:,}×, custom {custom_runs:,}× "
                "(both offsets)"
            )
            for offset in (0, DEEP_OFFSET):
                custom, generic = shape.plans[offset]
                print(f"    offset {offset:>6,}  custom: {custom}")
                print(f"    {'':>13}  generic: {generic}")
        deep = [s for s in measured if s.page[DEEP_OFFSET][0] == 0]
        if deep:
            print(
                "offset 10,000 past the end of the matches (an empty page, every match read): "
                + ", ".join(s.name for s in deep)
            )
        if slow_deep:
            print(
                f"offset {DEEP_OFFSET:,} over {TARGET_FIRST_P99_MS:.0f} ms: an offset page reads "
                f"and drops every row before it ({DEEP_OFFSET:,}, plus whatever its plan "
                "filters out, above); the sessions list pages by offset only (no cursor, unlike "
                "the audit log), so a deep page costs what its offset costs"
            )
        first_met = not slow_first
        print(
            f"target first page p99 ≤ {TARGET_FIRST_P99_MS:.0f} ms, every shape: "
            f"{'met' if first_met else 'MISSED'}; pages at offset {DEEP_OFFSET:,} over "
            f"{TARGET_FIRST_P99_MS:.0f} ms: {', '.join(s.name for s in slow_deep) or 'none'}"
        )
        if not first_met:
            status_code = 1
        print()

    if not args.no_refunds:
        rate = statistics.median(r.rate for r in refunds)
        raw_rate = statistics.median(r.rate for r in raws)
        print(
            "Refunds through RefundSession.execute: StripePaymentGateway"
            f" (SDK {_sdk()}) on the local fake Stripe ({_WHERE[args.fake]}, a fresh one per"
            f" round), {args.refunds:,} distinct completed sessions per round,"
            f" {args.concurrency} concurrent, engine pool "
            f"{DEFAULT_POOL_SIZE}; median of {args.refund_rounds} rounds; {os.cpu_count()} cores"
        )
        header = (
            f"{'path':<42} {'per s':>7} {'min–max':>11} {'× raw':>6} {'ms/refund':>9} "
            f"{'CPU ms':>7} {'refunds made':>15}"
        )
        print(header)
        print("-" * len(header))
        for name, rows in (
            ("RefundSession.execute → StripePaymentGateway", refunds),
            ("baseline: raw POST /v1/refunds (httpx)", raws),
        ):
            median = statistics.median(r.rate for r in rows)
            spread = f"{min(r.rate for r in rows):,.0f}–{max(r.rate for r in rows):,.0f}"
            made = "/".join(str(r.refunds_created) for r in rows)
            print(
                f"{name:<42} {median:>7,.0f} {spread:>11} {median / raw_rate:>6.2f} "
                f"{1000 / median:>9.2f} {statistics.median(r.cpu_ms for r in rows):>7.2f} "
                f"{made:>15}"
            )
        consistent = all(
            r.refunded == r.refunds_created == r.recorded == args.refunds for r in refunds
        )
        print(
            "(per s: distinct sessions refunded per second of wall time; ms/refund: wall time "
            f"÷ refunds at concurrency {args.concurrency}; CPU ms: CPU of this process's "
            "event-loop thread per refund (the fake's own threads not counted); refunds made: "
            "the fake's `refunds_created`, per round)"
        )
        print(
            f"every round: refunded = fake's refunds_created = sessions read back refunded = "
            f"{args.refunds:,}: {'yes' if consistent else 'NO'}"
        )
        met = rate >= TARGET_REFUNDS_PER_S and consistent
        print(
            f"target ≥ {TARGET_REFUNDS_PER_S:.0f} sessions refunded/s: {rate:,.0f}, "
            f"{'met' if met else 'MISSED'}"
        )
        if not met:
            status_code = 1
        print()

    print(f"load average (1 min) at start {load_start:.2f}, at end {os.getloadavg()[0]:.2f}")

    # ------------------------------------------------------------------ where the time goes
    if slow_first or slow_deep:
        print()
        print("Where the time goes: lists over 20 ms")
        for shape in slow_first:
            for line in await explain_list(app_url, shape, 0):
                print(line)
        if slow_deep:
            worst = max(slow_deep, key=lambda s: s.p(DEEP_OFFSET, 1))
            for line in await explain_list(app_url, worst, DEEP_OFFSET):
                print(line)
    if not args.no_refunds and statistics.median(r.rate for r in refunds) < TARGET_REFUNDS_PER_S:
        print()
        for line in await refunds_breakdown(app_url, owner_url, args.refunds, args.concurrency):
            print(line)
    return status_code


def _sdk() -> str:
    import stripe

    return str(stripe.VERSION)
