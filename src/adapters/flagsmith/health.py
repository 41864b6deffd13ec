"""Flagsmith's health probe: `GET {api_url}environment-document/` with the server-side key
(`X-Environment-Key`) — the very call local evaluation depends on. Flagsmith answers 403 to
a key it does not accept."""

from __future__ import annotations

import httpx

from admin_core.health.ports import DependencyDown, DependencyProbe


class FlagsmithDependencyProbe(DependencyProbe):
    name = "flagsmith"

    def __init__(self, *, server_key: str, api_url: str, timeout_seconds: float) -> None:
        self._client = httpx.AsyncClient(
            base_url=api_url,
            timeout=timeout_seconds,
            headers={"X-Environment-Key": server_key},
        )

    async def check(self) -> None:
        try:
            response = await self._client.get("environment-document/")
        except httpx.HTTPError as error:
            raise DependencyDown.unreachable(error) from None
        if response.status_code != 200:
            raise DependencyDown.answered(response.status_code)

    async def aclose(self) -> None:
        await self._client.aclose()
