"""`adminctl serve | db upgrade | token | demo seed | config check`"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import shlex
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import sqlalchemy as sa

from adapters.sql.errors import unavailable
from adapters.sql.migrate import (
    SchemaNewer,
    Upgrade,
    head_revision,
    known_revision,
    schema_revision,
    upgrade,
)
from admin_core.auth.policy import normalise_role
from admin_core.kernel.errors import FieldError, ValidationFailed
from admin_core.tenants.rules import ORG_ID
from admin_core.users.model import USER_ID
from entrypoints.cli.commands.audit import checkpoint_keys
from entrypoints.cli.context import CommandContext
from entrypoints.cli.files import SIGNING_KEY, setting_file
from entrypoints.cli.options import bounded_int, host
from entrypoints.cli.output import (
    DATABASE_SCHEMA_NOT_CURRENT,
    EXIT_CONFIG,
    print_errors,
    print_json,
    print_table,
    report_error,
    report_problems,
    stderr,
    stdout,
    styled,
)
from entrypoints.container import Container, build_container, choices
from entrypoints.container.auth import LocalTokensRefused
from entrypoints.demo.seed import DemoSeedRefused, SeedState, seed_demo
from entrypoints.http.schemas import ErrorItem
from entrypoints.logs import server_log_config
from entrypoints.settings import Settings, env_name

#: Exit status when the demo seed refuses the database (it holds other data).
EXIT_SEED_REFUSED = 5
#: How often `serve` settles the intents of external side effects a crash left pending.
RECONCILE_EVERY_S = 60.0
#: After SIGTERM, how long requests in flight may take before `serve` stops anyway: within
#: the 30 s an orchestrator gives by default. A request cut short by it leaves at most an
#: intent pending, which reconcile finishes.
GRACEFUL_SHUTDOWN_S = 25
#: Exit status of a stop that left a resource open (its close failed or did not end in time).
EXIT_LEFT_OPEN = 1


def register(groups: Any) -> None:
    serve = groups.add_parser(
        "serve",
        help="run the HTTP API",
        description="Run the HTTP API. Embedded: applies the migrations, seeds the demo data"
        " into an empty database, and prints an admin token and links. No --json: the API's"
        " answers are JSON, and `adminctl token --json` mints a token for scripts.",
    )
    serve.add_argument("--host", type=host, help="the address to listen on (default: ADMIN_HOST)")
    serve.add_argument(
        "--port",
        type=bounded_int("port", 1, 65535),
        help="the port, 1 to 65535 (default: ADMIN_PORT)",
    )
    serve.add_argument("--no-seed", action="store_true", help="do not seed the demo data")
    serve.set_defaults(sync_handler=run_serve)

    db: argparse.ArgumentParser = groups.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    db_commands.add_parser("upgrade", help="apply the migrations").set_defaults(handler=db_upgrade)

    token = groups.add_parser("token", help="mint a short-lived session token (embedded mode)")
    token.add_argument(
        "--role", default="org:admin", help="a role of the role policy (default: org:admin)"
    )
    organisation = token.add_mutually_exclusive_group()
    organisation.add_argument("--org", help="organisation id (default: the first platform org)")
    organisation.add_argument("--no-org", action="store_true", help="a token without organisation")
    token.add_argument(
        "--user", default="user_local_admin", help="the subject (default: user_local_admin)"
    )
    token.add_argument(
        "--ttl",
        type=bounded_int("ttl", 1, 86400),
        default=3600,
        help="lifetime in seconds, 1 to 86400 (default 3600)",
    )
    token.add_argument(
        "--claims-version",
        type=int,
        choices=(1, 2),
        default=2,
        help="Clerk's session token claim format (default 2)",
    )
    token.set_defaults(handler=mint_token)

    demo: argparse.ArgumentParser = groups.add_parser("demo", help="demo data (embedded mode)")
    demo_commands = demo.add_subparsers(dest="demo_command", required=True, metavar="COMMAND")
    demo_commands.add_parser("seed", help="seed the demo data set").set_defaults(handler=demo_seed)

    config: argparse.ArgumentParser = groups.add_parser("config", help="the configuration")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    config_commands.add_parser(
        "check", help="the effective settings (secrets masked) and the adapter of each port"
    ).set_defaults(settings_handler=config_check)


async def migrate(settings: Settings) -> Upgrade:
    if choices.database(settings) == "memory":
        return Upgrade(before=None, after=None)  # a memory database has no schema to keep
    with _sqlite_file(settings):
        if choices.database(settings) == "sqlite":
            Path(settings.database_url.split("///", 1)[-1]).parent.mkdir(
                parents=True, exist_ok=True
            )
        return await upgrade(settings.migrations_url, app_role=settings.database_app_role)


#: SQLite's answers about the file itself, as the system's: a full disk is `IO_ERROR` (74),
#: a file it may not make or open a configuration that cannot run (78); neither is an
#: unreachable database that trying again shortly would fix.
_SQLITE_FILE_ERRORS = {
    "SQLITE_FULL": errno.ENOSPC,
    "SQLITE_IOERR": errno.EIO,
    "SQLITE_CANTOPEN": errno.EACCES,
    "SQLITE_READONLY": errno.EACCES,
    "SQLITE_PERM": errno.EACCES,
}


@contextlib.contextmanager
def _sqlite_file(settings: Settings) -> Iterator[None]:
    """Making or migrating the SQLite file of `settings.migrations_url`: what the system or
    SQLite refuses of the file is said naming its variable and path (`files.setting_file`),
    and a file this command made and left empty is removed."""
    url = sa.make_url(settings.migrations_url)
    database = url.database or ""
    database = "file:" if database.startswith("file:") else database  # a URI: no file to name
    if not url.drivername.startswith("sqlite") or database in ("", ":memory:", "file:"):
        yield
        return
    path = Path(database)
    name = "migration_database_url" if settings.migration_database_url else "database_url"
    existed = os.path.lexists(path)
    try:
        with setting_file(name, path, "the SQLite database"):
            try:
                yield
            except sa.exc.DBAPIError as error:
                code = str(getattr(error.orig, "sqlite_errorname", ""))
                kind = next((v for k, v in _SQLITE_FILE_ERRORS.items() if code.startswith(k)), None)
                if kind is None:
                    raise
                reason = os.strerror(kind) if kind != errno.EACCES else str(error.orig)
                raise OSError(kind, reason) from error
    except BaseException:
        with contextlib.suppress(OSError):
            if not existed and path.stat().st_size == 0:
                path.unlink()
        raise


async def db_upgrade(ctx: CommandContext) -> int:
    settings = ctx.container.settings()
    try:
        done = await migrate(settings)
    except SchemaNewer as error:
        return report_problems(
            "the database schema is not this release's:",
            [_newer(error.found)],
            as_json=ctx.as_json,
            code=DATABASE_SCHEMA_NOT_CURRENT,
        )
    except (OSError, TimeoutError, sa.exc.DBAPIError) as error:
        return _database_problem(error, as_json=ctx.as_json)
    if ctx.as_json:
        print_json({"upgraded": done.changed, "from": done.before, "to": done.after})
    elif done.after is None:
        stdout.print("a memory database: nothing to migrate")
    elif done.changed:
        stdout.print(f"database schema upgraded from {done.before or 'nothing'} to {done.after}")
    else:
        stdout.print(f"database schema is up to date ({done.after})")
    return 0


def _database_problem(error: Exception, *, as_json: bool) -> int:
    """Report why the database could not be reached or migrated; the exit status."""
    if isinstance(error, sa.exc.DBAPIError) and _refused(error):
        return report_problems(
            "the database refused the schema upgrade:",
            [
                f"{error.orig}: run it as the role that owns the schema,"
                f" {env_name('migration_database_url')}"
            ],
            as_json=as_json,
        )
    if isinstance(error, sa.exc.DBAPIError) and _answered(error):
        # The server answered, and no longer or another attempt will change its mind: an
        # unknown app role (42704), a statement it rejects.
        sqlstate = getattr(error.orig, "sqlstate", None)
        return report_problems(
            "the database refused the schema upgrade:",
            [f"{error.orig} (SQLSTATE {sqlstate}); nothing was changed"],
            as_json=as_json,
        )
    return report_error(unavailable(error), as_json=as_json)


#: SQLSTATE classes of a connection that failed or a server going away: an outage, not an
#: answer (08 connection exception, 53 insufficient resources, 57 operator intervention,
#: 58 system error), and 28, refused credentials, which `unavailable` names.
_OUTAGE_CLASSES = ("08", "28", "53", "57", "58")


def _answered(error: sa.exc.DBAPIError) -> bool:
    """Whether the server answered the statement with an error of its own."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    return isinstance(sqlstate, str) and not sqlstate.startswith(_OUTAGE_CLASSES)


