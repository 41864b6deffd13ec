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
    """One offending field of a request: `field` is a dotted path (`settings.timezone`)."""

    field: str
    message: str


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


class TenantNotFound(AdminError):
    code = "TENANT_NOT_FOUND"
    default_message = "Tenant not found."


class TenantAlreadyExists(AdminError):
    code = "TENANT_ALREADY_EXISTS"
    default_message = "The tenant already exists."


class ProviderNotFound(AdminError):
    code = "PROVIDER_NOT_FOUND"
    default_message = "Provider not found."


class GraphRebuildFailed(AdminError):
    code = "GRAPH_REBUILD_FAILED"
    default_message = "The graph rebuild failed; the previous projection is still readable."

    def __init__(self, message: str | None = None, *, unreachable: bool, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.unreachable = unreachable


class GraphRebuildInProgress(AdminError):
    code = "GRAPH_REBUILD_IN_PROGRESS"
    default_message = "Another graph rebuild is running."


class FlagUnknown(AdminError):
    code = "FLAG_UNKNOWN"
    default_message = "The flag is not in the flag catalogue."


class FlagValueInvalid(AdminError):
    code = "FLAG_VALUE_INVALID"
    default_message = "The flag value is not allowed."


class FlagsUnavailable(AdminError):
    code = "FLAGS_UNAVAILABLE"
    default_message = "The flag provider is unreachable and nothing is cached."


class MsoSessionNotFound(AdminError):
    code = "MSO_SESSION_NOT_FOUND"
    default_message = "Second-opinion session not found."


class MsoRefundNotAllowed(AdminError):
    code = "MSO_REFUND_NOT_ALLOWED"
    default_message = "The session cannot be refunded in its current status."


class PaymentProviderError(AdminError):
    code = "PAYMENT_PROVIDER_ERROR"
    default_message = "The payment provider refused or failed."

    def __init__(self, message: str | None = None, *, retry_safe: bool, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.details["retry_safe"] = retry_safe


class PaymentProviderNotConfigured(AdminError):
    code = "PAYMENT_PROVIDER_NOT_CONFIGURED"
    default_message = "Credentials for the session's payment provider are missing."


class MsoDoctorNotFound(AdminError):
    code = "MSO_DOCTOR_NOT_FOUND"
    default_message = "Second-opinion doctor not found."


class MsoDoctorAlreadyExists(AdminError):
    code = "MSO_DOCTOR_ALREADY_EXISTS"
    default_message = "A doctor with this email already exists in the tenant."


class UserNotFound(AdminError):
    code = "USER_NOT_FOUND"
    default_message = "The identity provider does not know this user."


class RoleNotAllowed(AdminError):
    """An unknown role (`unknown=True`, 422) or one the caller may not grant (403)."""

    code = "ROLE_NOT_ALLOWED"
    default_message = "This role cannot be granted."

    def __init__(self, message: str | None = None, *, unknown: bool, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.unknown = unknown


class IdentityProviderUnavailable(AdminError):
    code = "IDENTITY_PROVIDER_UNAVAILABLE"
    default_message = "The identity provider is unreachable."


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


class NotFound(AdminError):
    code = "NOT_FOUND"
    default_message = "No such route."


class MethodNotAllowed(AdminError):
    code = "METHOD_NOT_ALLOWED"
    default_message = "Method not allowed on this route."


class RateLimited(AdminError):
    code = "RATE_LIMITED"
    default_message = "Too many requests."


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorView:
    """The wire-neutral shape of one error, used by both entrypoints."""

    code: str
    message: str
    field: str | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


def error_views(error: AdminError) -> list[ErrorView]:
    if isinstance(error, ValidationFailed) and error.errors:
        return [ErrorView(code=error.code, message=e.message, field=e.field) for e in error.errors]
    return [
        ErrorView(code=error.code, message=error.message, field=error.field, details=error.details)
    ]
