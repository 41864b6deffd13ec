"""`adminctl` — parse, read the settings, build the container, run one command, map errors
to exit codes."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from adapters.sql.errors import schema_missing
from admin_core.kernel.errors import AdminError
from entrypoints.cli.commands import (
    audit,
    doctors,
    flags,
    graph,
    health,
    matching,
    sessions,
    system,
    tenants,
    users,
)
from entrypoints.cli.context import CommandContext
from entrypoints.cli.output import report_error, report_problems
from entrypoints.container import Container, aclose, build_container
from entrypoints.settings import ConfigurationError, Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adminctl", description="Admin Core: the admin control plane's command line."
    )
    parser.add_argument("--json", action="store_true", help="machine-readable JSON output")
    groups = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (
        system, tenants, users, flags, matching, doctors, sessions, graph, audit, health,
    ):  # fmt: skip
        module.register(groups)
    return parser


async def execute(args: argparse.Namespace, container: Container) -> int:
    """Run one parsed command on `container` (which the caller closes)."""
    try:
        status = await args.handler(
            CommandContext(args=args, container=container, as_json=args.json)
        )
    except AdminError as error:
        return report_error(error, as_json=args.json)
    except Exception as error:
        if not schema_missing(error):
            raise
        return report_problems(
            "the database has no schema yet:",
            ["run `adminctl db upgrade` (the embedded `adminctl serve` creates it on start)"],
        )
    return status if isinstance(status, int) else 0


async def _run(args: argparse.Namespace, container: Container) -> int:
    try:
        return await execute(args, container)
    finally:
        await aclose(container)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(words)
    except AdminError as error:  # a value an argument type refused
        return report_error(error, as_json="--json" in words)
    if getattr(args, "offline_handler", None) is not None:  # audit verify-export: no settings
        offline: int = args.offline_handler(args)
        return offline
    if getattr(args, "settings_handler", None) is not None:  # config check: reads on its own
        result: int = args.settings_handler(args)
        return result
    try:
        settings = Settings.from_env()
    except ConfigurationError as error:
        return report_problems("the configuration cannot run:", error.problems)
    if getattr(args, "sync_handler", None) is not None:
        try:
            status: int = args.sync_handler(args, settings)
        except AdminError as error:
            return report_error(error, as_json=args.json)
        return status
    return asyncio.run(_run(args, build_container(settings)))


if __name__ == "__main__":
    sys.exit(main())
