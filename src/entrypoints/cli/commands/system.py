"""`adminctl serve | db upgrade | token | demo seed`"""

from __future__ import annotations

import argparse
import asyncio
import shlex
from typing import Any

from adapters.sql.engine import is_sqlite
from adapters.sql.migrate import upgrade
from admin_core.auth.policy import ROLES
from admin_core.kernel.errors import ValidationFailed
from entrypoints.cli.context import CommandContext
from entrypoints.cli.output import print_json, stdout
from entrypoints.container import aclose, build_container
from entrypoints.settings import Settings


def register(groups: Any) -> None:
    serve = groups.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--no-seed", action="store_true", help="do not seed the demo data")
    serve.set_defaults(sync_handler=run_serve)

    db: argparse.ArgumentParser = groups.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    db_commands.add_parser("upgrade", help="apply the migrations").set_defaults(handler=db_upgrade)

    token = groups.add_parser("token", help="mint a short-lived session token (embedded mode)")
    token.add_argument("--role", default="org:admin", help=f"one of {', '.join(ROLES)}")
    token.add_argument("--org", help="organisation id (default: the first platform org)")
    token.add_argument("--no-org", action="store_true", help="a token without organisation")
    token.add_argument("--user", default="user_local_admin")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    token.add_argument("--claims-version", type=int, choices=(1, 2), default=2)
    token.set_defaults(handler=mint_token)

    demo: argparse.ArgumentParser = groups.add_parser("demo", help="demo data")
    demo_commands = demo.add_subparsers(dest="demo_command", required=True, metavar="COMMAND")
    demo_commands.add_parser("seed", help="seed the demo data set").set_defaults(handler=demo_seed)


async def migrate(settings: Settings) -> None:
    if settings.database_url.startswith("memory:"):
        return
    if is_sqlite(settings.database_url):
        path = settings.database_url.split("///", 1)[-1]
        from pathlib import Path

        Path(path).parent.mkdir(parents=True, exist_ok=True)
    await upgrade(settings.migrations_url, app_role=settings.database_app_role)


async def db_upgrade(ctx: CommandContext) -> None:
    settings = ctx.container.settings()
    await migrate(settings)
    if ctx.as_json:
        print_json({"upgraded": True})
    else:
        stdout.print("database schema is up to date")


def _token(ctx_settings: Settings, args: argparse.Namespace, container: Any) -> str:
    if ctx_settings.auth_mode != "local":
        raise ValidationFailed.single(
            "auth_mode", "tokens can be minted only in the embedded mode (ADMIN_AUTH_MODE=local)"
        )
    if args.ttl < 1 or args.ttl > 86400:
        raise ValidationFailed.single("ttl", "must be between 1 and 86400 seconds")
    org = None if args.no_org else (args.org or ctx_settings.platform_orgs[0])
    issuer = container.adapters.token_issuer()
    token: str = issuer.mint(
        user_id=args.user,
        org_id=org,
        role=args.role,
        ttl_seconds=args.ttl,
        claims_version=args.claims_version,
    )
    return token


async def mint_token(ctx: CommandContext) -> None:
    token = _token(ctx.container.settings(), ctx.args, ctx.container)
    if ctx.as_json:
        print_json({"token": token})
    else:
        print(token)


async def demo_seed(ctx: CommandContext) -> None:
    report = await ctx.container.seed_demo().execute()
    if ctx.as_json:
        print_json(report)
    else:
        stdout.print(
            f"demo data: {report.tenants_created} tenants created, "
            f"{report.tenants_existing} already there"
        )


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from entrypoints.http.app import create_app

    host = args.host or settings.host
    port = args.port or settings.port

    async def prepare() -> str:
        if is_sqlite(settings.database_url):
            await migrate(settings)
        container = build_container(settings)
        try:
            if settings.demo_seed and not args.no_seed:
                await container.seed_demo().execute()
            if settings.auth_mode != "local":
                return ""
            ns = argparse.Namespace(
                no_org=False,
                org=None,
                user="user_local_admin",
                role="org:admin",
                ttl=8 * 3600,
                claims_version=2,
            )
            return _token(settings, ns, container)
        finally:
            await aclose(container)

    token = asyncio.run(prepare())
    base = f"http://{host}:{port}"
    if token:
        stdout.print(
            f"\n[bold]Admin Core[/bold] on {base}  (admin schema: {base}/api/v1/admin/schema)"
        )
        stdout.print("\n[bold]Admin token[/bold] (platform org:admin, valid 8 h):")
        print(f"  export ADMIN_TOKEN={shlex.quote(token)}")
        stdout.print("\n[bold]Try:[/bold]")
        auth = '-H "Authorization: Bearer $ADMIN_TOKEN"'
        print(f"  curl -s {auth} {base}/api/v1/admin/tenants")
        print(f"  curl -s {auth} '{base}/api/v1/admin/tenants?status=suspended'")
        print(f"  curl -s {base}/api/v1/admin/tenants   # 401 AUTH_HEADER_MISSING\n")

    container = build_container(settings)
    uvicorn.run(create_app(container), host=host, port=port, log_level="info")
    return 0
