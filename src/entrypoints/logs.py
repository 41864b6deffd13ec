"""What `adminctl serve` writes to its log.

Every line carries the id of the request it was written for (`X-Request-ID`, the id in the
envelope's `meta` and in the audit entries the request caused), or of the background pass
(reconcile, checkpoint); `-` outside both. The HTTP clients' own lines — one per outgoing
call, with its full URL and so any credentials a URL holds — are left out below WARNING.
The access log names the path and the names of the query's parameters, never their values
(`?patient_id=***`): a query carries patients' and tenants' ids, and no header is logged.
A request asking to upgrade its connection (WebSocket, h2c) is served as an ordinary one,
with its access line and no warning of its own.

The app itself configures no logging (`create_app`): a process embedding it keeps its own.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

#: The request (or background pass) the running code serves.
REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")

#: The start of every line: when, how bad, which logger, for which request.
_LEAD = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]"

#: Libraries that log every call they make at INFO, URL included.
QUIET = ("httpx", "httpcore", "stripe")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record a handler writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class AccessLineFilter(logging.Filter):
    """Keeps the values of a request's query out of uvicorn's access line, whatever handler
    writes it: a filter of the `uvicorn.access` logger, so it runs before every handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:  # client, method, target, version, status
            client, method, target, version, status = args
            record.args = (client, method, loggable_target(str(target)), version, status)
        return True


class UpgradeNoticeFilter(logging.Filter):
    """Drops uvicorn's two warnings for each request asking to upgrade the connection (a
    WebSocket handshake, `curl --http2`'s h2c): the app has no WebSocket route and `serve`
    handles none (`ws="none"`), so such a request is an ordinary one with its access line,
    and the warnings only advised installing a WebSocket library, once per request."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_UPGRADE_NOTICES)


_UPGRADE_NOTICES = ("Unsupported upgrade request.", "No supported WebSocket library detected.")


def loggable_target(target: str) -> str:
    """A request's path and query as a log may show them: the path, and each parameter's name
    with its value replaced by `***`."""
    path, mark, query = target.partition("?")
    if not mark:
        return path
    names = (part.partition("=")[0] for part in query.split("&") if part)
    return f"{path}?" + "&".join(f"{name}=***" for name in names)


def server_log_config(level: str = "INFO") -> dict[str, Any]:
    """The `logging.config.dictConfig` of `adminctl serve` (uvicorn's `log_config`): the app's
    and the server's lines on stderr, the access log on stdout, each with its request id."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": RequestIdFilter},
            "access_line": {"()": AccessLineFilter},
            "upgrade_notice": {"()": UpgradeNoticeFilter},
        },
        "formatters": {
            "default": {
                "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
            },
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": f'{_LEAD} %(client_addr)s "%(request_line)s" %(status_code)s',
                "use_colors": False,
            },
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["request_id"],
            },
            "access": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "access",
                "filters": ["request_id"],
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"filters": ["upgrade_notice"]},
            "uvicorn.access": {
                "handlers": ["access"],
                "level": level,
                "propagate": False,
                "filters": ["access_line"],
            },
            **{name: {"level": "WARNING"} for name in QUIET},
            # `adminctl` keeps the driver's retry warnings off a command's output (ERROR);
            # the server's log is where they belong.
            "neo4j": {"level": "WARNING"},
        },
        "root": {"handlers": ["default"], "level": level},
    }
