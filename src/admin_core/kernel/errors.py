"""One error base class with stable codes (SPEC §4).

Entrypoints keep the only tables from code to HTTP status and CLI exit code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldError:
    """One offending field of a request: `field` is a dotted path (`settings.timezone`).
    `code` names a more precise error than the one that carries it (`FLAG_UNKNOWN` among
    `FLAG_VALUE_INVALID`s), where one request can fail both ways."""

    field: str
    message: str
    code: str | None = None


#: The `details` key of an error that knows how long to wait before trying again: whole
#: seconds, which the API also answers as `Retry-After`.
RETRY_AFTER_SECONDS = "retry_after_seconds"


class AdminError(Exception):
    """Base of every error the core raises on purpose. `code` is part of the API contract."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    default_message: ClassVar[str] = "Internal error."

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.field = field
        self.details: dict[str, Any] = dict(details or {})
        super().__init__(self.message)

    @property
    def retry_after_seconds(self) -> int | None:
        """How many whole seconds to wait before trying again, when the error knows."""
        wait = self.details.get(RETRY_AFTER_SECONDS)
        return wait if type(wait) is int and wait >= 0 else None


class AuthHeaderMissing(AdminError):
    code = "AUTH_HEADER_MISSING"
    default_message = "An 'Authorization: Bearer <token>' header is required."


class AuthTokenInvalid(AdminError):
    code = "AUTH_TOKEN_INVALID"
    default_message = "The session token is not valid."


class AuthTokenExpired(AdminError):
    code = "AUTH_TOKEN_EXPIRED"
    default_message = "The session token has expired."


class InsufficientPermission(AdminError):
    code = "AUTH_INSUFFICIENT_PERMISSION"
    default_message = "Your role does not allow this action."


class ValidationFailed(AdminError):
    """Bad input: one `FieldError` per offending field; nothing was changed."""

    code = "VALIDATION_ERROR"
    default_message = "The request is not valid."

    def __init__(self, errors: Sequence[FieldError], message: str | None = None) -> None:
        super().__init__(message)
        self.errors: tuple[FieldError, ...] = tuple(errors)

    @classmethod
    def single(cls, field: str, message: str) -> ValidationFailed:
        return cls([FieldError(field=field, message=message)])


class DatabaseUnavailable(AdminError):
    """The database could not be reached, gave no connection in time, kept its write lock
    held by another process, or could not keep a write (a full disk, a read-only file, a
    server taking no writes: the message says which and what to do first): the transaction
    that met it did nothing, and the same request can be sent again (a change to an
    external provider it cut short is finished by that retry or by reconcile)."""

    code = "DATABASE_UNAVAILABLE"
    default_message = "The database is unreachable; try again shortly."


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorView:
    """The wire-neutral shape of one error, used by both entrypoints."""

    code: str
    message: str
    field: str | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


def error_views(error: AdminError) -> list[ErrorView]:
    if isinstance(error, ValidationFailed) and error.errors:
        return [
            ErrorView(code=e.code or error.code, message=e.message, field=e.field)
            for e in error.errors
        ]
    return [
        ErrorView(code=error.code, message=error.message, field=error.field, details=error.details)
    ]
