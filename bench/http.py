"""HTTP load benchmark: authenticated reads through the real app, against a bare handler.

wrk (C, cheap on CPU; `scripts/wrk.sh` installs it when missing) loads, in the same run:

- a bare Litestar handler (`bench/http_bare.py`): what Litestar on uvicorn costs here;
- the real app started by `adminctl serve` in the embedded mode on SQLite, in a fresh
  temporary directory;
- the same on PostgreSQL: the bench database of `make services`, migrated by
  `adminctl db upgrade` as the owner role, then emptied so that the demo seed goes in.

Each real app serves `GET /health`, `GET /api/v1/admin/tenants` (the 4 demo tenants) and
`GET /api/v1/admin/audit-log?limit=50` (a full page: before the server starts, the demo seed
and 40 `adminctl tenants update` commands write the entries), the admin routes with a token of
`adminctl token --role org:super_admin`. Both kinds of server run with `SERVER_OPTIONS` (one
process, warnings only, no access log). Each route is checked once (200, the expected rows),
then measured `--rounds` times: a warm-up of `--warmup` seconds, unreported, then
`--duration` seconds with `--latency`. Rounds interleave every app and route, so that the
drift of a noisy machine spreads evenly over them; the table reports the medians.

    python -m bench http -- [--duration 8] [--warmup 2] [--connections 16] [--threads 2]
        [--rounds 3] [--databases sqlite,postgres] [--no-postgres]

PostgreSQL needs `make services` (ADMIN_TEST_POSTGRES_BENCH_OWNER_URL,
ADMIN_TEST_POSTGRES_BENCH_URL, from the environment or var/services.env); every table of that
database's `public` schema is emptied. `python -m bench.http 'adminctl command line' ...` runs
`adminctl` command lines in one process, `serve` with `SERVER_OPTIONS`: how the benchmark
seeds and starts the real app.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import importlib.util
import os
import re
import shlex
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench.http_bare import PATH as BARE_PATH
from bench.http_bare import SERVER_OPTIONS
from bench.services import ROOT
from bench.services import optional_setting as _setting
from tests.support.databases import truncate_postgres

APP_ROLE = "admin_app"
TARGET_RATIO = 1 / 3
DATABASES = ("sqlite", "postgres")
#: The tenant whose settings the audit-log entries change, and the values they alternate.
UPDATED_TENANT = "apollo-chennai"
TIMEZONES = ("Asia/Dubai", "Asia/Kolkata")
UPDATES = 40
AUDIT_PAGE = 50
COMMAND_TIMEOUT_S = 180.0
START_TIMEOUT_S = 90.0


class BenchFailed(Exception):
    """Something the benchmark needs could not run; the message says what."""


@dataclass(frozen=True)
class Route:
    path: str
    authenticated: bool = False
    rows_field: str | None = None  # the list under `data` whose length is checked
    rows: int = 0


BARE_ROUTES = (Route(BARE_PATH),)
APP_ROUTES = (
    Route("/health"),
    Route("/api/v1/admin/tenants", authenticated=True, rows_field="tenants", rows=4),
    Route(
        f"/api/v1/admin/audit-log?limit={AUDIT_PAGE}",
        authenticated=True,
        rows_field="entries",
        rows=AUDIT_PAGE,
    ),
)


@dataclass
class Server:
    name: str
    port: int
    process: asyncio.subprocess.Process
    log: Path
    routes: tuple[Route, ...]
    token: str | None = None

    def url(self, route: Route) -> str:
        return f"http://127.0.0.1:{self.port}{route.path}"

    def headers(self, route: Route) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if route.authenticated else {}


@dataclass
class Run:
    """One wrk run's figures."""

    rate: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int


@dataclass
class Measured:
    server: str
    route: Route
    runs: list[Run] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return statistics.median(r.rate for r in self.runs)

    @property
    def p99_ms(self) -> float:
        return statistics.median(r.p99_ms for r in self.runs)


# --------------------------------------------------------------------------- processes


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines()[-lines:])


async def _command(args: Sequence[str], what: str, env: Mapping[str, str] | None = None) -> str:
    """Run a command to completion; its standard output, or `BenchFailed` with the tail of
    what it printed."""
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise BenchFailed(f"{what}: still running after {COMMAND_TIMEOUT_S:.0f} s") from None
    if process.returncode != 0:
        output = (out + err).decode(errors="replace")
        raise BenchFailed(f"{what} failed (exit {process.returncode}):\n{_tail(output)}")
    return out.decode()


