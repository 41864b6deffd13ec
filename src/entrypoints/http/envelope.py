"""The success and error envelopes (SPEC §4) and the request id that every response carries."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

from litestar import Request, Response
from litestar.types import Message, Scope

from admin_core.kernel.errors import ErrorView
from entrypoints.http.schemas import ErrorEnvelope, ErrorItem, Meta, SuccessEnvelope
from entrypoints.logs import REQUEST_ID

REQUEST_ID_HEADER = b"x-request-id"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def request_id_of(request: Request[Any, Any, Any]) -> str:
    return ensure_request_id(request.scope)


def ok(
    request: Request[Any, Any, Any],
    data: Any,
    *,
    status_code: int = 200,
    total: int | None = None,
    total_exact: bool = True,
    limit: int | None = None,
    offset: int | None = None,
    next_cursor: str | None = None,
    stale: bool = False,
) -> Response[SuccessEnvelope[Any]]:
    meta = Meta(
        request_id=request_id_of(request),
        total=total,
        total_exact=None if total_exact else False,
        limit=limit,
        offset=offset,
        next_cursor=next_cursor,
        stale=True if stale else None,
    )
    return Response(SuccessEnvelope(success=True, data=data, meta=meta), status_code=status_code)


def error_response(
    request: Request[Any, Any, Any],
    status_code: int,
    errors: Sequence[ErrorView],
    *,
    headers: dict[str, str] | None = None,
) -> Response[ErrorEnvelope]:
    body = ErrorEnvelope(
        success=False,
        data=None,
        errors=[ErrorItem.of(e) for e in errors],
        meta=Meta(request_id=request_id_of(request)),
    )
    return Response(body, status_code=status_code, headers=headers)


def ensure_request_id(scope: Scope) -> str:
    """The request's id: a sane incoming `X-Request-ID`, else a new one; kept in scope state."""
    state: dict[str, Any] = scope.setdefault("state", {})
    value = state.get("request_id")
    if isinstance(value, str):
        return value
    incoming = next(
        (v.decode("latin-1") for k, v in scope.get("headers", []) if k == REQUEST_ID_HEADER), ""
    )
    request_id = incoming if _SANE_REQUEST_ID.match(incoming) else os.urandom(16).hex()
    state["request_id"] = request_id
    REQUEST_ID.set(request_id)  # on the log lines written while serving it
    return request_id


#: Sent with every answer of the API: what it returns (tenants, users, audit entries) is for
#: the caller only, never to be kept by a cache on the way, read as another type, or framed
#: by another site (the schema viewer is a page under /api/ too).
API_HEADERS = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
)
_API_PREFIX = "/api/"


async def add_request_id_header(message: Message, scope: Scope) -> None:
    """App-level `before_send` hook, so even routing errors (404/405) carry the header (and
    the API's answers `API_HEADERS`)."""
    if message["type"] == "http.response.start":
        request_id = ensure_request_id(scope)
        headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != REQUEST_ID_HEADER]
        headers.append((REQUEST_ID_HEADER, request_id.encode("latin-1")))
        if str(scope.get("path", "")).startswith(_API_PREFIX):
            headers.extend(API_HEADERS)
        message["headers"] = headers
