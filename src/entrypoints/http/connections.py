"""The HTTP/1.1 connections of `adminctl serve`: uvicorn's h11 protocol, with bounds on the
clients it waits for and the error envelope on what it answers itself.

uvicorn bounds only the idle time between two requests of a connection. Here:
- a connection that never sends a byte is closed after the keep-alive time too;
- a request's line and headers must arrive within `header_seconds` of its first byte (a
  client sending them a byte at a time, slowloris, holds a connection no longer): 408
  REQUEST_TIMEOUT, and the connection is closed;
- a body nobody reads (the answer came first) may trickle in for `body_seconds`, then the
  connection is closed; a body the app reads is held to the same deadline by the app itself
  (`entrypoints.http.requests`), whose 408 closes the connection;
- a request giving both `Transfer-Encoding` and `Content-Length` is refused, 400 BAD_REQUEST,
  and the connection closed (RFC 9112 §6.1): a proxy in front may have framed its body by
  the other header, and what follows on the connection cannot be trusted;
- a request h11 cannot parse is answered 400 BAD_REQUEST in the envelope, not in plain text;
- a request's line and headers over the limit (h11's `max_incomplete_event_size`) are 431
  HEADERS_TOO_LARGE (414 URI_TOO_LONG when the line alone is), however they arrive, and the
  connection is closed;
- a target in absolute form (`http://host/api/...`, RFC 9112 §3.2.2) is routed by its path,
  its authority taken for the host; a target that is neither a path nor that (`api/...`,
  `host:443`), or a path with an empty segment or an encoded `/` (the router reads either as
  a plain `/`), is 400 BAD_REQUEST;
- past `max_connections` connections, a request is answered 503 SERVER_BUSY with
  `Retry-After`, and its connection closed (uvicorn's `limit_concurrency` answers in plain
  text); the liveness probe is answered all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import h11
import msgspec
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from admin_core.kernel.errors import AdminError, error_views
from entrypoints.http.envelope import API_HEADERS, ensure_request_id
from entrypoints.http.errors import status_of
from entrypoints.http.schemas import ErrorEnvelope, ErrorItem, Meta
from entrypoints.request_errors import (
    BadRequest,
    HeadersTooLarge,
    RequestTimeout,
    ServerBusy,
    UriTooLong,
)

_CLOSE = (b"connection", b"close")
#: What a client refused for want of room is told to wait before it asks again.
RETRY_AFTER_SECONDS = 1
#: File descriptors the process needs beside its clients' connections: the database pools,
#: the Neo4j drivers, Redis, the HTTP clients of the providers, logs.
RESERVED_FDS = 256
#: The liveness probe, answered past the cap: a replica that is busy is alive, and an
#: orchestrator restarting it for a failed probe would only add to the load of the others.
LIVENESS_PATH = "/health"
#: How often, at most, refusals for want of room are logged (with their count since).
_BUSY_LOG_EVERY_S = 10.0


def bounded_protocol(
    *,
    header_seconds: float,
    body_seconds: float,
    keep_alive_seconds: float,
    max_connections: int,
) -> type[asyncio.Protocol]:
    """The protocol class `uvicorn.run(http=...)` takes, with these deadlines and this cap."""

    class Bounded(_BoundedH11):
        pass

    Bounded.header_seconds = header_seconds
    Bounded.body_seconds = body_seconds
    Bounded.keep_alive_seconds = keep_alive_seconds
    Bounded.max_connections = max_connections
    Bounded.busy_refusals = [0, 0.0]
    return Bounded


def room_for_connections(max_connections: int) -> str | None:
    """Raise the process's soft limit of open files, within its hard one, so that
    `max_connections` clients leave `RESERVED_FDS` to the rest; what is short, if any."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + RESERVED_FDS
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):  # a system capping it lower (macOS)
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
    if soft != resource.RLIM_INFINITY and soft < wanted:
        return (
            f"the process may open {soft} files: {max_connections} connections"
            f" (ADMIN_HTTP_MAX_CONNECTIONS) and {RESERVED_FDS} more for the database and the"
            " other services need more; lower the setting or raise the limit (ulimit -n)"
        )
    return None


