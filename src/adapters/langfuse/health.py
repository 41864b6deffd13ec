"""Langfuse's health probe: `GET {url}/api/public/health`, which needs no credentials and
answers `{"status": "OK", "version"}` — or 503 when Langfuse's own database is down. It
proves that Langfuse serves, not that our keys are valid (that would take a second call,
`GET /api/public/projects` with Basic public:secret)."""

from __future__ import annotations

import httpx

from adapters.http.probe import HttpDependencyProbe
from admin_core.health.ports import DependencyDown


class LangfuseDependencyProbe(HttpDependencyProbe):
    def __init__(self, *, url: str, timeout_seconds: float) -> None:
        super().__init__(
            "langfuse",
            base_url=url,
            path="api/public/health",
            timeout_seconds=timeout_seconds,
            accept=_status_ok,
        )


def _status_ok(response: httpx.Response) -> None:
    try:
        status = response.json().get("status")
    except (ValueError, AttributeError):
        status = None
    if not isinstance(status, str) or status.upper() != "OK":
        raise DependencyDown("unexpected answer (no status OK)")
