"""Coverage refresh of the matching parameters on PostgreSQL (SPEC §6.3).

Loads a synthetic directory of `--providers` providers (100k; `--providers 1m` for a
million) into its own schema of the bench database (`matching_bench`, PostgreSQL `COPY`):
each provider with fields present, blank or absent by a rule on its number, two offers with
prices sometimes missing, one or two accreditations for some, a doctor for half of them.
Then it times a full refresh of every `postgres` parameter of the registry through
`SqlCoverageMeter` (one query per entity, every path of the entity counted in it) against a
baseline measured in the same run: one query per parameter. Each is timed `--rounds` times;
the table prints the medians and the ratio. Target: the full refresh in ≤ 2 s at 100k.

    python -m bench matching -- [--providers 100k] [--rounds 5] [--reuse]

Needs `make services` (ADMIN_TEST_POSTGRES_BENCH_OWNER_URL, ADMIN_TEST_POSTGRES_BENCH_URL,
from the environment or var/services.env); never touches the test database.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.config_files.matching import load_registry
from adapters.sql.directory import SqlDirectoryBulkLoader
from adapters.sql.engine import json_loads
from adapters.sql.matching import SqlCoverageMeter, coverage_query
from admin_core.directory.model import (
    DirectoryBatch,
    Procedure,
    ProcedureOffer,
    ProviderDoctor,
    ProviderListing,
)
from admin_core.matching.model import Source
from admin_core.matching.paths import POSTGRES_PATHS
from bench.services import ROOT, fresh_schema
from bench.services import setting as _setting

SCHEMA = "matching_bench"
APP_ROLE = "admin_app"
TARGET_SECONDS = 2.0
PROCEDURES = 500
ACCREDITATIONS = ("JCI", "ACHS", "TEMOS", "NABH", "ISO 9001")
SPECIALTIES = ("cardiology", "orthopedics", "oncology", "fertility", "transplant")
NOW = datetime(2026, 3, 2, tzinfo=UTC)


def _size(text: str) -> int:
    text = text.strip().lower().replace("_", "").replace(",", "")
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * factor)


def _engine(url: str) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=2,
        max_overflow=0,
        json_deserializer=json_loads,
        connect_args={"server_settings": {"search_path": SCHEMA}},
    )


def directory(providers: int, batch_size: int = 20_000) -> Iterator[DirectoryBatch]:
    yield DirectoryBatch(
        accreditations=ACCREDITATIONS,
        procedures=tuple(
            Procedure(
                code=f"MB{k:04d}",
                name=f"Procedure {k}",
                specialty=None if k % 5 == 0 else SPECIALTIES[k % len(SPECIALTIES)],
            )
            for k in range(PROCEDURES)
        ),
    )
    for start in range(0, providers, batch_size):
        rows = range(start, min(start + batch_size, providers))
        yield DirectoryBatch(
            providers=tuple(
                ProviderListing(
                    id=f"prv_mb_{i:08d}",
                    name=f"Hospital {i}",
                    country=None if i % 10 == 0 else "TH",
                    city="" if i % 7 == 0 else "Bangkok",
                    specialties=None if i % 3 == 0 else (SPECIALTIES[i % 5],),
                    languages=None if i % 4 == 0 else ("en", "th"),
                    accreditations=tuple(ACCREDITATIONS[: i % 3]),
                )
                for i in rows
            ),
            offers=tuple(
                ProcedureOffer(
                    provider_id=f"prv_mb_{i:08d}",
                    procedure_code=f"MB{(i * 2 + k) % PROCEDURES:04d}",
                    price_min_usd=None if (i + k) % 6 == 0 else Decimal(1000 + i % 5000),
                    price_max_usd=None if (i + k) % 9 == 0 else Decimal(7000 + i % 5000),
                )
                for i in rows
                if i % 5 != 4
                for k in range(2)
            ),
            doctors=tuple(
                ProviderDoctor(
                    id=f"doc_mb_{i:08d}",
                    provider_id=f"prv_mb_{i:08d}",
                    full_name=f"Dr. {i}",
                    specialty=SPECIALTIES[i % 5],
                    languages=None if i % 8 == 0 else ("en",),
                )
                for i in rows
                if i % 2 == 0
            ),
        )


async def _reset(owner_url: str) -> None:
    await fresh_schema(owner_url, SCHEMA, APP_ROLE, _engine(owner_url))


async def _load(owner_url: str, providers: int) -> float:
    started = time.perf_counter()
    await _reset(owner_url)
    engine = _engine(owner_url)
    try:
        await SqlDirectoryBulkLoader(engine).load(directory(providers), now=NOW)
        async with engine.begin() as conn:
            await conn.execute(sa.text("ANALYZE"))
    finally:
        await engine.dispose()
    return time.perf_counter() - started


async def _providers_held(app_url: str) -> int:
    engine = _engine(app_url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(sa.text("SELECT count(*) FROM providers"))).scalar_one())
    except sa.exc.DBAPIError:
        return -1
    finally:
        await engine.dispose()


async def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench matching")
    parser.add_argument("--providers", default="100k", help="100k (default) or 1m")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep a directory of that size")
    args = parser.parse_args(argv)
    providers = _size(args.providers)
    owner_url = _setting("ADMIN_TEST_POSTGRES_BENCH_OWNER_URL")
    app_url = _setting("ADMIN_TEST_POSTGRES_BENCH_URL")

    if args.reuse and await _providers_held(app_url) == providers:
        print(f"reusing {providers:,} providers in {SCHEMA}")
    else:
        seconds = await _load(owner_url, providers)
        print(f"loaded {providers:,} providers (+ offers, doctors) in {seconds:.1f} s")

    parameters = list(load_registry(ROOT / "config" / "matching").parameters)
    measured = [p for p in parameters if p.source is Source.POSTGRES]
    paths = sorted({p.path for p in measured})
    engine = _engine(app_url)
    meter = SqlCoverageMeter(engine)
    one_pass: list[float] = []
    per_parameter: list[float] = []
    try:
        await meter.measure(paths)  # warm the pool and the cache of the tables
        for _ in range(args.rounds):
            started = time.perf_counter()
            await meter.measure(paths)
            one_pass.append(time.perf_counter() - started)
            started = time.perf_counter()
            async with engine.connect() as conn:
                for p in measured:
                    query = coverage_query(POSTGRES_PATHS[p.path], [p.path], "postgresql")
                    (await conn.execute(query)).one()
            per_parameter.append(time.perf_counter() - started)
        result = await meter.measure(paths)
    finally:
        await engine.dispose()

    fast, slow = statistics.median(one_pass), statistics.median(per_parameter)
    entities = len({POSTGRES_PATHS[p] for p in paths})
    print(
        f"\n{len(measured)} postgres parameters ({len(paths)} paths, {entities} entities) at"
        f" {providers:,} providers, median of {args.rounds}:"
    )
    print(f"{'refresh':<34}{'queries':>9}{'seconds':>10}")
    print(f"{'one pass per entity (adapter)':<34}{entities:>9}{fast:>10.3f}")
    print(f"{'one query per parameter (baseline)':<34}{len(measured):>9}{slow:>10.3f}")
    print(f"speed-up over the baseline: {slow / fast:.1f}x")
    share = result["providers.country"].share
    print(f"(providers.country coverage: {share:.3f}; by construction 0.900)")
    if providers > 100_000:
        print(f"(the target of ≤ {TARGET_SECONDS:.0f} s applies at 100k providers)")
        return 0
    met = fast <= TARGET_SECONDS
    print(f"target ≤ {TARGET_SECONDS:.0f} s at 100k: {'met' if met else 'MISSED'}")
    return 0 if met else 1
