"""msgspec Structs of the wire format. They exist only here; the core speaks dataclasses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, Literal, TypeVar

import msgspec

from admin_core.kernel.errors import ErrorView
from admin_core.kernel.validation import FieldChecks

T = TypeVar("T")


class Out(msgspec.Struct, kw_only=True, frozen=True):
    """Base of response bodies."""


#: A check of the core on one field's value, naming what is wrong in the `FieldChecks`.
FieldRule = Callable[[FieldChecks, Any], object]


class In(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Base of request bodies: unknown fields are rejected.

    `field_rules`: by field, the core's check of a value that its type does not state (an
    email's syntax). A body refused for its type does not reach the core, so these run on
    the fields that decoded, and one answer names every offending field."""

    field_rules: ClassVar[Mapping[str, FieldRule]] = {}


class Meta(Out, omit_defaults=True, frozen=True):
    request_id: str
    total: int | None = None
    #: False when `total` is an estimate (a list too long to count on every page).
    total_exact: bool | None = None
    limit: int | None = None
    offset: int | None = None
    #: True when the flag provider was unreachable and its last known values are shown.
    stale: bool | None = None
    next_cursor: str | None = None


class SuccessEnvelope(Out, Generic[T], frozen=True):
    success: Literal[True]
    data: T
    meta: Meta


class ErrorItem(Out, omit_defaults=True, frozen=True):
    code: str
    message: str
    field: str | None = None
    details: dict[str, Any] | None = None

    @classmethod
    def of(cls, view: ErrorView) -> ErrorItem:
        """The wire form of one error (the API's envelope and the CLI's `--json` alike)."""
        return cls(
            code=view.code, message=view.message, field=view.field, details=view.details or None
        )


class ErrorEnvelope(Out, frozen=True):
    success: Literal[False]
    data: None
    errors: list[ErrorItem]
    meta: Meta


class StatusOut(Out, frozen=True):
    status: str
