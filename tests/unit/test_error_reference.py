"""docs/errors.md says what the code answers: every code the API or the CLI can answer has one
row, with the HTTP status and exit code of the code's tables, and every row is a code the
code answers."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest

from admin_core.kernel.errors import AdminError
from entrypoints.cli.commands.system import EXIT_SEED_REFUSED
from entrypoints.cli.launch import EXIT_INTERRUPTED, EXIT_PIPE_CLOSED, EXIT_TERMINATED
from entrypoints.cli.main import EXIT_IO
from entrypoints.cli.output import (
    CONFIGURATION_INVALID,
    DATABASE_SCHEMA_NOT_CURRENT,
    EXIT_BY_STATUS,
    EXIT_CONFIG,
    exit_code_of,
)
from entrypoints.http.errors import STATUS, status_of
from tests.support.errors import BY_CAUSE, error_classes

ROOT = Path(__file__).parents[2]
REFERENCE = ROOT / "docs" / "errors.md"

#: The codes only `adminctl` answers, which no error class has, and their exit codes.
CLI_ONLY = {
    CONFIGURATION_INVALID: EXIT_CONFIG,
    DATABASE_SCHEMA_NOT_CURRENT: EXIT_CONFIG,
    "DEMO_SEED_REFUSED": EXIT_SEED_REFUSED,
    "IO_ERROR": EXIT_IO,
    "INTERRUPTED": EXIT_INTERRUPTED,
    "TERMINATED": EXIT_TERMINATED,
    "OUTPUT_CLOSED": EXIT_PIPE_CLOSED,
}

#: What one code answers: (HTTP status, exit code) pairs, the status None for the CLI's own.
Answers = set[tuple[int | None, int]]


def _answers(cls: type[AdminError]) -> Answers:
    caused = {
        (status_of(error), exit_code_of(error)) for error, _, _ in BY_CAUSE if type(error) is cls
    }
    return caused or {(STATUS[cls], EXIT_BY_STATUS[STATUS[cls]])}


ANSWERED: dict[str, Answers] = {cls.code: _answers(cls) for cls in error_classes()} | {
    code: {(None, exit_code)} for code, exit_code in CLI_ONLY.items()
}

_CODE_ROW = re.compile(r"^\| `(?P<code>[A-Z][A-Z0-9_]*)` \|")
_STATUS_ROW = re.compile(r"^\| (?P<statuses>\d{3}(?:, \d{3})*) \| (?P<exit>\d+) \|")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _rows() -> list[tuple[str, Answers]]:
    """Each row of a code in the reference: its code, and the pairs of its HTTP column ("503
    / 500", or "—") and its exit column ("6 / 1"), in order."""
    rows = []
    for line in REFERENCE.read_text(encoding="utf-8").splitlines():
        if _CODE_ROW.match(line) is None:
            continue
        code, http, exits = _cells(line)[:3]
        statuses: list[int | None] = [int(s) for s in re.findall(r"\d{3}", http)]
        exit_codes = [int(e) for e in re.findall(r"\d+", exits)]
        if not statuses:
            statuses = [None] * len(exit_codes)
        assert len(statuses) == len(exit_codes), line
        rows.append((code.strip("`"), set(zip(statuses, exit_codes, strict=True))))
    return rows


DOCUMENTED = dict(_rows())


def test_every_code_has_one_row() -> None:
    counts = Counter(code for code, _ in _rows())
    assert [code for code, n in counts.items() if n > 1] == []


@pytest.mark.parametrize("code", sorted(ANSWERED))
def test_every_code_answered_is_documented_with_its_status_and_exit_code(code: str) -> None:
    assert DOCUMENTED.get(code) == ANSWERED[code]


def test_every_code_documented_is_answered() -> None:
    assert set(DOCUMENTED) - set(ANSWERED) == set()


def test_the_exit_code_by_status_table_is_the_clis() -> None:
    documented = {}
    for line in REFERENCE.read_text(encoding="utf-8").splitlines():
        if row := _STATUS_ROW.match(line):
            for status in row["statuses"].split(", "):
                documented[int(status)] = int(row["exit"])
    assert documented == EXIT_BY_STATUS


def _written_codes() -> set[str]:
    """The codes the entrypoints and the core write as text rather than as an error class's:
    `code="..."` in a call, `_refuse("...")`, and the entrypoints' constants of a code
    (`IO_ERROR = "IO_ERROR"`)."""
    found: set[str] = set()
    for package in ("entrypoints", "admin_core"):
        for path in (ROOT / "src" / package).rglob("*.py"):
            found |= _codes_in(path.read_text(encoding="utf-8"), constants=package == "entrypoints")
    return found


def _codes_in(source: str, *, constants: bool) -> set[str]:
    """The codes `source` writes as text; its constants only with `constants` (the core's
    enums have members such as `WORKS_AT = "WORKS_AT"`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            found |= {
                kw.value.value
                for kw in node.keywords
                if kw.arg == "code"
                and isinstance(kw.value, ast.Constant)
                and isinstance(kw.value.value, str)
            }
            named = node.func.id if isinstance(node.func, ast.Name) else None
            first = node.args[0] if node.args else None
            if named == "_refuse" and isinstance(first, ast.Constant):
                found.add(first.value)
        if constants and isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            found |= {
                t.id
                for t in node.targets
                if isinstance(t, ast.Name) and t.id == node.value.value and t.id.isupper()
            }
    return found


def test_the_codes_only_the_cli_answers_are_the_ones_its_code_writes() -> None:
    """A code the CLI writes as text has no error class to list it: a new one must be added
    to `CLI_ONLY`, and so to the reference."""
    written = _written_codes()
    classes = {cls.code for cls in error_classes()}
    assert written - classes == set(CLI_ONLY)
