"""Human tables by default, JSON with `--json`; one table from error code to exit code."""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from admin_core.kernel.errors import AdminError, error_views

EXIT_CODES: dict[str, int] = {
    "VALIDATION_ERROR": 2,
    "FLAG_UNKNOWN": 2,
    "FLAG_VALUE_INVALID": 2,
    "AUTH_HEADER_MISSING": 3,
    "AUTH_TOKEN_INVALID": 3,
    "AUTH_TOKEN_EXPIRED": 3,
    "AUTH_INSUFFICIENT_PERMISSION": 3,
    "ROLE_NOT_ALLOWED": 3,
    "NOT_FOUND": 4,
    "TENANT_NOT_FOUND": 4,
    "PROVIDER_NOT_FOUND": 4,
    "MSO_SESSION_NOT_FOUND": 4,
    "MSO_DOCTOR_NOT_FOUND": 4,
    "USER_NOT_FOUND": 4,
    "TENANT_ALREADY_EXISTS": 5,
    "GRAPH_REBUILD_IN_PROGRESS": 5,
    "MSO_REFUND_NOT_ALLOWED": 5,
    "MSO_DOCTOR_ALREADY_EXISTS": 5,
    "GRAPH_REBUILD_FAILED": 6,
    "FLAGS_UNAVAILABLE": 6,
    "PAYMENT_PROVIDER_ERROR": 6,
    "PAYMENT_PROVIDER_NOT_CONFIGURED": 6,
    "IDENTITY_PROVIDER_UNAVAILABLE": 6,
    "RATE_LIMITED": 6,
}

# Piped output is not cut to 80 columns: scripts and logs see whole values.
stdout = Console(width=None if sys.stdout.isatty() else 200)
stderr = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, sort_keys=False) + "\n")


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(to_jsonable(v)) for v in row))
    stdout.print(table)


def report_error(error: AdminError, *, as_json: bool) -> int:
    code = EXIT_CODES.get(error.code, 1)
    if as_json:
        views = [to_jsonable(v) for v in error_views(error)]
        sys.stderr.write(json.dumps({"success": False, "errors": views}) + "\n")
    else:
        for view in error_views(error):
            where = f" ({view.field})" if view.field else ""
            stderr.print(f"[red]error[/red] {view.code}{where}: {view.message}", highlight=False)
    return code
