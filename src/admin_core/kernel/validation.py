"""Field checks shared by use cases: collect every offending field, then fail once.

The HTTP layer rejects most malformed bodies before a use case runs; these checks are the
rules themselves, so the CLI and embedding services get the same answers.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar

from admin_core.kernel.errors import FieldError, ValidationFailed
from admin_core.kernel.paging import (
    MAX_OFFSET,
    MAX_OFFSET_LIMIT,
    CursorInvalid,
    Window,
    decode_position,
)

#: Characters no stored text, id or filter holds: C0 and C1 controls (PostgreSQL cannot store
#: a NUL at all; tabs and line breaks are refused too), and the invisible ones that change
#: how text around them reads (bidirectional overrides such as U+202E, zero-width spaces and
#: joiners, line and paragraph separators, the soft hyphen): a name holding them can pass
#: for another one on an operator's screen.
CONTROL_RANGES = (
    r"\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff"
)
_CONTROL = re.compile(f"[{CONTROL_RANGES}]")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_HINT = "must be a date (YYYY-MM-DD) or an ISO date-time"

#: A time bound as an entrypoint received it: text, a date or a date-time.
TimeBound = str | date | datetime | None

Failure = TypeVar("Failure", bound=ValidationFailed)

#: The longest reason a change may give (flags, triage, refunds).
MAX_REASON_LENGTH = 500


def has_control_characters(value: str) -> bool:
    return _CONTROL.search(value) is not None


def time_bound(value: TimeBound, *, field: str, end: bool) -> datetime | None:
    """An inclusive UTC bound: a date covers its whole UTC day (`end` picks its last
    microsecond); a date-time without an offset is UTC. A value whose offset moves it before
    year 1 or past year 9999 in UTC bounds nothing on that side: it becomes the earliest or
    latest time there is. Unreadable text is a VALIDATION_ERROR naming `field`."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 64:
            raise ValidationFailed.single(field, _TIME_HINT)
        try:
            value = (
                date.fromisoformat(text) if _DATE_ONLY.match(text) else datetime.fromisoformat(text)
            )
        except ValueError as error:
            raise ValidationFailed.single(field, _TIME_HINT) from error
    if not isinstance(value, datetime):
        return datetime.combine(value, time.max if end else time.min, tzinfo=UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        ahead_of_utc = (value.utcoffset() or timedelta()) > timedelta()
        return (datetime.min if ahead_of_utc else datetime.max).replace(tzinfo=UTC)


class FieldChecks:
    """Accumulates `FieldError`s; `done()` raises `ValidationFailed` if there are any."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def fail(self, field: str, message: str) -> None:
        self.errors.append(FieldError(field=field, message=message))

    def text(
        self,
        field: str,
        value: str | None,
        *,
        max_length: int,
        pattern: re.Pattern[str] | None = None,
        pattern_hint: str = "",
        required: bool = True,
    ) -> str | None:
        """A trimmed string: not blank, at most `max_length` characters, matching `pattern`."""
        if value is None:
            if required:
                self.fail(field, "is required")
            return None
        if len(value) > max_length:
            self.fail(field, f"must be at most {max_length} characters")
            return None
        trimmed = value.strip()
        if not trimmed:
            self.fail(field, "must not be empty")
            return None
        if has_control_characters(trimmed):
            self.fail(field, "must not contain control characters")
            return None
        if pattern is not None and not pattern.fullmatch(trimmed):
            self.fail(field, f"must be {pattern_hint}" if pattern_hint else "has a bad format")
            return None
        return trimmed

    def one_of(
        self,
        field: str,
        value: str | None,
        allowed: Collection[str],
        hint: str,
        *,
        max_length: int,
        required: bool = True,
    ) -> str | None:
        """A code from a reference list (a country, a currency, a time zone): `hint` says
        what it must be."""
        code = self.text(field, value, max_length=max_length, required=required)
        if code is not None and code not in allowed:
            self.fail(field, f"must be {hint}")
            return None
        return code

    def reason(self, value: str | None, *, required: bool = True) -> str | None:
        """Why a change is made (`reason`): recorded in its audit entries."""
        return self.text("reason", value, max_length=MAX_REASON_LENGTH, required=required)

    def texts(
        self,
        field: str,
        values: Sequence[str],
        *,
        max_items: int,
        max_length: int,
        allowed: Iterable[str] | None = None,
        allowed_hint: str = "",
    ) -> tuple[str, ...]:
        """A list of distinct trimmed strings, in the order given."""
        if len(values) > max_items:
            self.fail(field, f"must have at most {max_items} items")
            return ()
        known = frozenset(allowed) if allowed is not None else None
        result: list[str] = []
        for index, value in enumerate(values):
            item = self.text(f"{field}.{index}", value, max_length=max_length)
            if item is None:
                continue
            if known is not None and item not in known:
                self.fail(f"{field}.{index}", f"must be {allowed_hint}")
                continue
            if item not in result:
                result.append(item)
        return tuple(result)

    def page(self, limit: int, offset: int, max_limit: int = MAX_OFFSET_LIMIT) -> None:
        """`limit` is 1..`max_limit`, `offset` 0..`MAX_OFFSET`."""
        if not 1 <= limit <= max_limit:
            self.fail("limit", f"must be between 1 and {max_limit}")
        if not 0 <= offset <= MAX_OFFSET:
            self.fail("offset", f"must be between 0 and {MAX_OFFSET}")

    def window(
        self,
        cursor: str | None,
        limit: int,
        offset: int,
        *,
        scope: Sequence[object],
        shape: tuple[type, ...],
    ) -> Window:
        """The page of `limit` rows the list `scope` names starts at: `offset`, or right
        after the row `cursor` names (keys of the types `shape` lists). A cursor is refused
        if this list did not issue it for these filters, or if an offset is given with it."""
        window = Window(limit=limit, offset=offset, scope=scope)
        if cursor is None:
            return window
        if offset:
            self.fail("offset", "must not be given with cursor")
        try:
            return replace(window, position=decode_position(cursor, scope=scope, shape=shape))
        except CursorInvalid as error:
            self.fail("cursor", str(error))
            return window

    def time_range(
        self, start: TimeBound, stop: TimeBound
    ) -> tuple[datetime | None, datetime | None]:
        """Two inclusive bounds, `from_date` and `to_date` (see `time_bound`), the second not
        before the first."""
        bounds: list[datetime | None] = []
        for field, value, end in (("from_date", start, False), ("to_date", stop, True)):
            try:
                bounds.append(time_bound(value, field=field, end=end))
            except ValidationFailed as error:
                self.errors.extend(error.errors)
                bounds.append(None)
        first, last = bounds
        if first is not None and last is not None and last < first:
            self.fail("to_date", "must not be before from_date")
        return first, last

    def done(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)

    def joined(self, refused: Failure) -> Failure:
        """`refused` (a more precise failure of the same request, such as a value a catalogue
        does not allow) naming the fields found wrong here too, each as a VALIDATION_ERROR:
        one answer names every problem."""
        ours = [replace(error, code=error.code or ValidationFailed.code) for error in self.errors]
        return type(refused)([*refused.errors, *ours], refused.message)
