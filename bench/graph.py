"""Graph rebuild benchmark: PostgreSQL source → real Neo4j.

Loads a synthetic directory (PostgreSQL `COPY`) at each size, rebuilds the projection into an
empty graph with `RebuildProjection` (the first projection: labels and types are created in
bulk), then again onto the full graph ('warm': the steady case, every item merged, stamped
and swept), and prints items/s (nodes + relationships written), the Python process's peak
RSS, and the CPU time per item of the Python process and of the Neo4j server during each
rebuild. In the same run, a naive baseline writes a 2,000-entity set one row per
transaction; the table prints each size's speed-up over it.

    python -m bench graph -- --sizes 10k,100k,1m [--batch-size 5000] [--concurrency 2] [--no-warm]
        [--server-warmup 2] [--warmup-size 100k]

Before measuring, it projects a 100k set a few times unreported, each time into an empty
graph and again onto the full one (`--server-warmup` rounds of `--warmup-size`): a freshly
started Neo4j runs its first rebuilds at half speed or less while its JIT compiles the hot
paths of both, and a server in service has long passed that point (docs/adr/0023).

Needs `make services` (ADMIN_TEST_POSTGRES_BENCH_OWNER_URL, ADMIN_TEST_POSTGRES_BENCH_URL,
ADMIN_TEST_NEO4J_URL, read from the environment or var/services.env; the Neo4j CPU column
reads the pid `make services` wrote, or the file ADMIN_TEST_NEO4J_PID_FILE names).
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import resource
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import neo4j
import sqlalchemy as sa

from adapters.memory.graph import InProcessRebuildLock
from adapters.neo4j.graph import Neo4jGraphProjection, create_driver
from adapters.sql.directory import SqlDirectoryBulkLoader
from adapters.sql.engine import create_engine
from adapters.sql.migrate import upgrade
from adapters.sql.projection import SqlProjectionSource
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.graph.model import GraphScope, NodeLabel, RelType
from admin_core.graph.use_cases import RebuildCommand
from admin_core.kernel.principal import Principal
from bench.services import ROOT
from bench.services import setting as _setting
from bench.synthetic_directory import LoadSyntheticDirectory, SyntheticPlan
from entrypoints.container.graph import CollectorSparingRebuild

NEO4J_LOCK = ROOT / "var" / "neo4j.lock"  # shared with the tests (tests/support/graph.py)
#: The Neo4j process whose CPU the table shows: the one `make services` started, unless
#: ADMIN_TEST_NEO4J_PID_FILE names another (a server started by hand for an experiment).
NEO4J_PID = Path(
    os.environ.get("ADMIN_TEST_NEO4J_PID_FILE") or ROOT / "var" / "services" / "neo4j.pid"
)
CATALOGUE_TABLES = (
    "doctor_procedures",
    "provider_procedures",
    "provider_accreditations",
    "doctors",
    "procedures",
    "accreditations",
)
TARGET_ITEMS_PER_S = 50_000
TARGET_RATIO = 50
TARGET_RSS_MB = 300


def _size(text: str) -> int:
    text = text.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * factor)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@asynccontextmanager
async def peak_rss() -> AsyncIterator[Callable[[], float]]:
    """Samples this process's RSS every 20 ms; yields a function giving the peak so far."""
    peak = _rss_mb()
    running = True

    async def sample() -> None:
        nonlocal peak
        while running:
            peak = max(peak, _rss_mb())
            await asyncio.sleep(0.02)

    task = asyncio.create_task(sample())
    try:
        yield lambda: peak
    finally:
        running = False
        await task
        peak = max(peak, _rss_mb())


def _neo4j_cpu_s() -> float | None:
    """CPU time (user + system) of the Neo4j process `make services` started, if it runs
    on this machine."""
    try:
        pid = int(NEO4J_PID.read_text().strip())
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Rebuilt:
    nodes: int
    relationships: int
    seconds: float
    peak_rss_mb: float
    python_cpu_s: float
    neo4j_cpu_s: float | None


