"""Langfuse's health probe: `GET {url}/api/public/health`, which needs no credentials and
answers `{"status": "OK", "version"}` — or 503 when Langfuse's own database is down. It
proves that Langfuse serves, not that our keys are valid (that would take a second call,
`GET /api/public/projects` with Basic public:secret)."""

from __future__ import annotations

import httpx

from admin_core.health.ports import DependencyDown, DependencyProbe


class LangfuseDependencyProbe(DependencyProbe):
    name = "langfuse"

    def __init__(self, *, url: str, timeout_seconds: float) -> None:
        self._client = httpx.AsyncClient(base_url=url, timeout=timeout_seconds)

    async def check(self) -> None:
        try:
            response = await self._client.get("api/public/health")
        except httpx.HTTPError as error:
            raise DependencyDown.unreachable(error) from None
        if response.status_code != 200:
            raise DependencyDown.answered(response.status_code)
        try:
            status = response.json().get("status")
        except (ValueError, AttributeError):
            status = None
        if not isinstance(status, str) or status.upper() != "OK":
            raise DependencyDown("unexpected answer (no status OK)")

    async def aclose(self) -> None:
        await self._client.aclose()