async def ensure_wrk() -> str:
    """The wrk binary; `scripts/wrk.sh` installs it when it is missing."""
    missing = shutil.which("wrk") is None
    if missing:
        print("wrk is not installed: installing it (scripts/wrk.sh, apt-get) ...", flush=True)
    try:
        output = await _command(["bash", str(ROOT / "scripts" / "wrk.sh")], "scripts/wrk.sh")
    except BenchFailed as error:
        raise BenchFailed(f"wrk is needed and could not be installed: {error}") from None
    return output.strip().splitlines()[-1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def start_server(
    name: str,
    command: Callable[[int], list[str]],
    routes: tuple[Route, ...],
    workdir: Path,
    env: Mapping[str, str] | None = None,
) -> Server:
    """Start `command(port)` on a free port, output to a log file; return once its first route
    answers 200."""
    port = _free_port()
    log = workdir / f"{name}-server.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *command(port), cwd=ROOT, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
    server = Server(name=name, port=port, process=process, log=log, routes=routes)
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.perf_counter() - started < START_TIMEOUT_S:
            if process.returncode is not None:
                raise BenchFailed(
                    f"{name} server exited ({process.returncode}) before answering:\n"
                    f"{_tail(log.read_text(errors='replace'))}"
                )
            try:
                response = await client.get(server.url(routes[0]))
                if response.status_code == 200:
                    print(f"  {name}: up on port {port} in {time.perf_counter() - started:.1f} s")
                    return server
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    await stop_server(server)
    raise BenchFailed(
        f"{name} server: {routes[0].path} did not answer 200 within {START_TIMEOUT_S:.0f} s:\n"
        f"{_tail(log.read_text(errors='replace'))}"
    )


async def stop_server(server: Server) -> None:
    if server.process.returncode is not None:
        return
    server.process.terminate()
    try:
        await asyncio.wait_for(server.process.wait(), 15)
    except TimeoutError:
        server.process.kill()
        await server.process.wait()


# --------------------------------------------------------------------------- the apps


def _app_env(database_url: str, workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of every `adminctl` command of one app: the embedded mode, a key file
    of its own, and no `ADMIN_*` variable of the caller's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADMIN_")}
    env.update(
        ADMIN_MODE="embedded",
        ADMIN_DATABASE_URL=database_url,
        ADMIN_LOCAL_KEY_PATH=str(workdir / "key.pem"),
        **extra,
    )
    return env


def _in_process(*lines: str) -> list[str]:
    """The command running `adminctl` command lines in one process (`adminctl_lines`)."""
    return [sys.executable, "-m", "bench.http", *lines]


async def start_app(database: str, workdir: Path, routes: tuple[Route, ...] = APP_ROUTES) -> Server:
    """`adminctl serve` on a migrated database holding the demo data and a full audit page,
    to be loaded on `routes`."""
    adminctl = str(Path(sys.executable).with_name("adminctl"))
    if database == "sqlite":
        env = _app_env(f"sqlite+aiosqlite:///{workdir / 'admin.db'}", workdir)
    else:
        app_url = _setting("ADMIN_TEST_POSTGRES_BENCH_URL")
        owner_url = _setting("ADMIN_TEST_POSTGRES_BENCH_OWNER_URL")
        if not (app_url and owner_url):
            raise BenchFailed(
                "PostgreSQL is not configured (ADMIN_TEST_POSTGRES_BENCH_URL and "
                "ADMIN_TEST_POSTGRES_BENCH_OWNER_URL, from the environment or "
                "var/services.env): run `make services`, or pass --databases sqlite"
            )
        env = _app_env(
            app_url,
            workdir,
            ADMIN_MIGRATION_DATABASE_URL=owner_url,
            ADMIN_DATABASE_APP_ROLE=APP_ROLE,
        )
    started = time.perf_counter()
    await _command([adminctl, "db", "upgrade"], f"{database}: adminctl db upgrade", env)
    if database == "postgres":
        try:
            await truncate_postgres(env["ADMIN_MIGRATION_DATABASE_URL"])
        except (OSError, sa.exc.SQLAlchemyError) as error:
            raise BenchFailed(f"postgres: emptying the tables failed: {error}") from error
    updates = [
        f"tenants update {UPDATED_TENANT} --set timezone={TIMEZONES[i % len(TIMEZONES)]}"
        for i in range(UPDATES)
    ]
    await _command(
        _in_process("demo seed", *updates),
        f"{database}: adminctl demo seed + {UPDATES} tenant updates",
        env,
    )
    token = await _command(
        [adminctl, "token", "--role", "org:super_admin", "--ttl", "3600"],
        f"{database}: adminctl token",
        env,
    )
    print(f"  {database}: migrated and seeded in {time.perf_counter() - started:.1f} s")
    server = await start_server(
        database,
        lambda port: _in_process(f"serve --port {port}"),
        routes,
        workdir,
        env,
    )
    server.token = token.strip()
    return server


async def check_routes(server: Server) -> None:
    """Every route answers 200 with the expected number of rows, before any load."""
    async with httpx.AsyncClient(timeout=10.0) as client:
        for route in server.routes:
            response = await client.get(server.url(route), headers=server.headers(route))
            if response.status_code != 200:
                raise BenchFailed(
                    f"{server.name} GET {route.path}: {response.status_code} {response.text[:300]}"
                )
            if route.rows_field is not None:
                rows = len(response.json()["data"][route.rows_field])
                if rows != route.rows:
                    raise BenchFailed(
                        f"{server.name} GET {route.path}: {rows} {route.rows_field}, "
                        f"expected {route.rows}"
                    )


# --------------------------------------------------------------------------- wrk

_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_P99 = re.compile(r"^\s*99%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_REQUESTS = re.compile(r"^\s*(\d+) requests in", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_wrk(output: str) -> Run:
    rate, p99 = _RATE.search(output), _P99.search(output)
    requests = _REQUESTS.search(output)
    if not (rate and p99 and requests):
        raise BenchFailed(f"unexpected wrk output:\n{_tail(output)}")
    non_2xx = _NON_2XX.search(output)
    errors = _SOCKET_ERRORS.search(output)
    return Run(
        rate=float(rate.group(1)),
        p99_ms=float(p99.group(1)) * _TO_MS[p99.group(2)],
        requests=int(requests.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


async def load(wrk: str, server: Server, route: Route, args: argparse.Namespace) -> Run:
    """A warm-up run (unreported), then the measured run."""
    if server.process.returncode is not None:
        raise BenchFailed(
            f"{server.name} server exited ({server.process.returncode}):\n"
            f"{_tail(server.log.read_text(errors='replace'))}"
        )
    base = [wrk, f"-t{args.threads}", f"-c{args.connections}"]
    for name, value in server.headers(route).items():
        base += ["-H", f"{name}: {value}"]
    what = f"wrk {server.name} GET {route.path}"
    if args.warmup > 0:
        await _command([*base, f"-d{args.warmup}s", server.url(route)], what)
    output = await _command([*base, f"-d{args.duration}s", "--latency", server.url(route)], what)
    return parse_wrk(output)


# --------------------------------------------------------------------------- the run


def _databases(text: str) -> list[str]:
    chosen = [d.strip() for d in text.split(",") if d.strip()]
    unknown = [d for d in chosen if d not in DATABASES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown database(s) {', '.join(unknown)}")
    return chosen


def _server_description() -> str:
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    versions = ", ".join(f"{p} {importlib.metadata.version(p)}" for p in ("uvicorn", "litestar"))
    return f"{versions}; {http}, {loop}; one process, log level warning, no access log"


def report(results: list[Measured], args: argparse.Namespace, load_start: float) -> None:
    bare = results[0].rate
    print()
    print(
        f"HTTP GET, wrk -t{args.threads} -c{args.connections}: {args.warmup} s warm-up "
        f"(unreported) + {args.duration} s measured per run, {args.rounds} interleaved rounds, "
        f"medians; {os.cpu_count()} cores"
    )
    print(f"servers: {_server_description()}")
    header = (
        f"{'app / database':<16} {'route':<38} {'req/s':>8} {'p99 ms':>8} "
        f"{'× bare':>7} {'req/s min–max':>16}"
    )
    print(header)
    print("-" * len(header))
    for m in results:
        rates = [r.rate for r in m.runs]
        spread = f"{min(rates):,.0f}–{max(rates):,.0f}"
        print(
            f"{m.server:<16} {'GET ' + m.route.path:<38} {m.rate:>8,.0f} {m.p99_ms:>8.1f} "
            f"{m.rate / bare:>7.2f} {spread:>16}"
        )
    print(
        "(req/s and p99: medians of the rounds; × bare: req/s over the bare handler's; "
        "admin routes with a Bearer token of org:super_admin)"
    )
    print(f"load average (1 min) at start {load_start:.2f}, at end {os.getloadavg()[0]:.2f}")
    for m in results:
        non_2xx = sum(r.non_2xx for r in m.runs)
        errors = sum(r.socket_errors for r in m.runs)
        if non_2xx or errors:
            print(
                f"note: {m.server} GET {m.route.path}: {non_2xx} non-2xx responses, "
                f"{errors} socket errors (connect/read/write/timeout) over the measured runs"
            )
    print()
    for m in results:
        if m.route.authenticated:
            met = m.rate >= TARGET_RATIO * bare
            print(
                f"target: authenticated reads ≥ 1/3 of the bare handler's req/s — "
                f"{m.server}, GET {m.route.path}: {m.rate / bare:.2f} × bare, "
                f"{'met' if met else 'MISSED'}"
            )


async def measure(
    wrk: str,
    workdir: Path,
    databases: list[str],
    args: argparse.Namespace,
    routes: tuple[Route, ...] = APP_ROUTES,
) -> list[Measured]:
    """Start every server, check its routes, then load them round after round."""
    servers: list[Server] = []
    try:
        print("starting the servers ...", flush=True)
        servers.append(
            await start_server(
                "bare Litestar",
                lambda port: [sys.executable, "-m", "bench.http_bare", "--port", str(port)],
                BARE_ROUTES,
                workdir,
            )
        )
        for database in databases:
            appdir = Path(tempfile.mkdtemp(prefix=f"{database}-", dir=workdir))
            servers.append(await start_app(database, appdir, routes))
        for server in servers:
            await check_routes(server)
        print("every route answers 200 with the expected rows", flush=True)

        targets = [(s, route) for s in servers for route in s.routes]
        results = [Measured(s.name, route) for s, route in targets]
        for round_number in range(1, args.rounds + 1):
            for (server, route), measured in zip(targets, results, strict=True):
                result = await load(wrk, server, route, args)
                measured.runs.append(result)
                print(
                    f"  round {round_number}/{args.rounds}  {server.name:<14} "
                    f"GET {route.path:<38} {result.rate:>8,.0f} req/s  "
                    f"p99 {result.p99_ms:6.1f} ms",
                    flush=True,
                )
        return results
    finally:
        for server in servers:
            await stop_server(server)


async def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench http")
    parser.add_argument("--duration", type=int, default=8, help="seconds measured per run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unreported warm-up")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=3, help="runs per app and route")
    parser.add_argument(
        "--databases", type=_databases, default=list(DATABASES), help="sqlite,postgres"
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args(argv)
    databases = [d for d in args.databases if not (args.no_postgres and d == "postgres")]
    if args.threads > args.connections or min(args.duration, args.rounds) < 1:
        parser.error("need --threads ≤ --connections, --duration ≥ 1 and --rounds ≥ 1")

    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    try:
        wrk = await ensure_wrk()
        with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
            results = await measure(wrk, Path(tmp), databases, args)
    except BenchFailed as error:
        print(f"bench http: {error}", file=sys.stderr)
        return 1
    finally:
        # The bench database is shared with `bench graph`: leave it as empty as it was found.
        owner_url = _setting("ADMIN_TEST_POSTGRES_BENCH_OWNER_URL")
        if "postgres" in databases and owner_url:
            await truncate_postgres(owner_url)

    report(results, args, load_start)
    print(f"whole run: {time.perf_counter() - started:.0f} s")
    failed = [m for m in results if any(r.non_2xx for r in m.runs)]
    if failed:
        print(
            "bench http: non-2xx responses under load (see the notes above); the figures of "
            f"{', '.join(f'{m.server} GET {m.route.path}' for m in failed)} are not valid",
            file=sys.stderr,
        )
        return 1
    return 0


# --------------------------------------------------------------------------- adminctl


def adminctl_lines(lines: Sequence[str]) -> int:
    """Run `adminctl` command lines in order in this one process (one interpreter start for
    the seed and the forty tenant updates, not forty-one), stopping at the first that fails;
    `serve` runs with `SERVER_OPTIONS` in place of its own logging options."""
    import uvicorn

    from entrypoints.cli.main import main as adminctl

    run_uvicorn = uvicorn.run

    def run_with_bench_options(app: Any, **options: Any) -> None:
        run_uvicorn(app, **{**options, **SERVER_OPTIONS})

    uvicorn.run = run_with_bench_options
    for line in lines:
        status = adminctl(shlex.split(line))
        if status:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(adminctl_lines(sys.argv[1:]))