@dataclass
class Row:
    name: str
    entities: int
    rebuilt: Rebuilt

    @property
    def items(self) -> int:
        return self.rebuilt.nodes + self.rebuilt.relationships

    @property
    def items_per_s(self) -> float:
        return self.items / self.rebuilt.seconds

    def cpu_us_per_item(self, seconds: float | None) -> str:
        return "" if seconds is None else f"{seconds * 1e6 / self.items:.1f}"


async def reset_source(owner_url: str) -> None:
    await upgrade(owner_url, app_role="admin_app")
    engine = create_engine(owner_url)
    try:
        async with engine.begin() as conn:
            tables = ", ".join(CATALOGUE_TABLES)
            await conn.execute(sa.text(f"TRUNCATE {tables} CASCADE"))
            await conn.execute(
                sa.text(
                    "DELETE FROM tenants WHERE provider_id IN "
                    "(SELECT id FROM providers WHERE id LIKE 'prv_syn_%')"
                )
            )
            await conn.execute(sa.text("DELETE FROM providers WHERE id LIKE 'prv_syn_%'"))
    finally:
        await engine.dispose()


async def load_source(owner_url: str, entities: int) -> tuple[SyntheticPlan, float]:
    """Synthetic rows by COPY, plus a tenant for one provider in a hundred."""
    await reset_source(owner_url)
    engine = create_engine(owner_url)
    started = time.perf_counter()
    try:
        loader = LoadSyntheticDirectory(SqlDirectoryBulkLoader(engine), SystemClock())
        plan = await loader.execute(entities)
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO tenants (id, name, status, provider_id, created_at, updated_at) "
                    "SELECT 'syn-' || id, name, 'active', id, now(), now() FROM providers "
                    "WHERE id LIKE 'prv_syn_%00'"
                )
            )
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text("ANALYZE"))
    finally:
        await engine.dispose()
    return plan, time.perf_counter() - started


async def rebuild(
    app_url: str, graph: Neo4jGraphProjection, batch_size: int, concurrency: int
) -> Rebuilt:
    engine = create_engine(app_url)
    try:
        # As the entrypoints run it: with the garbage collector tuned for a rebuild.
        use_case = CollectorSparingRebuild(
            source=SqlProjectionSource(engine),
            graph=graph,
            lock=InProcessRebuildLock(),
            transactions=SqlTransactions(engine, SystemClock(), UlidGenerator()),
            ids=UlidGenerator(),
            batch_size=batch_size,
            concurrency=concurrency,
        )
        actor = Principal.operator("bench", request_id="bench")
        async with peak_rss() as peak:
            neo4j_before, python_before = _neo4j_cpu_s(), time.process_time()
            started = time.perf_counter()
            result = await use_case.execute(actor, RebuildCommand(scope=GraphScope.ALL))
            elapsed = time.perf_counter() - started
            python_cpu, neo4j_after = time.process_time() - python_before, _neo4j_cpu_s()
            rss = peak()
    finally:
        await engine.dispose()
    nodes = sum(result.counts.values())
    relationships = sum(result.relationships.values())
    if result.written != nodes + relationships:
        raise SystemExit(
            f"wrote {result.written} items but the graph holds {nodes + relationships}"
        )
    neo4j_cpu = None
    if neo4j_before is not None and neo4j_after is not None:
        neo4j_cpu = neo4j_after - neo4j_before
    return Rebuilt(nodes, relationships, elapsed, rss, python_cpu, neo4j_cpu)


_NAIVE_NODE = {
    NodeLabel.PROCEDURE: "MERGE (n:Procedure {code: $key}) SET n.tenant_id = $tenant, n += $p",
    NodeLabel.PROVIDER: "MERGE (n:Provider {id: $key}) SET n.tenant_id = $tenant, n += $p",
    NodeLabel.ACCREDITATION: "MERGE (n:Accreditation {name: $key}) SET n.tenant_id = $tenant",
    NodeLabel.DOCTOR: "MERGE (n:Doctor {id: $key}) SET n.tenant_id = $tenant, n += $p",
}