class _BoundedH11(H11Protocol):
    header_seconds: float
    body_seconds: float
    keep_alive_seconds: float
    max_connections: int
    #: Refusals for want of room since last logged, and when that was (shared by the server).
    busy_refusals: list[Any]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.timeout_keep_alive = self.keep_alive_seconds  # type: ignore[assignment]
        self.max_head_bytes = (
            config.h11_max_incomplete_event_size or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
        )
        self.limit_concurrency = None  # the cap is `max_connections`, answered in the envelope
        self.app = _at_the_door(self.app, max_head_bytes=self.max_head_bytes, busy=self._busy)
        self._headers_due: asyncio.TimerHandle | None = None
        self._body_due: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # uvicorn waits for the first request without limit: idle is idle, first or not
        self.timeout_keep_alive_task = self.loop.call_later(
            self.keep_alive_seconds, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._stop_headers_clock()
        self._stop_body_clock()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def send_400_response(self, msg: str) -> None:
        """What h11 cannot parse (a header line without a colon, two different lengths, a
        transfer coding other than chunked), in the envelope (uvicorn has logged it). Headers
        still incomplete past the limit are h11's too: they are a 431."""
        held = self.conn.trailing_data[0]
        if len(held) > self.max_head_bytes:
            line_ends = b"\n" in held[: self.max_head_bytes]
            self._answer_and_close(_too_large(self.max_head_bytes, line_too_long=not line_ends))
            return
        self._answer_and_close(BadRequest("The request is not well-formed HTTP/1.1."))

    def _watch(self) -> None:
        """Arm or cancel the deadlines by where the request in progress is."""
        state = self.conn.their_state
        begun = state is h11.IDLE and bool(self.conn.trailing_data[0])
        if begun and self._headers_due is None and not self.transport.is_closing():
            self._headers_due = self.loop.call_later(self.header_seconds, self._headers_late)
        elif not begun:
            self._stop_headers_clock()
        if state is h11.SEND_BODY and self._body_due is None:
            self._body_due = self.loop.call_later(self.body_seconds, self._body_late)
        elif state is not h11.SEND_BODY:
            self._stop_body_clock()

    def _stop_headers_clock(self) -> None:
        if self._headers_due is not None:
            self._headers_due.cancel()
            self._headers_due = None

    def _stop_body_clock(self) -> None:
        if self._body_due is not None:
            self._body_due.cancel()
            self._body_due = None

    def _headers_late(self) -> None:
        self._headers_due = None
        if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
            return
        self.logger.warning(
            "%sno complete request line and headers within %g s: 408, connection closed",
            self._who(),
            self.header_seconds,
        )
        self._answer_and_close(
            RequestTimeout(
                f"The request's line and headers did not arrive within {self.header_seconds:g}"
                " s; the connection is closed."
            )
        )

    def _body_late(self) -> None:
        """A body still arriving past its deadline. The app, when it reads it, answers 408
        itself; an answer already given (the body was not wanted) ends the connection now."""
        self._body_due = None
        if self.conn.their_state is not h11.SEND_BODY or self.cycle is None:
            return
        if not self.cycle.response_complete:
            self.cycle.keep_alive = False  # whatever the answer, the connection ends with it
            return
        self.logger.warning(
            "%sthe rest of a request body answered already did not arrive within %g s:"
            " connection closed",
            self._who(),
            self.body_seconds,
        )
        self.transport.close()

    def _answer_and_close(self, error: AdminError) -> None:
        """Answer `error` outside any request h11 knows of, then close the connection."""
        status = status_of(error)
        request_id = os.urandom(16).hex()  # no request to take one from
        body = _envelope(error, request_id)
        head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode()]
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()),
            *API_HEADERS,
            _CLOSE,
        ]
        head += [name + b": " + value for name, value in headers]
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        self.transport.close()

    def _busy(self) -> bool:
        """Whether the server holds more connections, or requests, than it takes (this one
        counted); each refusal is logged, at most once every few seconds with a count."""
        state, cap = self.server_state, self.max_connections
        if len(state.connections) <= cap and len(state.tasks) <= cap:
            return False
        self.busy_refusals[0] += 1
        now = time.monotonic()
        if now - self.busy_refusals[1] >= _BUSY_LOG_EVERY_S:
            self.logger.warning(
                "%s%d connections or requests, over ADMIN_HTTP_MAX_CONNECTIONS (%d): %d"
                " request(s) answered 503 and closed",
                self._who(),
                max(len(state.connections), len(state.tasks)),
                cap,
                self.busy_refusals[0],
            )
            self.busy_refusals[:] = [0, now]
        return True

    def _who(self) -> str:
        return f"{self.client[0]}:{self.client[1]} - " if self.client else ""


def _envelope(error: AdminError, request_id: str) -> bytes:
    return msgspec.json.encode(
        ErrorEnvelope(
            success=False,
            data=None,
            errors=[ErrorItem.of(view) for view in error_views(error)],
            meta=Meta(request_id=request_id),
        )
    )