def _refused(error: sa.exc.DBAPIError) -> bool:
    """A privilege the connecting role lacks (SQLSTATE 42501), not an outage."""
    return getattr(error.orig, "sqlstate", None) == "42501"


def _token(
    container: Container,
    *,
    user: str,
    org: str | None,
    role: str,
    ttl: int,
    claims_version: int = 2,
) -> str:
    """A token from the embedded issuer; every input is checked like the API checks it."""
    settings = container.settings()
    if not choices.mints_local_tokens(settings):
        raise ValidationFailed.single(
            "mode", "tokens are minted only in the embedded mode; production uses Clerk's"
        )
    normalised = normalise_role(role)
    known = container.auth.role_policy().known_roles()
    errors = []
    if normalised not in known:
        errors.append(
            FieldError(field="role", message=f"must be one of {', '.join(sorted(known))}")
        )
    if not USER_ID.fullmatch(user):
        errors.append(FieldError(field="user", message="must be a user id such as user_2abc"))
    if org is not None and not ORG_ID.fullmatch(org):
        errors.append(
            FieldError(field="org", message="must be an organisation id such as org_2abc")
        )
    if errors:
        raise ValidationFailed(errors)
    try:
        issuer = container.auth.token_issuer()
    except LocalTokensRefused as error:  # pragma: no cover - the mode is checked above
        raise ValidationFailed.single("mode", str(error)) from error
    token: str = issuer.mint(
        user_id=user, org_id=org, role=normalised, ttl_seconds=ttl, claims_version=claims_version
    )
    return token


