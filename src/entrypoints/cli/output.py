"""Human tables by default, JSON with `--json`; an error's exit code from its HTTP status.

`--json` prints a command's result through the presenter of its HTTP twin, so it is exactly
the `data` object the API returns for the same request.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from rich.console import Console
from rich.table import Table
from rich.text import Text

from admin_core.kernel.errors import AdminError, error_views
from admin_core.kernel.paging import OffsetPage
from entrypoints.http.errors import status_of
from entrypoints.http.schemas import ErrorItem

#: Exit status of a configuration that cannot run (sysexits' EX_CONFIG).
EXIT_CONFIG = 78
#: Exit status of bad input (a file argument that cannot be read, as a bad value).
EXIT_BAD_INPUT = 2

#: The exit status of an error, by its HTTP status: the CLI and the API answer the same
#: failure the same way (an unknown role is bad input, 2, in both; a rebuild that failed for
#: an internal reason is a bug, 1, not an unavailable dependency).
EXIT_BY_STATUS: dict[int, int] = {
    400: EXIT_BAD_INPUT,
    413: EXIT_BAD_INPUT,
    415: EXIT_BAD_INPUT,
    422: EXIT_BAD_INPUT,
    414: EXIT_BAD_INPUT,
    431: EXIT_BAD_INPUT,
    401: 3,
    403: 3,
    404: 4,
    405: 4,
    408: 6,
    409: 5,
    429: 6,
    502: 6,
    503: 6,
    500: 1,
}


def exit_code_of(error: AdminError) -> int:
    return EXIT_BY_STATUS[status_of(error)]


# Piped output is not cut to 80 columns: scripts and logs see whole values. What is printed
# is printed as it is: a name holding `[/]` or `:smile:` is not read as markup or an emoji
# code (a tenant admin's tenant name must not break an operator's `tenants list`); styles
# come only from `styled`.
class _Console(Console):
    def on_broken_pipe(self) -> None:
        """Left to `main`, which ends every command whose reader went away alike (rich's own
        answer exits 1, the status of a failure)."""
        raise BrokenPipeError


stdout = _Console(
    width=None if sys.stdout.isatty() else 200, markup=False, emoji=False, highlight=False
)
stderr = _Console(
    stderr=True,
    width=None if sys.stderr.isatty() else 200,
    markup=False,
    emoji=False,
    highlight=False,
)


def styled(*parts: str | tuple[str, str]) -> Text:
    """A line of plain strings and (text, style) pairs, each printed as it is."""
    return Text.assemble(*parts)


def print_json(value: Any) -> None:
    """A presenter's Struct (or plain data) as the API would encode it, indented."""
    encoded = msgspec.json.encode(value)
    sys.stdout.write(msgspec.json.format(encoded, indent=2).decode() + "\n")


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A table of values printed as they are (a `Text` keeps its style)."""
    table = Table(title=Text(title), title_justify="left", min_width=len(title))
    for column in columns:
        table.add_column(Text(column), overflow="fold")
    for row in rows:
        table.add_row(
            *(v if isinstance(v, Text) else Text("" if v is None else str(v)) for v in row)
        )
    stdout.print(table)


def print_next_page(page: OffsetPage[Any]) -> None:
    """Under a page that has a next one, how to read it."""
    if page.next_cursor:
        stdout.print(Text(f"next page: --cursor {page.next_cursor}"), soft_wrap=True)


def report_error(error: AdminError, *, as_json: bool) -> int:
    """The error as the API's error items (on stderr), and its exit code."""
    print_errors([ErrorItem.of(v) for v in error_views(error)], as_json=as_json)
    return exit_code_of(error)


def print_errors(items: Sequence[ErrorItem], *, as_json: bool) -> None:
    """Error items on stderr: as the API's error envelope with `--json`, else one a line."""
    if as_json:
        envelope = _printable(msgspec.to_builtins({"success": False, "errors": items}))
        sys.stderr.write(msgspec.json.encode(envelope).decode() + "\n")
        return
    for item in items:
        where = f" ({item.field})" if item.field else ""
        # One line however long: a log or a `grep` of it reads the whole error.
        line = styled(("error", "red"), f" {item.code}{where}: {item.message}")
        stderr.print(line, soft_wrap=True)


def _printable(value: Any) -> Any:
    """`value` with every lone surrogate (a byte of an argument that is not UTF-8, quoted
    back in a message) written as its escape, `\\udcff`: JSON cannot hold it as it is."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        return [_printable(v) for v in value]
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    return value


#: The code of a configuration that cannot run, in the `--json` error envelope (exit 78).
CONFIGURATION_INVALID = "CONFIGURATION_INVALID"
#: The code of a database whose schema is not this release's (none, older, newer; exit 78).
DATABASE_SCHEMA_NOT_CURRENT = "DATABASE_SCHEMA_NOT_CURRENT"
#: A problem that names its setting (`ADMIN_PORT: must be ...`).
_SETTING = re.compile(r"^(ADMIN_[A-Z0-9_]+):")


def report_problems(
    title: str,
    problems: Sequence[str],
    *,
    as_json: bool = False,
    code: str = CONFIGURATION_INVALID,
) -> int:
    """What stops the command from running at all (exit 78): with `--json` the error
    envelope, one item per problem, `field` the setting it names; else one problem as the
    line every failure prints (`error CODE (field): ...`), several as a list under that line
    (`error CODE: title`), so the code is said whatever the count."""
    items = [
        ErrorItem(
            code=code,
            message=f"{title} {problem}",
            field=found[1] if (found := _SETTING.match(problem)) else None,
        )
        for problem in problems
    ]
    if as_json or len(items) == 1:
        print_errors(items, as_json=as_json)
        return EXIT_CONFIG
    stderr.print(styled(("error", "red"), f" {code}: {title}"), soft_wrap=True)
    for problem in problems:
        stderr.print(f"  - {problem}", soft_wrap=True)
    return EXIT_CONFIG
