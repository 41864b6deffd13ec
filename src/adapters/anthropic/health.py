"""Anthropic's health probe: `GET {api_url}/v1/models?limit=1` with `x-api-key` and
`anthropic-version: 2023-06-01` — an authenticated read that uses no tokens. A key Anthropic
refuses answers 401 (`authentication_error`)."""

from __future__ import annotations

import httpx

from admin_core.health.ports import DependencyDown, DependencyProbe

API_VERSION = "2023-06-01"


class AnthropicDependencyProbe(DependencyProbe):
    name = "anthropic"

    def __init__(self, *, api_key: str, api_url: str, timeout_seconds: float) -> None:
        self._client = httpx.AsyncClient(
            base_url=api_url,
            timeout=timeout_seconds,
            headers={"x-api-key": api_key, "anthropic-version": API_VERSION},
        )

    async def check(self) -> None:
        try:
            response = await self._client.get("v1/models", params={"limit": 1})
        except httpx.HTTPError as error:
            raise DependencyDown.unreachable(error) from None
        if response.status_code != 200:
            raise DependencyDown.answered(response.status_code)

    async def aclose(self) -> None:
        await self._client.aclose()