async def mint_token(ctx: CommandContext) -> int:
    a = ctx.args
    _usable_signing_key(ctx.container)
    token = _token(
        ctx.container,
        user=a.user,
        org=None if a.no_org else ctx.container.settings().platform_org if a.org is None else a.org,
        role=a.role,
        ttl=a.ttl,
        claims_version=a.claims_version,
    )
    if ctx.as_json:
        print_json({"token": token})
    else:
        print(token)
    return 0


def _usable_signing_key(container: Container) -> None:
    """The local signing key, read or made on first use: one that cannot be (a file that is
    not a key, one this process may not read or make, a full disk) is said naming its
    variable and path (`files.setting_file`). Production mints none: `_token` says so."""
    if not choices.mints_local_tokens(container.settings()):
        return
    path = choices.local_key_path(container.settings())
    with setting_file("local_key_path", path, SIGNING_KEY):
        container.auth.token_issuer()


async def demo_seed(ctx: CommandContext) -> int:
    try:
        report = await seed_demo(ctx.container)
    except DemoSeedRefused as error:  # a CLI-only error: the API never seeds
        print_errors([ErrorItem(code="DEMO_SEED_REFUSED", message=str(error))], as_json=ctx.as_json)
        return EXIT_SEED_REFUSED
    if ctx.as_json:
        print_json({"state": report.state.value, "tenants_created": report.tenants_created})
    elif report.state is SeedState.DEMO:
        stdout.print("demo data: already there, nothing changed")
    else:
        stdout.print(f"demo data: {report.tenants_created} tenants seeded")
    return 0


