"""JSON from outside the process — a cursor a caller sealed, a file an operator names, an
export, a stored document, a service's answer — is read in one place
(`admin_core.kernel.json_text.read_json`; a service's answer through
`adapters.http.answers.json_body`), which says JSON nested deeper than the parser goes as
the ValueError every reader already takes for "not JSON": a 422, a named bad line, a
configuration problem, a service's failure — never the parser's RecursionError, a 500 or a
crashed command."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest

from adapters.http.answers import json_body
from admin_core.kernel.json_text import JsonTooDeep, JsonUnreadable, read_json

SOURCE = Path(__file__).resolve().parents[2] / "src"
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    ("body", "refusal"),
    [
        (b"<html>maintenance</html>", JsonUnreadable),
        (DEEP, JsonTooDeep),
        (b'{"a":' * 5_000, JsonUnreadable),
        (b"", JsonUnreadable),
        (b'"\xe9"', JsonUnreadable),  # not UTF-8
    ],
    ids=["a web page", "nested deeper than a parser goes", "cut short", "empty", "latin-1"],
)
def test_text_that_holds_no_json_a_parser_reads_is_a_value_error(
    body: bytes, refusal: type[JsonUnreadable]
) -> None:
    with pytest.raises(refusal):
        read_json(body)
    with pytest.raises(refusal):
        json_body(httpx.Response(200, content=body))


def test_json_is_read_with_the_parsers_options() -> None:
    assert json_body(httpx.Response(200, json={"data": [1, 2]})) == {"data": [1, 2]}
    assert read_json("[1.5]", parse_float=str) == ["1.5"]


def _calls(attribute: str, *, owner: str | None) -> list[str]:
    """Where the source calls `<owner>.<attribute>(...)` (any owner when None)."""
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr != attribute:
                continue
            value = node.func.value
            if owner is None or (isinstance(value, ast.Name) and value.id == owner):
                found.append(f"{path.relative_to(SOURCE)}:{node.lineno}")
    return found


def test_json_text_is_parsed_only_by_read_json() -> None:
    assert [c for c in _calls("loads", owner="json") if "kernel/json_text.py" not in c] == []


def test_no_service_answer_is_read_past_json_body() -> None:
    """A response's own `.json()` would let the parser's RecursionError out again."""
    calls = [c for c in _calls("json", owner=None) if c.startswith("adapters/")]
    assert calls == []
