"""The one table from error class to HTTP status, and the one app-level exception mapper.

Every `AdminError` class has its status here (a test walks every subclass). Other framework
errors are mapped by their status to codes of their own: 400 BAD_REQUEST, 404 NOT_FOUND,
405 METHOD_NOT_ALLOWED, 408 REQUEST_TIMEOUT, 413 PAYLOAD_TOO_LARGE, 415 UNSUPPORTED_MEDIA_TYPE,
429 RATE_LIMITED; validation failures are 422 VALIDATION_ERROR naming the field. Anything else
is a bug: 500 INTERNAL_ERROR, logged, without internals. 414 URI_TOO_LONG, 431
HEADERS_TOO_LARGE and 503 SERVER_BUSY are answered by `adminctl serve` itself
(`entrypoints.http.connections`), never by the framework.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from adapters.sql.errors import never_migrated, schema_missing, storage_refused
from admin_core.audit.errors import AuditChainBroken
from admin_core.directory.errors import ProviderNotFound
from admin_core.flags.errors import (
    FlagsUnavailable,
    FlagUnknown,
    FlagValueInvalid,
    ThresholdsChanged,
)
from admin_core.graph.errors import GraphRebuildFailed, GraphRebuildInProgress
from admin_core.health.errors import NotReady
from admin_core.kernel.errors import (
    AdminError,
    AuthHeaderMissing,
    AuthTokenExpired,
    AuthTokenInvalid,
    DatabaseUnavailable,
    ErrorView,
    InsufficientPermission,
    ValidationFailed,
    error_views,
)
from admin_core.kernel.validation import FieldChecks
from admin_core.mso_doctors.errors import MsoDoctorAlreadyExists, MsoDoctorNotFound
from admin_core.payments.errors import (
    MsoRefundNotAllowed,
    MsoSessionNotFound,
    PaymentProviderError,
    PaymentProviderNotConfigured,
)
from admin_core.tenants.errors import TenantAlreadyExists, TenantNotFound
from admin_core.users.errors import IdentityProviderUnavailable, RoleNotAllowed, UserNotFound
from entrypoints.http.envelope import error_response
from entrypoints.http.fields import QUERY_RULES, readable
from entrypoints.request_errors import (
    BadRequest,
    HeadersTooLarge,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RequestTimeout,
    ServerBusy,
    UnsupportedMediaType,
    UriTooLong,
)

log = logging.getLogger("admin_core.http")

STATUS: dict[type[AdminError], int] = {
    AdminError: 500,
    AuthHeaderMissing: 401,
    AuthTokenInvalid: 401,
    AuthTokenExpired: 401,
    InsufficientPermission: 403,
    TenantNotFound: 404,
    TenantAlreadyExists: 409,
    ProviderNotFound: 404,
    GraphRebuildFailed: 500,  # 503 when the graph or source was unreachable
    GraphRebuildInProgress: 409,
    FlagUnknown: 422,
    FlagValueInvalid: 422,
    FlagsUnavailable: 503,
    ThresholdsChanged: 409,
    MsoSessionNotFound: 404,
    MsoRefundNotAllowed: 409,
    PaymentProviderError: 502,
    PaymentProviderNotConfigured: 503,
    MsoDoctorNotFound: 404,
    MsoDoctorAlreadyExists: 409,
    UserNotFound: 404,
    RoleNotAllowed: 403,  # 422 for a role nobody knows
    IdentityProviderUnavailable: 503,
    ValidationFailed: 422,
    BadRequest: 400,
    PayloadTooLarge: 413,
    UriTooLong: 414,
    HeadersTooLarge: 431,
    UnsupportedMediaType: 415,
    NotFound: 404,
    MethodNotAllowed: 405,
    RequestTimeout: 408,
    RateLimited: 429,
    ServerBusy: 503,
    DatabaseUnavailable: 503,
    AuditChainBroken: 503,
    NotReady: 503,
}

#: Framework errors without a class of ours, by status.
_BY_STATUS: dict[int, type[AdminError]] = {
    400: BadRequest,
    404: NotFound,
    405: MethodNotAllowed,
    408: RequestTimeout,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    429: RateLimited,
}


def status_of(error: AdminError) -> int:
    if isinstance(error, GraphRebuildFailed) and error.unreachable:
        return 503
    if isinstance(error, RoleNotAllowed) and error.unknown:
        return 422
    return STATUS[type(error)]


_NAMED_FIELD = re.compile(r"Object (?:contains unknown|missing required) field `(?P<name>[^`]+)`")


_AT_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


def _field_error(item: dict[str, Any]) -> ErrorView:
    """Litestar reports `{"key": "limit", "message": "... - at `$.x`", "source": "query"}`;
    the body's key is `data`, which callers never see: its fields are named from the root."""
    key = str(item.get("key") or "")
    match = _AT_PATH.match(str(item.get("message", "invalid value")))
    message = readable(match.group("message")) if match else "invalid value"
    path = (match.group("path") or "") if match else ""
    field = (path.lstrip(".") or "body") if key == "data" else f"{key}{path}"
    field = field.replace("[", ".").replace("]", "")
    named = _NAMED_FIELD.search(message)
    if named:  # an unknown or missing field: name it, not the object holding it
        field = named["name"] if field in ("", "body") else f"{field}.{named['name']}"
    return ErrorView(code=ValidationFailed.code, message=message, field=field or None)


