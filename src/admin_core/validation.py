"""Field checks shared by use cases: collect every offending field, then fail once.

The HTTP layer rejects most malformed bodies before a use case runs; these checks are the
rules themselves, so the CLI and embedding services get the same answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from admin_core.errors import FieldError, ValidationFailed


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
        if pattern is not None and not pattern.fullmatch(trimmed):
            self.fail(field, f"must be {pattern_hint}" if pattern_hint else "has a bad format")
            return None
        return trimmed

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

    def done(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)