def config_check(args: argparse.Namespace) -> int:
    settings, problems = Settings.read_env()
    adapters = choices.describe(settings)
    if args.json:
        print_json(
            {
                "mode": settings.mode.value,
                "settings": dict(settings.effective()),
                "adapters": {c.port: {"adapter": c.adapter, "why": c.why} for c in adapters},
                "problems": problems,
            }
        )
    else:
        stdout.print(styled(("mode", "bold"), f": {settings.mode.value}"))
        print_table("Settings (secrets masked)", ["variable", "value"], settings.effective())
        print_table(
            "Adapters", ["port", "adapter", "why"], ([c.port, c.adapter, c.why] for c in adapters)
        )
        if problems:
            return report_problems("the configuration cannot run:", problems)
        stdout.print(styled(("ok", "green"), ": the configuration can run"))
    return EXIT_CONFIG if problems else 0


async def _schema_behind(settings: Settings) -> str | None:
    """Why production must not serve on this database's schema, if it must not. A database
    out of reach is not a reason: the replica starts, not ready, and serves once it is back."""
    try:
        found = await schema_revision(settings.database_url)
    except sa.exc.DBAPIError as error:
        if _refused(error):
            return (
                f"{env_name('database_url')} cannot read the schema's revision"
                " (alembic_version): run `adminctl db upgrade` with"
                f" {env_name('database_app_role')} naming the role it connects as"
            )
        stderr.print(f"the database is unreachable at start-up ({type(error).__name__})")
        return None
    except (OSError, TimeoutError) as error:
        stderr.print(f"the database is unreachable at start-up ({type(error).__name__})")
        return None
    needed = head_revision()
    if found == needed:
        return None
    if not known_revision(found):
        return _newer(str(found))
    return (
        f"the database is at {found or 'no schema'}, this release needs {needed}: run"
        f" `adminctl db upgrade` with {env_name('migration_database_url')} (the owner)"
    )


def _newer(found: str) -> str:
    return (
        f"the database is at {found}, which a later release made; this release ends at"
        f" {head_revision()} and cannot undo it: serve it with that release, or restore the"
        " database from before its upgrade"
    )


def _cannot_listen(host: str, port: int) -> list[str]:
    """Why the server could not listen there (a port taken by another process, a host not of
    this machine), or nothing. Binds the way uvicorn will (`SO_REUSEADDR`), then lets go."""
    try:
        with socket.create_server((host, port)):
            return []
    except OSError as error:
        why = [error.strerror or str(error)]
        if error.errno == errno.EADDRINUSE:
            port_env = env_name("port")
            why.append(f"choose another port: --port, or {port_env} (`{port_env}=8001 make run`)")
        return why


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.json:  # `adminctl --json serve`: a server prints no JSON of its own
        raise ValidationFailed.single(
            "json", "serve has no JSON output; `adminctl token --json` mints a token for scripts"
        )
    import uvicorn

    from entrypoints.http.app import create_app
    from entrypoints.http.connections import room_for_connections

    host = args.host or settings.host
    port = args.port or settings.port
    taken = _cannot_listen(host, port)
    if taken:  # before migrating or printing a token for a server that never runs
        return report_problems(f"cannot listen on {host}:{port}:", taken)
    unfit = _database_unfit(settings)
    if unfit is not None:
        return unfit
    container = build_container(settings)
    checkpoint_keys(container)  # production never makes a key: one it cannot read stops here
    _usable_signing_key(container)
    seed = settings.embedded and settings.demo_seed and not args.no_seed
    short = room_for_connections(settings.http_max_connections)
    if short is not None:
        stderr.print(short)
    if settings.embedded:
        _print_welcome(container, f"http://{host}:{port}")
    with _stopped_as_asked():
        app = create_app(
            container,
            on_startup=_seed_on_start if seed else None,
            reconcile_every=RECONCILE_EVERY_S,
            checkpoint_every=settings.audit_checkpoint_seconds,
            freeze_after_start=True,
        )
        uvicorn.run(app, host=host, port=port, **_server_options(settings))
    left_open = container.runtime.resources().left_open
    if left_open:  # named in the log as it happened; the stop was not a clean one
        stderr.print(f"stopped, leaving open: {', '.join(left_open)}")
        return EXIT_LEFT_OPEN
    return 0


