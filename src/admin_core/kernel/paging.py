"""Pages of results: offset pages, the cursors that continue them, and the bounds every paged
query shares.

An offset counts rows, so a row added or removed before it between two pages shifts every
later page: one row is read twice, or one is never read. Each offset list therefore also
hands out a cursor with every page that has a next one: the sort key of the page's last row,
bound to the list and its filters. The next page read with it starts right after that row,
so a row that did not change is read exactly once, in order, whatever was added or removed
meanwhile (a row whose sort key changed may be read again or not at all).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from admin_core.kernel.json_text import read_json

T = TypeVar("T")

MAX_OFFSET_LIMIT = 200
#: The deepest offset any list accepts: far beyond any real list, and well inside the 64-bit
#: integers both databases bind (a larger number is a 422, never a driver error).
MAX_OFFSET = 1_000_000_000
#: The longest cursor a list gives or takes: a sort key of a 200-character name of 4-byte
#: characters, an id, the count and the digest, in UTF-8 then base64, fits with room.
MAX_CURSOR_LENGTH = 2048

#: The sort key of a row: the values its list orders by, the last one unique (an id).
Key = tuple[str | int | datetime, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetPage(Generic[T]):
    items: Sequence[T]
    #: Every row the list's filters match, those before the page (or its cursor) too, at the
    #: instant the page was read: on every list, whether the page was reached by offset or by
    #: cursor.
    total: int
    limit: int
    #: How many rows come before this page: its offset, or for a page read with a cursor,
    #: how many rows the pages before it held.
    offset: int
    #: False when `total` is the database's estimate (a list too long to count on every
    #: page; see the list's docs).
    total_exact: bool = True
    #: Where the next page starts (None: this page is the last).
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """Right after the row whose sort key is `after`, with `seen` rows before it."""

    after: Key
    seen: int


class CursorInvalid(ValueError):
    """The cursor is not one this list issued for these filters."""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_VERSION = 1
_PURPOSE = b"page-cursor:"
NOT_OURS = "is not a cursor returned by this endpoint"


def micros(value: datetime) -> int:
    """µs since the epoch: how a cursor holds a time, exactly."""
    delta = value.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    """The time `micros` gave `value` for; OverflowError beyond the years a datetime holds."""
    return _EPOCH + timedelta(microseconds=value)


def _check(raw: bytes, purpose: bytes) -> bytes:
    return hashlib.sha256(purpose + raw).hexdigest()[:16].encode("ascii")


def seal_cursor(raw: bytes, *, purpose: bytes) -> str:
    """`raw` as an opaque cursor: URL-safe base64, without padding, of `raw`, `|` and a
    checksum for `purpose`, so that an edited or truncated cursor is told apart."""
    token = raw + b"|" + _check(raw, purpose)
    return base64.urlsafe_b64encode(token).rstrip(b"=").decode("ascii")


def open_cursor(token: str, *, purpose: bytes, max_length: int) -> bytes:
    """The `raw` that `seal_cursor` made `token` of for `purpose`; CursorInvalid for anything else
    (too long, not base64 as `seal_cursor` writes it, edited, or sealed for another purpose)."""
    if not token or len(token) > max_length:
        raise CursorInvalid(NOT_OURS)
    try:
        raw_token = base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError) as error:
        raise CursorInvalid(NOT_OURS) from error
    canonical = base64.urlsafe_b64encode(raw_token).rstrip(b"=").decode("ascii")
    raw, _, check = raw_token.rpartition(b"|")
    if canonical != token or not raw or check != _check(raw, purpose):
        raise CursorInvalid(NOT_OURS)
    return raw


def _scope_digest(scope: Sequence[object]) -> str:
    """A short digest of a list's name and filters (datetimes as µs since the epoch)."""
    values = [micros(v) if isinstance(v, datetime) else v for v in scope]
    raw = json.dumps(values, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(raw.encode("ascii")).hexdigest()[:16]


def encode_position(position: Position, *, scope: Sequence[object]) -> str:
    """An opaque token for `position` in the list `scope` names (its name and filters):
    URL-safe base64 of `[version, key, seen, scope digest]` (JSON in UTF-8) and a checksum,
    so an edited or truncated cursor, or one sent with other filters, is refused."""
    key = [["t", micros(v)] if isinstance(v, datetime) else v for v in position.after]
    raw = json.dumps(
        [_VERSION, key, position.seen, _scope_digest(scope)],
        separators=(",", ":"),
        ensure_ascii=False,  # UTF-8: a name's letters take 2-4 bytes, not a 6-byte escape each
    ).encode("utf-8")
    return seal_cursor(raw, purpose=_PURPOSE)


def decode_position(token: str, *, scope: Sequence[object], shape: tuple[type, ...]) -> Position:
    """The position `token` holds, for the list `scope` names, whose keys are of the types
    `shape` lists; CursorInvalid otherwise."""
    raw = open_cursor(token, purpose=_PURPOSE, max_length=MAX_CURSOR_LENGTH)
    try:
        version, key, seen, digest = read_json(raw)
    except (ValueError, TypeError) as error:
        raise CursorInvalid(NOT_OURS) from error
    if (
        version != _VERSION
        or not isinstance(key, list)
        or len(key) != len(shape)
        or type(seen) is not int
        or not 0 <= seen <= MAX_OFFSET
        or not isinstance(digest, str)
    ):
        raise CursorInvalid(NOT_OURS)
    if digest != _scope_digest(scope):
        raise CursorInvalid("belongs to a different set of filters; start again without it")
    after: list[str | int | datetime] = []
    for value, kind in zip(key, shape, strict=True):
        if kind is datetime:
            if not (isinstance(value, list) and len(value) == 2 and value[0] == "t"):
                raise CursorInvalid(NOT_OURS)
            if type(value[1]) is not int:
                raise CursorInvalid(NOT_OURS)
            try:
                after.append(from_micros(value[1]))
            except OverflowError as error:
                raise CursorInvalid(NOT_OURS) from error
        elif type(value) is kind and isinstance(value, str | int):
            after.append(value)
        else:
            raise CursorInvalid(NOT_OURS)
    return Position(after=tuple(after), seen=seen)


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """Where a page of the list `scope` names starts, and how long it is: `limit` rows from
    `offset`, or right after the row a cursor named (`position`). A repository reads `reads`
    rows, one more than the page holds, so that `page` can tell whether a next one follows."""

    limit: int
    offset: int
    scope: Sequence[object]
    position: Position | None = None

    @property
    def reads(self) -> int:
        return self.limit + 1

    @property
    def after(self) -> Key | None:
        """The sort key of the row the page starts right after (None: it starts at `offset`)."""
        return None if self.position is None else self.position.after

    def page(self, found: OffsetPage[T], key: Callable[[T], Key]) -> OffsetPage[T]:
        """The page of `limit` rows out of the `reads` rows `found` holds: with `next_cursor`
        right after its last row (`key` gives a row's sort key) when one follows."""
        seen = self.offset if self.position is None else self.position.seen
        items = list(found.items[: self.limit])
        following = None
        if len(found.items) > self.limit and items:
            following = encode_position(
                Position(after=key(items[-1]), seen=seen + len(items)), scope=self.scope
            )
        return OffsetPage(
            items=items,
            total=found.total,
            limit=self.limit,
            offset=seen,
            total_exact=found.total_exact,
            next_cursor=following,
        )
