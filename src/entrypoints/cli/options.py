"""Argument types that give the same answers as the API for the same bad input."""

from __future__ import annotations

from collections.abc import Callable

from admin_core.kernel.errors import ValidationFailed


def bounded_int(field: str, low: int, high: int) -> Callable[[str], int]:
    """A whole number in [low, high]; anything else is the API's VALIDATION_ERROR for
    `field` (exit 2), never a driver error further down."""

    def read(text: str) -> int:
        value = text.strip()
        digits = value[1:] if value[:1] in "+-" else value
        if not digits.isdigit() or len(digits) > 20 or not low <= int(value) <= high:
            raise ValidationFailed.single(field, f"must be a whole number from {low} to {high}")
        return int(value)

    return read