def _validation_views(exc: ValidationException) -> list[ErrorView]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    views = [_field_error(item) for item in extra if isinstance(item, dict)]
    if views:
        return views
    return [ErrorView(code=ValidationFailed.code, message=str(exc.detail), field="body")]


def _query_rule_views(request: Request[Any, Any, Any], named: list[ErrorView]) -> list[ErrorView]:
    """What the operation's `QueryRule`s find wrong with the query values not already named."""
    rules = request.route_handler.opt.get(QUERY_RULES, ())
    if not rules:
        return []
    taken = {view.field for view in named}
    values = {k: v for k, v in request.query_params.items() if k not in taken}
    checks = FieldChecks()
    for rule in rules:
        rule(checks, values)
    return [
        ErrorView(code=ValidationFailed.code, message=error.message, field=error.field)
        for error in checks.errors
        if error.field not in taken
    ]


def _framework(exc: HTTPException) -> tuple[int, AdminError]:
    """A framework error by its status; a 4xx we have no class for is a 400 BAD_REQUEST
    carrying the framework's message (ADR 0043)."""
    status = exc.status_code
    kind = _BY_STATUS.get(status)
    if kind is not None:
        return status, kind()
    if 400 <= status < 500:
        return 400, BadRequest(str(exc.detail))
    return 500, AdminError()


def allowed_methods(methods: Iterable[str]) -> str:
    """The `Allow` header of a path with `methods`: HEAD wherever GET is."""
    allowed = {method.upper() for method in methods}
    if "GET" in allowed:
        allowed.add("HEAD")
    return ", ".join(sorted(allowed))


def _headers_of(status: int, error: AdminError | None = None) -> dict[str, str] | None:
    """A 415 says the codings a request body may come in (RFC 9110 §12.5.3): none. A 408
    closes the connection (RFC 9110 §15.5.9): what is left of the request is not read. An
    error that knows how long to wait says so in `Retry-After` (RFC 9110 §10.2.3) too."""
    if status == 408:
        return {"Connection": "close"}
    if status == 415:
        return {"Accept-Encoding": "identity"}
    wait = None if error is None else error.retry_after_seconds
    return None if wait is None else {"Retry-After": str(wait)}


def _cause(error: BaseException) -> str:
    """` (cause: ...)`, what the error was raised from, for the log; empty without one."""
    cause = error.__cause__
    return "" if cause is None else f" (cause: {type(cause).__name__}: {cause})"[:500]


def _path(request: Request[Any, Any, Any]) -> str:
    """The request's path for a log line. Not `request.url`, which decodes the query string
    strictly: the handler of every failure must not fail on a query that is not UTF-8."""
    path: str = request.scope["path"]
    return path


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Every failure, from routing to use case, leaves through here in the error envelope."""
    if not isinstance(exc, AdminError) and schema_missing(exc):
        # A host serving the app on a database never migrated (`adminctl serve` migrates or
        # refuses first): the operator's to fix, not a bug.
        missing = never_migrated()
        missing.__cause__, exc = exc, missing
    refused = None if isinstance(exc, AdminError) else storage_refused(exc)
    if refused is not None:  # a full disk, a read-only file, met outside a transaction
        refused.__cause__, exc = exc, refused
    if isinstance(exc, ValidationException):
        if exc.status_code == 400 and not isinstance(exc.extra, list):
            return error_response(request, 400, error_views(BadRequest()))
        views = _validation_views(exc)
        return error_response(request, 422, views + _query_rule_views(request, views))
    if isinstance(exc, AdminError):
        status = status_of(exc)
        if status >= 500:  # the server's side failed: the operator hears of it too
            log.warning(
                "%s %s answered %d %s: %s%s",
                request.method,
                _path(request),
                status,
                exc.code,
                exc.message,
                _cause(exc),
            )
        return error_response(request, status, error_views(exc), headers=_headers_of(status, exc))
    if isinstance(exc, HTTPException):
        status, error = _framework(exc)
        headers = _headers_of(status)
        if status == 405:
            allow = {k.lower(): v for k, v in (exc.headers or {}).items()}.get("allow", "")
            headers = {"Allow": allowed_methods([m.strip() for m in allow.split(",") if m])}
        if status == 500:
            log.error("framework error on %s %s: %s", request.method, _path(request), exc)
        return error_response(request, status, error_views(error), headers=headers)
    log.exception("unhandled error on %s %s", request.method, _path(request), exc_info=exc)
    return error_response(request, 500, error_views(AdminError()))
