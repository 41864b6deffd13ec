"""Cursors a caller made: the checksum of a cursor is no secret, so a client can seal any
content it likes. Whatever it sealed, a list refuses it as not its cursor (422 naming the
field), never with a crash, and takes back only a position of its own shape."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from admin_core.kernel.paging import (
    MAX_CURSOR_LENGTH,
    MAX_OFFSET,
    CursorInvalid,
    Position,
    decode_position,
    encode_position,
    seal_cursor,
)

PURPOSE = b"page-cursor:"  # what the lists seal their cursors for
SCOPE = ["tenants", "active"]
SHAPES: list[tuple[type, ...]] = [(str,), (int,), (datetime, str)]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=6,
)


def digest_of(scope: list[str]) -> str:
    """The scope digest a genuine cursor of `scope` carries."""
    token = encode_position(Position(after=("x",), seen=0), scope=scope)
    raw = decode_raw(token)
    return str(json.loads(raw)[3])


def decode_raw(token: str) -> bytes:
    raw_token = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    return raw_token.rpartition(b"|")[0]


@given(
    version=st.sampled_from([1, 2, 0, "1", None, 1.0, True]),
    key=json_values,
    seen=st.one_of(st.integers(-5, MAX_OFFSET + 5), json_values),
    genuine_digest=st.booleans(),
    digest=json_values,
    shape=st.sampled_from(SHAPES),
    extra=st.lists(json_values, max_size=2),
)
def test_a_cursor_sealed_by_a_caller_is_taken_only_as_a_position_of_the_lists_shape(
    version: Any,
    key: Any,
    seen: Any,
    genuine_digest: bool,
    digest: Any,
    shape: tuple[type, ...],
    extra: list[Any],
) -> None:
    content = [version, key, seen, digest_of(SCOPE) if genuine_digest else digest, *extra]
    token = seal_cursor(json.dumps(content).encode(), purpose=PURPOSE)
    try:
        position = decode_position(token, scope=SCOPE, shape=shape)
    except CursorInvalid:
        return
    assert 0 <= position.seen <= MAX_OFFSET
    assert [type(v) for v in position.after] == list(shape)


@given(raw=st.binary(max_size=64), shape=st.sampled_from(SHAPES))
def test_any_bytes_sealed_by_a_caller_are_refused_as_not_a_cursor(
    raw: bytes, shape: tuple[type, ...]
) -> None:
    token = seal_cursor(raw, purpose=PURPOSE)
    try:
        decode_position(token, scope=SCOPE, shape=shape)
    except CursorInvalid:
        return
    raise AssertionError(f"took {raw!r}")  # never a position: no genuine digest in it


def test_a_time_beyond_what_a_datetime_holds_is_refused_as_not_a_cursor() -> None:
    content = [1, [["t", 10**20], "id"], 0, digest_of(SCOPE)]
    token = seal_cursor(json.dumps(content).encode(), purpose=PURPOSE)
    with pytest.raises(CursorInvalid, match="not a cursor"):
        decode_position(token, scope=SCOPE, shape=(datetime, str))
    ok = encode_position(
        Position(after=(datetime(2026, 1, 1, tzinfo=UTC), "id"), seen=3), scope=SCOPE
    )
    assert decode_position(ok, scope=SCOPE, shape=(datetime, str)).seen == 3


@pytest.mark.parametrize(
    ("key", "shape", "refusal"),
    [
        (["t", "id"], (datetime, str), "not a cursor"),  # a time not as a cursor holds one
        ([["t", 1.5], "id"], (datetime, str), "not a cursor"),  # a time of no whole µs
        ([["t", "1"], "id"], (datetime, str), "not a cursor"),
        ([True], (int,), "not a cursor"),  # a boolean is no number
        ([1], (str,), "not a cursor"),
    ],
)
def test_a_key_of_another_shape_than_the_lists_is_refused(
    key: list[Any], shape: tuple[type, ...], refusal: str
) -> None:
    token = seal_cursor(json.dumps([1, key, 0, digest_of(SCOPE)]).encode(), purpose=PURPOSE)
    with pytest.raises(CursorInvalid, match=refusal):
        decode_position(token, scope=SCOPE, shape=shape)


def test_a_cursor_sealed_for_other_filters_says_so() -> None:
    token = seal_cursor(json.dumps([1, ["x"], 0, digest_of(["tenants"])]).encode(), purpose=PURPOSE)
    with pytest.raises(CursorInvalid, match="different set of filters"):
        decode_position(token, scope=SCOPE, shape=(str,))


@pytest.mark.parametrize("depth", [1_100, 1_500])
def test_json_nested_deeper_than_a_parser_goes_is_refused_as_not_a_cursor(depth: int) -> None:
    """Within the longest cursor a list takes, a caller can seal more levels of nesting than
    the parser goes: refused as any other content (422), never the parser's RecursionError
    (a 500)."""
    token = seal_cursor(b"[" * depth, purpose=PURPOSE)
    assert len(token) <= MAX_CURSOR_LENGTH
    with pytest.raises(CursorInvalid, match="not a cursor"):
        decode_position(token, scope=SCOPE, shape=(str,))