def _naive_rel(rel: RelType) -> str:
    s, e = rel.start, rel.end
    return (
        f"MATCH (a:{s.value} {{{s.key}: $s}}) MATCH (b:{e.value} {{{e.key}: $e}}) "
        f"MERGE (a)-[r:{rel.value}]->(b) SET r += $p"
    )


async def naive(app_url: str, driver: neo4j.AsyncDriver) -> tuple[int, float]:
    """The reference approach: every row in its own transaction, one statement each."""
    engine = create_engine(app_url)
    written = 0

    async def one(query: str, **params: Any) -> None:
        async def work(tx: neo4j.AsyncManagedTransaction) -> None:
            await (await tx.run(query, params)).consume()

        async with driver.session() as session:
            await session.execute_write(work)

    try:
        started = time.perf_counter()
        async with SqlProjectionSource(engine).read() as reader:
            for label in (
                NodeLabel.PROCEDURE,
                NodeLabel.PROVIDER,
                NodeLabel.ACCREDITATION,
                NodeLabel.DOCTOR,
            ):
                async for batch in reader.nodes(label, batch_size=1000):
                    for node in batch:
                        props = {k: v for k, v in node.properties.items() if v is not None}
                        await one(_NAIVE_NODE[label], key=node.key, tenant=node.tenant_id, p=props)
                        written += 1
            for rel in (RelType.OFFERS, RelType.ACCREDITED_BY, RelType.WORKS_AT, RelType.PERFORMS):
                async for rels in reader.relationships(rel, batch_size=1000):
                    for r in rels:
                        props = {k: v for k, v in r.properties.items() if v is not None}
                        await one(_naive_rel(rel), s=r.start, e=r.end, p=props)
                        written += 1
        return written, time.perf_counter() - started
    finally:
        await engine.dispose()


def _fmt(n: float) -> str:
    return f"{n:,.0f}"


async def run(argv: list[str]) -> int:
    """Holds the machine-wide Neo4j lock, so no test session wipes the graph meanwhile."""
    NEO4J_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with NEO4J_LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            return await _run(argv)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


