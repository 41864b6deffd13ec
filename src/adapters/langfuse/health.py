"""Langfuse's health probe. With the project's keys: `GET {url}/api/public/projects` with
Basic public:secret, which proves Langfuse serves and takes our keys (401 when it does not).
Without them: `GET {url}/api/public/health`, which needs none and answers
`{"status": "OK", "version"}`, or 503 when Langfuse's own database is down."""

from __future__ import annotations

import httpx

from adapters.http.answers import json_body
from adapters.http.probe import HttpDependencyProbe
from admin_core.health.ports import DependencyDown


class LangfuseDependencyProbe(HttpDependencyProbe):
    def __init__(
        self,
        *,
        url: str,
        timeout_seconds: float,
        public_key: str | None = None,
        secret_key: str | None = None,
    ) -> None:
        keys = (public_key, secret_key) if public_key and secret_key else None
        super().__init__(
            "langfuse",
            base_url=url,
            path="api/public/projects" if keys else "api/public/health",
            timeout_seconds=timeout_seconds,
            auth=keys,
            accept=_projects if keys else _status_ok,
        )


def _status_ok(response: httpx.Response) -> None:
    try:
        status = json_body(response).get("status")
    except (ValueError, AttributeError):
        status = None
    if not isinstance(status, str) or status.upper() != "OK":
        raise DependencyDown("unexpected answer (no status OK)")


def _projects(response: httpx.Response) -> None:
    try:
        projects = json_body(response).get("data")
    except (ValueError, AttributeError):
        projects = None
    if not isinstance(projects, list):
        raise DependencyDown("unexpected answer (no list of projects)")
