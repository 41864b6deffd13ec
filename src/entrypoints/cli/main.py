"""`adminctl` — parse, build the container, run one command, map errors to exit codes."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from admin_core.kernel.errors import AdminError
from entrypoints.cli.commands import audit, graph, providers, system, tenants, users
from entrypoints.cli.context import CommandContext
from entrypoints.cli.output import report_error
from entrypoints.container import aclose, build_container
from entrypoints.settings import Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adminctl", description="Admin Core: the admin control plane's command line."
    )
    parser.add_argument("--json", action="store_true", help="machine-readable JSON output")
    groups = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (system, tenants, providers, users, graph, audit):
        module.register(groups)
    return parser


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    container = build_container(settings)
    try:
        status = await args.handler(
            CommandContext(args=args, container=container, as_json=args.json)
        )
    except AdminError as error:
        return report_error(error, as_json=args.json)
    finally:
        await aclose(container)
    return status if isinstance(status, int) else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    if getattr(args, "sync_handler", None) is not None:
        try:
            result: int = args.sync_handler(args, settings)
        except AdminError as error:
            return report_error(error, as_json=args.json)
        return result
    return asyncio.run(_run(args, settings))


if __name__ == "__main__":
    sys.exit(main())
