"""`adminctl` — parse, read the settings, build the container, run one command, map errors
to exit codes."""

from __future__ import annotations

import argparse
import asyncio
import codecs
import io
import logging
import os
import re
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import NoReturn

from adapters.sql.errors import schema_missing
from admin_core.kernel.errors import AdminError, ValidationFailed
from admin_core.kernel.principal import Principal
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
from entrypoints.cli.context import CommandContext, operator
from entrypoints.cli.files import STORAGE_ERRORS, NotKept
from entrypoints.cli.launch import (
    EXIT_INTERRUPTED,
    EXIT_PIPE_CLOSED,
    EXIT_TERMINATED,
    INTERRUPTED,
    TERMINATED,
    Terminated,
)
from entrypoints.cli.output import (
    DATABASE_SCHEMA_NOT_CURRENT,
    EXIT_BAD_INPUT,
    print_errors,
    report_error,
    report_problems,
    stderr,
    styled,
)
from entrypoints.container import Container, aclose, build_container, choices
from entrypoints.http.schemas import ErrorItem
from entrypoints.settings import ConfigurationError, Settings, unknown_variables

JSON_HELP = "machine-readable JSON output (the HTTP API's `data`)"
WITHOUT_JSON = {"adminctl serve"}  # runs the server: nothing of its own to print as JSON
EXIT_CODES = """exit codes: 0 done, 1 internal error (or a check that found a problem: audit verify,
health), 2 bad input, 3 authentication or permission, 4 not found, 5 conflict, 6 an
unavailable dependency, 74 the output could not be written (a full disk), 78 a
configuration that cannot run, 130 interrupted (Ctrl-C), 141 the reader of the output went
away (`| head`) or stdout is closed, 143 terminated (SIGTERM)
"""
#: The status of an unexpected error (a bug), as INTERNAL_ERROR is the API's 500.
EXIT_INTERNAL = 1


class ArgumentsRefused(Exception):
    """The parser refused the command line: `message` says why, `field` names the argument
    when one is to blame."""

    def __init__(self, parser: argparse.ArgumentParser, message: str, field: str | None):
        super().__init__(message)
        self.parser, self.message, self.field = parser, message, field


