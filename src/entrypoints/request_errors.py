"""Errors in the form of a request (a route, a method, a body, a rate), which only the
entrypoints meet: the core's rules never raise them."""

from __future__ import annotations

from admin_core.kernel.errors import AdminError


class BadRequest(AdminError):
    code = "BAD_REQUEST"
    default_message = "The request body is not parseable JSON."


class NotFound(AdminError):
    code = "NOT_FOUND"
    default_message = "No such route."


class MethodNotAllowed(AdminError):
    code = "METHOD_NOT_ALLOWED"
    default_message = "Method not allowed on this route."


class PayloadTooLarge(AdminError):
    code = "PAYLOAD_TOO_LARGE"
    default_message = "The request body is too large."


class UriTooLong(AdminError):
    code = "URI_TOO_LONG"
    default_message = "The request target is over the limit."


class HeadersTooLarge(AdminError):
    code = "HEADERS_TOO_LARGE"
    default_message = "The request's line and headers are over the limit."


class RequestTimeout(AdminError):
    code = "REQUEST_TIMEOUT"
    default_message = "The request did not arrive in time; the connection is closed."


class UnsupportedMediaType(AdminError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    default_message = "Request bodies must be JSON (Content-Type: application/json)."


class ServerBusy(AdminError):
    code = "SERVER_BUSY"
    default_message = "The server holds as many connections as it takes; try again shortly."


class RateLimited(AdminError):
    code = "RATE_LIMITED"
    default_message = "Too many requests."
