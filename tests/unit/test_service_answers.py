"""A service's answer is read as JSON in one place (`adapters.http.answers.json_body`), which
turns a body no parser reads (not JSON, or nested deeper than the parser goes) into the
ValueError every adapter already takes for "not what the service documents": the service's
failure (a 503, a probe that says down), never a 500 out of an adapter."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest

from adapters.http.answers import NotJson, json_body

ADAPTERS = Path(__file__).resolve().parents[2] / "src" / "adapters"


@pytest.mark.parametrize(
    "body",
    [b"<html>maintenance</html>", b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 5_000, b""],
    ids=["a web page", "JSON nested deeper than a parser goes", "JSON cut short", "empty"],
)
def test_a_body_no_parser_reads_is_not_json(body: bytes) -> None:
    with pytest.raises(NotJson):
        json_body(httpx.Response(200, content=body))


def test_a_json_body_is_read() -> None:
    assert json_body(httpx.Response(200, json={"data": [1, 2]})) == {"data": [1, 2]}


def test_no_adapter_reads_an_answer_past_json_body() -> None:
    """`.json()` anywhere else would let the parser's RecursionError out again."""
    calls = []
    for path in sorted(ADAPTERS.rglob("*.py")):
        if path == ADAPTERS / "http" / "answers.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "json"
                and not node.args
            ):
                calls.append(f"{path.relative_to(ADAPTERS)}:{node.lineno}")
    assert calls == []
