"""The one table from error code to HTTP status, and the one app-level exception mapper."""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    TooManyRequestsException,
    ValidationException,
)

from admin_core.graph.errors import GraphRebuildFailed
from admin_core.kernel.errors import (
    AdminError,
    ErrorView,
    MethodNotAllowed,
    NotFound,
    RateLimited,
    ValidationFailed,
    error_views,
)
from admin_core.users.errors import RoleNotAllowed
from entrypoints.http.envelope import error_response

log = logging.getLogger("admin_core.http")

STATUS: dict[str, int] = {
    "AUTH_HEADER_MISSING": 401,
    "AUTH_TOKEN_INVALID": 401,
    "AUTH_TOKEN_EXPIRED": 401,
    "AUTH_INSUFFICIENT_PERMISSION": 403,
    "TENANT_NOT_FOUND": 404,
    "TENANT_ALREADY_EXISTS": 409,
    "PROVIDER_NOT_FOUND": 404,
    "GRAPH_REBUILD_FAILED": 500,
    "GRAPH_REBUILD_IN_PROGRESS": 409,
    "FLAG_UNKNOWN": 422,
    "FLAG_VALUE_INVALID": 422,
    "FLAGS_UNAVAILABLE": 503,
    "MSO_SESSION_NOT_FOUND": 404,
    "MSO_REFUND_NOT_ALLOWED": 409,
    "PAYMENT_PROVIDER_ERROR": 502,
    "PAYMENT_PROVIDER_NOT_CONFIGURED": 503,
    "MSO_DOCTOR_NOT_FOUND": 404,
    "MSO_DOCTOR_ALREADY_EXISTS": 409,
    "USER_NOT_FOUND": 404,
    "ROLE_NOT_ALLOWED": 403,
    "IDENTITY_PROVIDER_UNAVAILABLE": 503,
    "VALIDATION_ERROR": 422,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "RATE_LIMITED": 429,
    "INTERNAL_ERROR": 500,
}


def status_of(error: AdminError) -> int:
    if isinstance(error, GraphRebuildFailed) and error.unreachable:
        return 503
    if isinstance(error, RoleNotAllowed) and error.unknown:
        return 422
    return STATUS.get(error.code, 500)


_NAMED_FIELD = re.compile(r"Object (?:contains unknown|missing required) field `(?P<name>[^`]+)`")
_AT_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


def _field_error(item: dict[str, Any]) -> ErrorView:
    """Litestar reports `{"key": "limit", "message": "... - at `$.x`", "source": "query"}`."""
    key = str(item.get("key") or "")
    match = _AT_PATH.match(str(item.get("message", "invalid value")))
    message = match.group("message") if match else "invalid value"
    path = (match.group("path") or "") if match else ""
    field = key
    if key == "data":
        field = path.lstrip(".") or "body"
    elif path:
        field = f"{key}{path}"
    field = field.replace("[", ".").replace("]", "")
    named = _NAMED_FIELD.search(message)
    if named:  # an unknown or missing field: name it, not the object holding it
        field = named["name"] if field in ("", "body") else f"{field}.{named['name']}"
    return ErrorView(code="VALIDATION_ERROR", message=message, field=field or None)


def _validation_views(exc: ValidationException) -> list[ErrorView]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    views = [_field_error(item) for item in extra if isinstance(item, dict)]
    if views:
        return views
    detail = exc.detail or "The request body is not valid JSON."
    return [ErrorView(code="VALIDATION_ERROR", message=str(detail), field="body")]


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Every failure, from routing to use case, leaves through here in the error envelope."""
    headers: dict[str, str] = {}
    if isinstance(exc, ValidationException):
        return error_response(request, 422, _validation_views(exc))
    if isinstance(exc, AdminError):
        if isinstance(exc, ValidationFailed):
            return error_response(request, 422, error_views(exc))
        return error_response(request, status_of(exc), error_views(exc))
    if isinstance(exc, NotFoundException):
        return error_response(request, 404, error_views(NotFound()))
    if isinstance(exc, MethodNotAllowedException):
        if exc.headers:
            headers.update(exc.headers)
        return error_response(request, 405, error_views(MethodNotAllowed()), headers=headers)
    if isinstance(exc, TooManyRequestsException):
        return error_response(request, 429, error_views(RateLimited()))
    if isinstance(exc, HTTPException) and 400 <= exc.status_code < 500:
        code = "VALIDATION_ERROR" if exc.status_code in (400, 415) else "NOT_FOUND"
        status = 422 if code == "VALIDATION_ERROR" else exc.status_code
        view = ErrorView(code=code, message=str(exc.detail))
        return error_response(request, status, [view])
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, 500, error_views(AdminError()))