async def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench graph")
    parser.add_argument("--sizes", default="10k,100k,1m", help="source entities, e.g. 10k,100k")
    parser.add_argument("--baseline", default="2k", help="entities of the naive baseline set")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--no-warm",
        dest="warm",
        action="store_false",
        help="skip the second rebuild of each size onto the full graph (the steady case)",
    )
    parser.add_argument(
        "--server-warmup",
        type=int,
        default=2,
        help="unreported rounds before measuring, each a rebuild into an empty graph and one "
        "onto the full graph: a freshly started Neo4j runs its first rebuilds at half speed "
        "or less, until its JIT has compiled the hot paths",
    )
    parser.add_argument("--warmup-size", default="100k", help="source entities of the warm-up set")
    args = parser.parse_args(argv)
    sizes = [_size(s) for s in args.sizes.split(",") if s.strip()]

    owner_url = _setting("ADMIN_TEST_POSTGRES_BENCH_OWNER_URL")
    app_url = _setting("ADMIN_TEST_POSTGRES_BENCH_URL")
    driver = create_driver(_setting("ADMIN_TEST_NEO4J_URL"), max_transaction_retry_time=60)
    graph = Neo4jGraphProjection(driver)
    rows: list[Row] = []
    naive_rate: float | None = None
    try:
        if args.server_warmup > 0:
            warmup = _size(args.warmup_size)
            await load_source(owner_url, warmup)
            for _ in range(args.server_warmup):
                await graph.clear()
                seconds = [
                    (await rebuild(app_url, graph, args.batch_size, args.concurrency)).seconds
                    for _ in range(2)
                ]
                print(
                    f"server warm-up: {warmup:,} entities projected in {seconds[0]:.1f} s, "
                    f"again in {seconds[1]:.1f} s",
                    flush=True,
                )
            await graph.clear()
        if not args.no_baseline:
            entities = _size(args.baseline)
            plan, load_s = await load_source(owner_url, entities)
            await graph.clear()
            await graph.ensure_constraints()
            written, naive_s = await naive(app_url, driver)
            naive_rate = written / naive_s
            print(
                f"naive baseline: {entities:,} entities, {written:,} items in {naive_s:.1f} s "
                f"= {_fmt(naive_rate)} items/s (one row per transaction)",
                flush=True,
            )
            await graph.clear()
            rebuilt = await rebuild(app_url, graph, args.batch_size, args.concurrency)
            rows.append(Row("baseline set", entities, rebuilt))
        for entities in sizes:
            plan, load_s = await load_source(owner_url, entities)
            print(
                f"{entities:,} entities loaded by COPY in {load_s:.1f} s "
                f"(~{plan.relationships:,} relationships); clearing the graph ...",
                flush=True,
            )
            await graph.clear()
            rebuilt = await rebuild(app_url, graph, args.batch_size, args.concurrency)
            row = Row(f"{entities:,}", entities, rebuilt)
            rows.append(row)
            print(
                f"  rebuilt {row.items:,} items in {rebuilt.seconds:.1f} s = "
                f"{_fmt(row.items_per_s)} items/s, peak RSS {rebuilt.peak_rss_mb:.0f} MB",
                flush=True,
            )
            if args.warm:
                rebuilt = await rebuild(app_url, graph, args.batch_size, args.concurrency)
                warm = Row(f"{entities:,} warm", entities, rebuilt)
                rows.append(warm)
                print(f"  again onto the full graph: {_fmt(warm.items_per_s)} items/s", flush=True)
        await graph.clear()
    finally:
        await graph.aclose()

    print()
    print(
        "Graph rebuild, PostgreSQL → Neo4j, into an empty graph ('warm': again onto the full "
        f"graph; batch {args.batch_size}, "
        f"{args.concurrency} transactions in flight, {os.cpu_count()} cores)"
    )
    header = (
        f"{'set':>14} {'nodes':>10} {'rels':>10} {'rebuild s':>10} {'items/s':>10} "
        f"{'× naive':>8} {'peak RSS MB':>12} {'CPU µs/item: Python':>20} {'Neo4j':>6}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = row.items_per_s / naive_rate if naive_rate else float("nan")
        r = row.rebuilt
        print(
            f"{row.name:>14} {r.nodes:>10,} {r.relationships:>10,} {r.seconds:>10.1f} "
            f"{_fmt(row.items_per_s):>10} {ratio:>8.0f} {r.peak_rss_mb:>12.0f} "
            f"{row.cpu_us_per_item(r.python_cpu_s):>20} {row.cpu_us_per_item(r.neo4j_cpu_s):>6}"
        )
    if naive_rate:
        print(f"{'naive':>14} {'':>10} {'':>10} {'':>10} {_fmt(naive_rate):>10} {1:>8} {'':>12}")
    print(
        f"process peak RSS (whole run, including data generation): "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    print()
    for row in rows:
        if row.name == "baseline set" or row.entities < 100_000:
            continue
        checks = [
            (f"≥ {TARGET_ITEMS_PER_S:,} items/s", row.items_per_s >= TARGET_ITEMS_PER_S),
            (
                f"≥ {TARGET_RATIO}× naive",
                naive_rate is None or row.items_per_s / naive_rate >= TARGET_RATIO,
            ),
        ]
        if row.entities >= 1_000_000:
            checks.append(
                (f"peak RSS < {TARGET_RSS_MB} MB", row.rebuilt.peak_rss_mb < TARGET_RSS_MB)
            )
        for name, passed in checks:
            print(f"target at {row.name}: {name}: {'met' if passed else 'MISSED'}")
    return 0
