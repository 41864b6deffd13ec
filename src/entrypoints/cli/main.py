"""`adminctl` — parse, read the settings, build the container, run one command, map errors
to exit codes."""

from __future__ import annotations

import argparse
import asyncio
import logging
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
    side_effects,
    system,
    tenants,
    users,
)
from entrypoints.cli.context import CommandContext
from entrypoints.cli.output import report_error, report_problems
from entrypoints.container import Container, aclose, build_container
from entrypoints.settings import ConfigurationError, Settings

JSON_HELP = "machine-readable JSON output (the HTTP API's `data`)"
WITHOUT_JSON = {"adminctl serve"}  # runs the server: nothing of its own to print as JSON
EXIT_CODES = """exit codes: 0 done, 1 internal error (or a check that found a problem: audit verify,
health), 2 bad input, 3 authentication or permission, 4 not found, 5 conflict, 6 an
unavailable dependency, 78 a configuration that cannot run
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adminctl",
        description="Admin Core: the admin control plane's command line.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help=JSON_HELP)
    groups = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (
        system, tenants, users, flags, side_effects, matching, doctors, sessions, graph, audit,
        health,
    ):  # fmt: skip
        module.register(groups)
    for command, summary in _commands(parser):
        command.description = command.description or summary  # `adminctl health --help`
        if command.prog in WITHOUT_JSON:
            continue
        command.add_argument(  # `adminctl tenants list --json` works too
            "--json", action="store_true", default=argparse.SUPPRESS, help=JSON_HELP
        )
    return parser


def _commands(
    parser: argparse.ArgumentParser,
) -> list[tuple[argparse.ArgumentParser, str | None]]:
    """Every command and group of commands under `parser`, with its line in the list of
    its parent's commands."""
    found: list[tuple[argparse.ArgumentParser, str | None]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for listed in action._choices_actions:
                command = action.choices[listed.dest]
                found += [(command, listed.help), *_commands(command)]
    return found


def _chosen(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The command `args` ran, so that its own usage goes with an error about its arguments."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            name = getattr(args, action.dest, None)
            if name in action.choices:
                return _chosen(action.choices[name], args)
    return parser


def parse(words: Sequence[str]) -> argparse.Namespace:
    parser = build_parser()
    args, unknown = parser.parse_known_args(words)
    if unknown:
        _chosen(parser, args).error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


async def execute(args: argparse.Namespace, container: Container) -> int:
    """Run one parsed command on `container` (which the caller closes)."""
    try:
        status = await args.handler(
            CommandContext(args=args, container=container, as_json=args.json)
        )
    except Exception as error:
        if schema_missing(error):
            return report_problems(
                "the database has no schema yet:",
                ["run `adminctl db upgrade` (the embedded `adminctl serve` creates it on start)"],
            )
        if isinstance(error, AdminError):
            return report_error(error, as_json=args.json)
        raise
    return status if isinstance(status, int) else 0


async def _run(args: argparse.Namespace, container: Container) -> int:
    try:
        return await execute(args, container)
    finally:
        await aclose(container)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    # The driver's "will be retried in 2.1 s" lines are a server log's business; a command
    # reports the outcome once.
    logging.getLogger("neo4j").setLevel(logging.ERROR)
    try:
        args = parse(words)
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