def _too_large(limit: int, *, line_too_long: bool) -> AdminError:
    """414 when the request line alone is over `limit` (RFC 9112 §3), else 431."""
    if line_too_long:
        return UriTooLong(
            f"The request line is over {limit} bytes (RFC 9112 §3); the connection is closed."
        )
    return HeadersTooLarge(
        f"The request's line and headers are over {limit} bytes; the connection is closed."
    )


def _line_bytes(scope: Any) -> int:
    """The size of the request line as sent (`GET /path?query HTTP/1.1`, CRLF included)."""
    return len(scope["method"]) + len(scope["raw_path"]) + len(scope["query_string"]) + 12


def _head_bytes(scope: Any) -> int:
    """The size of the request's line and headers as sent, but for the spaces h11 trims."""
    headers = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
    return _line_bytes(scope) + headers + 2


def _framed_twice(headers: list[tuple[bytes, bytes]]) -> bool:
    names = {name.lower() for name, _ in headers}
    return b"transfer-encoding" in names and b"content-length" in names


#: An absolute URI of HTTP: a host is required (RFC 9110 §4.2.1), userinfo refused (§4.2.4).
_ABSOLUTE = re.compile(rb"(?i:https?)://(?P<authority>[^/@]+)(?P<path>/.*)?", re.DOTALL)


#: An empty segment, or a `/` percent-encoded: the router reads both as a plain `/`.
_OTHER_SLASH = re.compile(rb"//|%2f", re.IGNORECASE)


def _target_refused(scope: Any) -> AdminError | None:
    """Why the request's target is no path the app can route, or one spelt another way than
    the path it would be routed as, if it is either."""
    raw: bytes = scope["raw_path"][len(scope["root_path"]) :]
    absolute = _ABSOLUTE.fullmatch(raw)
    if absolute is not None:
        raw = absolute["path"] or b"/"
    elif raw == b"*" and scope["method"] == "OPTIONS":
        return None  # the server in general (RFC 9110 §9.3.7): no resource of the app
    if not raw.startswith(b"/"):
        return BadRequest(
            "The request target must be a path (`/api/...`) or an absolute URI"
            " (`http://host/api/...`), RFC 9112 §3.2."
        )
    if _OTHER_SLASH.search(raw):
        return BadRequest(
            "The request path has an empty segment (`//`) or an encoded `/` (`%2F`): each"
            " resource has one path, with single `/` between its segments."
        )
    return None


def _in_origin_form(scope: Any) -> Any:
    """The request as if its target were in origin-form: an absolute-form target (RFC 9112
    §3.2.2) routes by its path, and its authority is the request's host (the Host header is
    ignored)."""
    root: str = scope["root_path"]
    absolute = _ABSOLUTE.fullmatch(scope["raw_path"][len(root) :])
    if absolute is None:
        return scope
    raw = absolute["path"] or b"/"
    host = absolute["authority"]
    headers = [(name, value) for name, value in scope["headers"] if name != b"host"]
    return {
        **scope,
        "path": root + unquote(raw.decode("ascii")),
        "raw_path": root.encode("ascii") + raw,
        "headers": [(b"host", host), *headers],
    }


def _refusal(scope: Any, max_head_bytes: int) -> AdminError | None:
    """Why the request is answered before the app sees it, if it is."""
    if _head_bytes(scope) > max_head_bytes:
        return _too_large(max_head_bytes, line_too_long=_line_bytes(scope) > max_head_bytes)
    if _framed_twice(scope["headers"]):
        return BadRequest(
            "The request gives both Transfer-Encoding and Content-Length: its body could be"
            " read two ways (RFC 9112 §6.1); the connection is closed."
        )
    return _target_refused(scope)


def _at_the_door(app: Any, *, max_head_bytes: int, busy: Callable[[], bool]) -> Any:
    """`app`, with what the server refuses before it (any request while it is `busy`, headers
    over the limit, a body framed two ways, a target that is no path) answered in the
    envelope, and an absolute-form target routed by its path."""

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        origin = _in_origin_form(scope)
        turned_away = origin["path"] != LIVENESS_PATH and busy()
        error = ServerBusy() if turned_away else _refusal(scope, max_head_bytes)
        if error is None:
            await app(origin, receive, send)
            return
        request_id = ensure_request_id(scope)
        body = _envelope(error, request_id)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode("latin-1")),
            *API_HEADERS,
            _CLOSE,
        ]
        if isinstance(error, ServerBusy):
            headers.append((b"retry-after", str(RETRY_AFTER_SECONDS).encode()))
        status = status_of(error)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return guarded