class Parser(argparse.ArgumentParser):
    """argparse, but a refused command line is raised, not printed: `main` prints it as
    argparse does, or with `--json` as the error envelope every other failure prints."""

    def error(self, message: str) -> NoReturn:
        blamed = re.match(r"argument ([^:]+): ", message)
        field = None
        for action in self._actions if blamed else ():
            if argparse._get_action_name(action) == blamed[1]:  # type: ignore[index]
                is_command = isinstance(action, argparse._SubParsersAction)
                field = "command" if is_command else action.dest
        raise ArgumentsRefused(self, message, field)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="adminctl",
        description="Admin Core: the admin control plane's command line.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help=JSON_HELP)
    parser.add_argument(
        "--version",
        action="version",
        version=f"adminctl {metadata.version('admin-core')}",
        help="the release of Admin Core this is, to quote in a report",
    )
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="on an unexpected error (INTERNAL_ERROR), show where it happened, to report it",
    )
    groups = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (
        system, tenants, users, flags, side_effects, matching, doctors, sessions, graph, audit,
        health,
    ):  # fmt: skip
        module.register(groups)
    for command, summary in _commands(parser):
        command.description = command.description or summary  # `adminctl health --help`
        command.epilog = EXIT_CODES  # what `$?` means, beside the command it follows
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
    """The parsed command line; raises `ArgumentsRefused` for one the parser refuses, and
    `ValidationFailed` for an argument that is not UTF-8 text."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(words)
    if unknown:
        _chosen(parser, args).error(f"unrecognized arguments: {' '.join(unknown)}")
    for name, value in vars(args).items():
        if _undecodable(value):
            raise ValidationFailed.single(name, NOT_UTF8)
    return args


#: An argument holding bytes that are not UTF-8 (`$'\xff'`) reaches Python as lone
#: surrogates: no database, JSON document or API answer can hold it.
NOT_UTF8 = "must be UTF-8 text (it holds bytes that are not)"
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _undecodable(value: object) -> bool:
    """Whether a parsed value (text, a path, a list or pair of them) holds lone surrogates."""
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, list | tuple):
        return any(_undecodable(v) for v in value)
    return False


def _refused(refused: ArgumentsRefused, *, as_json: bool) -> int:
    """Bad input (exit 2): with `--json` the error envelope; else the command's usage, then
    the error line every failure prints, with its code (which leaves through `SystemExit`,
    as argparse's own would)."""
    item = ErrorItem(code=ValidationFailed.code, message=refused.message, field=refused.field)
    if not as_json:
        refused.parser.print_usage(sys.stderr)
        print_errors([item], as_json=False)
        sys.exit(EXIT_BAD_INPUT)
    print_errors([item], as_json=True)
    return EXIT_BAD_INPUT


async def execute(
    args: argparse.Namespace, container: Container, principal: Principal | None = None
) -> int:
    """Run one parsed command on `container` (which the caller closes) as `principal`
    (default: the operator, `cli:<login name>`)."""
    acting = principal or operator()
    try:
        status = await args.handler(
            CommandContext(args=args, container=container, as_json=args.json, principal=acting)
        )
    except Exception as error:
        if schema_missing(error):
            return report_problems(
                "the database has no schema yet:",
                ["run `adminctl db upgrade` (the embedded `adminctl serve` creates it on start)"],
                as_json=args.json,
                code=DATABASE_SCHEMA_NOT_CURRENT,
            )
        if isinstance(error, AdminError):
            return report_error(error, as_json=args.json)
        raise
    return status if isinstance(status, int) else 0


async def _run(args: argparse.Namespace, container: Container, principal: Principal) -> int:
    try:
        return await execute(args, container, principal)
    finally:
        await aclose(container)


def _encode_output() -> None:
    """What goes to a pipe or a file is UTF-8, as JSON is (RFC 8259) and as `-o` files are,
    whatever the locale says; a terminal keeps its encoding, and shows what it cannot as `?`
    rather than the command failing half-way."""
    for stream in (sys.stdout, sys.stderr):
        if not isinstance(stream, io.TextIOWrapper):
            continue
        if codecs.lookup(stream.encoding).name == "utf-8":
            continue
        if stream.isatty():
            stream.reconfigure(errors="replace")
        else:
            stream.reconfigure(encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    _encode_output()
    try:
        status = _main(words)
        sys.stdout.flush()  # here, where a reader gone away can still be answered
        return status
    except KeyboardInterrupt:  # Ctrl-C: what was running has been cancelled and closed
        item = ErrorItem(code="INTERRUPTED", message=INTERRUPTED)
        print_errors([item], as_json="--json" in words)
        return EXIT_INTERRUPTED
    except Terminated:  # SIGTERM (`timeout`, `kill`): the same, with the shell's status for it
        print_errors([ErrorItem(code="TERMINATED", message=TERMINATED)], as_json="--json" in words)
        return EXIT_TERMINATED
    except BrokenPipeError:  # `adminctl ... | head`: the reader has what it wanted
        # What is still buffered for stdout would fail again when Python flushes it at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE_CLOSED
    except Exception as error:  # a bug: said as the API says it, its details on request
        if isinstance(error, OSError) and error.errno in STORAGE_ERRORS:
            return _storage_failed(error, as_json="--json" in words)
        if "--traceback" in words:
            raise
        message = (
            f"an unexpected error ({type(error).__name__}), which is a bug: run the command"
            " again with `adminctl --traceback ...` to see where it happened, and report it"
        )
        print_errors([ErrorItem(code="INTERNAL_ERROR", message=message)], as_json="--json" in words)
        return EXIT_INTERNAL


#: sysexits' EX_IOERR.
EXIT_IO = 74


def _storage_failed(error: OSError, *, as_json: bool) -> int:
    """`IO_ERROR` (exit 74) of the command's output, naming the system's reason. A file the
    command writes is `NotKept`, which names it; this is stdout, or a file no `-o` names."""
    where = f" ({error.filename})" if error.filename else ""
    return _not_kept(
        f"the output could not be written: {error.strerror}{where}", field=None, as_json=as_json
    )


def _not_kept(message: str, *, field: str | None, as_json: bool) -> int:
    """`IO_ERROR` (exit 74). What was buffered for stdout is dropped if it cannot be written
    either, rather than failing again at exit."""
    try:
        sys.stdout.flush()
    except OSError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    print_errors([ErrorItem(code="IO_ERROR", message=message, field=field)], as_json=as_json)
    return EXIT_IO


def _main(words: list[str]) -> int:
    # The driver's "will be retried in 2.1 s" lines are a server log's business; a command
    # reports the outcome once.
    logging.getLogger("neo4j").setLevel(logging.ERROR)
    try:
        args = parse(words)
    except AdminError as error:  # a value an argument type refused
        return report_error(error, as_json="--json" in words)
    except ArgumentsRefused as refused:
        return _refused(refused, as_json="--json" in words)
    try:
        return _handle(args)
    except AdminError as error:
        return report_error(error, as_json=args.json)
    except ConfigurationError as error:  # a file a setting names, met as the command ran
        return report_problems("the configuration cannot run:", error.problems, as_json=args.json)
    except NotKept as error:
        return _not_kept(error.message, field=error.field, as_json=args.json)


def _handle(args: argparse.Namespace) -> int:
    if getattr(args, "offline_handler", None) is not None:  # audit verify-export: no settings
        offline: int = args.offline_handler(args)
        return offline
    if getattr(args, "settings_handler", None) is not None:  # config check: reads on its own
        result: int = args.settings_handler(args)
        return result
    try:
        settings = Settings.from_env()
    except ConfigurationError as error:
        return report_problems("the configuration cannot run:", error.problems, as_json=args.json)
    if settings.embedded:  # production refuses them; here a typo would go unnoticed
        for unknown in unknown_variables():
            stderr.print(styled(("note", "yellow"), f": {unknown}; it is ignored"))
    if getattr(args, "sync_handler", None) is not None:
        status: int = args.sync_handler(args, settings)
        return status
    try:
        acting = operator()
    except ConfigurationError as error:
        return report_problems("the configuration cannot run:", error.problems, as_json=args.json)
    if choices.database(settings) == "memory":
        _note_own_database()
    return asyncio.run(_run(args, build_container(settings), acting))


def _note_own_database() -> None:
    """A `memory://` database lives in one process: a command's is its own, empty when it
    starts and gone when it ends, and not the server's. Said on stderr, `--json` or not, as
    the graph's note is: what it reads or writes is not where the operator may think."""
    stderr.print(
        styled(
            ("note", "yellow"),
            ": ADMIN_DATABASE_URL is memory://, which lives in one process's memory: this"
            " command's database is its own, empty when it starts and gone when it ends",
        )
    )


if __name__ == "__main__":
    sys.exit(main())
