"""Effective-flag reads at steady state (cached), through the core and through HTTP.

- In process: `ShowEffectiveFlags.execute` on the embedded container (SQLite, the demo data,
  the embedded flag store behind its read cache), a tenant's flags read again and again, as a
  service embedding the core would; against a baseline measured in the same run: the same
  number of calls of an `async` function that only returns a dict (what any read costs at
  the least). Target: ≥ 100,000 reads/s.
- Over HTTP: wrk against `GET /api/v1/admin/flags/effective?tenant_id=...` of
  `adminctl serve` (SQLite) and a bare Litestar handler, in the same run (bench/http's
  servers and load). Target: ≥ 1/3 of the bare handler's req/s.

    python -m bench flags -- [--reads 200000] [--rounds 5] [--duration 8] [--no-http]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import http as http_bench

TENANT = "apollo-chennai"
TARGET_IN_PROCESS = 100_000
ROUTE = http_bench.Route(
    f"/api/v1/admin/flags/effective?tenant_id={TENANT}",
    authenticated=True,
)


async def _baseline(calls: int) -> float:
    flags = {"enable_mso_booking": True}

    async def read() -> dict[str, bool]:
        return flags

    started = time.perf_counter()
    for _ in range(calls):
        await read()
    return calls / (time.perf_counter() - started)


async def in_process(reads: int, rounds: int) -> tuple[list[float], list[float]]:
    """(reads/s of the use case, reads/s of the baseline), one figure per round."""
    from admin_core.flags.use_cases import EffectiveFlagsQuery
    from admin_core.kernel.principal import Principal
    from entrypoints.cli.commands.system import migrate
    from entrypoints.container import aclose, build_container
    from entrypoints.demo.seed import seed_demo
    from entrypoints.settings import Settings

    with tempfile.TemporaryDirectory(prefix="bench-flags-") as tmp:
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp}/admin.db",
            local_key_path=Path(tmp) / "key.pem",
            flags_cache_seconds=3600.0,  # steady state: the cache holds the tenant's flags
        )
        await migrate(settings)
        container = build_container(settings)
        try:
            await seed_demo(container)
            show = container.flags.show_effective_flags()
            principal = Principal.operator("bench", request_id="bench-flags")
            query = EffectiveFlagsQuery(tenant_id=TENANT)
            flags = await show.execute(principal, query)
            assert flags.values, "no flags"
            core: list[float] = []
            base: list[float] = []
            for _ in range(rounds):
                started = time.perf_counter()
                for _ in range(reads):
                    await show.execute(principal, query)
                core.append(reads / (time.perf_counter() - started))
                base.append(await _baseline(reads))
            return core, base
        finally:
            await aclose(container)


async def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench flags")
    parser.add_argument("--reads", type=int, default=200_000, help="reads per in-process round")
    parser.add_argument("--rounds", type=int, default=5, help="in-process rounds")
    parser.add_argument("--http-rounds", type=int, default=3, help="wrk runs per server")
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-http", action="store_true", help="in-process reads only")
    args = parser.parse_args(argv)
    load_start = os.getloadavg()[0]

    core, base = await in_process(args.reads, args.rounds)
    median_core, median_base = statistics.median(core), statistics.median(base)
    print(
        f"in process: {args.reads:,} cached reads of one tenant's flags per round, "
        f"{args.rounds} rounds"
    )
    print(f"{'reader':<40} {'reads/s (median)':>18} {'min–max':>22} {'× baseline':>11}")
    print(
        f"{'ShowEffectiveFlags.execute':<40} {median_core:>18,.0f} "
        f"{f'{min(core):,.0f}–{max(core):,.0f}':>22} {median_core / median_base:>11.3f}"
    )
    print(
        f"{'baseline: an async call returning a dict':<40} {median_base:>18,.0f} "
        f"{f'{min(base):,.0f}–{max(base):,.0f}':>22} {1:>11.3f}"
    )
    met = median_core >= TARGET_IN_PROCESS
    print(
        f"target: ≥ {TARGET_IN_PROCESS:,} cached reads/s in process — "
        f"{median_core:,.0f}, {'met' if met else 'MISSED'}"
    )
    status = 0 if met else 1
    if args.no_http:
        return status

    print()
    http_args = argparse.Namespace(
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        threads=args.threads,
        rounds=args.http_rounds,
    )
    try:
        wrk = await http_bench.ensure_wrk()
        with tempfile.TemporaryDirectory(prefix="bench-flags-http-") as tmp:
            results = await http_bench.measure(
                wrk, Path(tmp), ["sqlite"], http_args, (http_bench.Route("/health"), ROUTE)
            )
    except http_bench.BenchFailed as error:
        print(f"bench flags: {error}", file=sys.stderr)
        return 1
    http_bench.report(results, http_args, load_start)
    if any(r.non_2xx for m in results for r in m.runs):
        print("bench flags: non-2xx responses under load; the figures are not valid")
        return 1
    return status


if __name__ == "__main__":
    sys.exit(asyncio.run(run(sys.argv[1:])))
