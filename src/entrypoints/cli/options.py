"""Argument types that give the same answers as the API for the same bad input."""

from __future__ import annotations

import argparse
import errno
import os
import re
from collections.abc import Callable
from pathlib import Path

from admin_core.kernel.errors import ValidationFailed
from admin_core.kernel.paging import MAX_OFFSET, MAX_OFFSET_LIMIT
from admin_core.payments.model import SESSION_ID
from admin_core.side_effects.runner import RECONCILE_AFTER
from admin_core.tenants.rules import TENANT_ID
from admin_core.users.model import USER_ID
from entrypoints.http.fields import PATTERN_HINTS, TENANT_ID_PATTERN, USER_ID_PATTERN
from entrypoints.settings import listen_host


def bounded_int(field: str, low: int, high: int) -> Callable[[str], int]:
    """A whole number in [low, high]; anything else is the API's VALIDATION_ERROR for
    `field` (exit 2), never a driver error further down."""

    def read(text: str) -> int:
        value = text.strip()
        digits = value[1:] if value[:1] in "+-" else value
        whole = digits.isascii() and digits.isdigit()  # `int` also reads '٣' and '１０'
        if not whole or len(digits) > 20 or not low <= int(value) <= high:
            raise ValidationFailed.single(field, f"must be a whole number from {low} to {high}")
        return int(value)

    return read


def identifier(field: str, pattern: re.Pattern[str], hint: str) -> Callable[[str], str]:
    """An id of the form the API takes at `field`; anything else is the API's
    VALIDATION_ERROR for `field` (exit 2), not a lookup that finds nothing (exit 4)."""

    def read(text: str) -> str:
        if not pattern.fullmatch(text):
            raise ValidationFailed.single(field, hint)
        return text

    return read


def path(field: str) -> Callable[[str], Path]:
    """A file or directory name; one no system call takes (a NUL byte, none at all, one
    longer than the system allows) is the VALIDATION_ERROR of `field` (exit 2), not a
    traceback where it is opened."""

    def read(text: str) -> Path:
        if not text or "\x00" in text:
            raise ValidationFailed.single(field, "must be a file name without NUL bytes")
        try:
            os.stat(text)
        except OSError as error:
            if error.errno == errno.ENAMETOOLONG:
                raise ValidationFailed.single(field, "is too long for a file name") from None
        return Path(text)

    return read


def output(text: str) -> Path | None:
    """An `--output` file; `-` is stdout, as for most commands that write files."""
    return None if text == "-" else path("output")(text)


OUTPUT_HELP = "file to write, or - for stdout (default: stdout)"


def host(text: str) -> str:
    """An address to listen on, read as `ADMIN_HOST` is."""
    try:
        return listen_host(text)
    except ValueError as error:
        raise ValidationFailed.single("host", str(error)) from None


tenant_id = identifier("tenant_id", TENANT_ID, PATTERN_HINTS[TENANT_ID_PATTERN])
user_id = identifier("user_id", USER_ID, PATTERN_HINTS[USER_ID_PATTERN])
session_id = identifier(
    "session_id", SESSION_ID, "must be letters, digits, '_' and '-' (at most 64)"
)


def older_than(parser: argparse.ArgumentParser) -> None:
    """`--older-than` of a reconcile: younger intents belong to calls still running."""
    parser.add_argument(
        "--older-than",
        type=bounded_int("older_than", 0, 86_400),
        default=int(RECONCILE_AFTER.total_seconds()),
        metavar="SECONDS",
        help=f"only intents recorded this long ago (default {RECONCILE_AFTER.seconds})",
    )


def page(parser: argparse.ArgumentParser) -> None:
    """`--limit` and `--offset` of an offset-paged list, bounded as the API bounds them, and
    `--cursor`: the `next_cursor` a page printed."""
    parser.add_argument(
        "--limit",
        type=bounded_int("limit", 1, MAX_OFFSET_LIMIT),
        default=50,
        help=f"rows per page, 1 to {MAX_OFFSET_LIMIT} (default 50)",
    )
    parser.add_argument(
        "--offset",
        type=bounded_int("offset", 0, MAX_OFFSET),
        default=0,
        help="rows to skip (default 0)",
    )
    parser.add_argument(
        "--cursor",
        help="continue right after the page that printed this cursor (same filters, "
        "no --offset): nothing added or removed meanwhile shifts it",
    )
