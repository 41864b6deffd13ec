"""Qdrant's health probe: `GET {url}/readyz`, the readiness endpoint ("all shards are
ready"), with the `api-key` header when a key is configured (whether the health endpoints
need it depends on Qdrant's version)."""

from __future__ import annotations

import httpx

from admin_core.health.ports import DependencyDown, DependencyProbe


class QdrantDependencyProbe(DependencyProbe):
    name = "qdrant"

    def __init__(self, *, url: str, api_key: str | None, timeout_seconds: float) -> None:
        self._client = httpx.AsyncClient(
            base_url=url,
            timeout=timeout_seconds,
            headers={"api-key": api_key} if api_key else {},
        )

    async def check(self) -> None:
        try:
            response = await self._client.get("readyz")
        except httpx.HTTPError as error:
            raise DependencyDown.unreachable(error) from None
        if response.status_code != 200:
            raise DependencyDown.answered(response.status_code)

    async def aclose(self) -> None:
        await self._client.aclose()