async def _seed_on_start(started: Container) -> None:
    """The demo data set, seeded as the embedded server starts; a database holding other
    data is left as it is, and said so."""
    try:
        report = await seed_demo(started)
    except DemoSeedRefused as error:
        stderr.print(f"not seeding the demo data: {error}")
        return
    if report.state is SeedState.EMPTY:
        stderr.print(f"demo data seeded: {report.tenants_created} tenants")


def _database_unfit(settings: Settings) -> int | None:
    """The exit status of a database `serve` cannot serve, said on stderr, or None. The
    embedded mode migrates its database; production only checks that the schema is this
    release's (an operator migrates it, as the owner)."""
    try:
        if settings.embedded:
            asyncio.run(migrate(settings))
            return None
        behind = asyncio.run(_schema_behind(settings))
    except SchemaNewer as error:
        return _schema_not_current(_newer(error.found))
    except (OSError, TimeoutError, sa.exc.DBAPIError) as error:
        return _database_problem(error, as_json=False)
    if behind:
        return _schema_not_current(behind)
    return None


def _schema_not_current(problem: str) -> int:
    """DATABASE_SCHEMA_NOT_CURRENT (exit 78), as `db upgrade` and every command say it."""
    return report_problems(
        "the database schema is not this release's:", [problem], code=DATABASE_SCHEMA_NOT_CURRENT
    )


def _server_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves the app: the connection deadlines, cap and header limit of
    `bounded_protocol`, the server's log lines, and a graceful stop."""
    from entrypoints.http.connections import bounded_protocol
    from entrypoints.http.requests import MAX_HEADER_BYTES

    return {
        "log_config": server_log_config(),
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "http": bounded_protocol(
            header_seconds=settings.http_header_timeout_seconds,
            body_seconds=settings.http_body_timeout_seconds,
            keep_alive_seconds=settings.http_keep_alive_seconds,
            max_connections=settings.http_max_connections,
        ),
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
        "ws": "none",  # no WebSocket route: an upgrade is never accepted, whatever is installed
    }


class _Stopped(Exception):
    """SIGTERM or SIGINT reached `serve` outside the server's own handling of them."""


@contextlib.contextmanager
def _stopped_as_asked() -> Iterator[None]:
    """A server stopped by SIGTERM or SIGINT exits 0 once it has stopped. uvicorn answers the
    requests in flight, runs the app's shutdown (the container closed), then raises the
    signal again to the handler in place before it started: Python's default ones ended the
    process by the signal (exit 143 for a stop an orchestrator asked and got), or with a
    traceback. A signal before the server handles them stops `serve` the same way."""

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise _Stopped

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _print_welcome(container: Container, base: str) -> None:
    token = _token(
        container,
        user="user_local_admin",
        org=container.settings().platform_org,
        role="org:admin",
        ttl=8 * 3600,
    )
    stdout.print(
        styled(
            "\n", ("Admin Core", "bold"), f" on {base}  (admin schema: {base}/api/v1/admin/schema)"
        )
    )
    stdout.print(styled("\n", ("Admin token", "bold"), " (platform org:admin, valid 8 h):"))
    print(f"  export ADMIN_TOKEN={shlex.quote(token)}")
    print(f"  triage page (signs you in): {base}/admin/triage#token={token}")
    stdout.print(styled("\n", ("Try:", "bold")))
    auth = '-H "Authorization: Bearer $ADMIN_TOKEN"'
    print(f"  curl -s {auth} {base}/api/v1/admin/tenants")
    print(f"  curl -s {auth} '{base}/api/v1/admin/tenants?status=suspended'")
    print(f"  curl -s {base}/api/v1/admin/tenants   # 401 AUTH_HEADER_MISSING\n")
    sys.stdout.flush()
