"""Clerk's health probe: `GET {api_url}/jwks` with the secret key — a Backend API read that
Clerk does not rate limit (the Backend API allows 1000 requests per 10 s per instance)."""

from __future__ import annotations

import httpx

from admin_core.health.ports import DependencyDown, DependencyProbe


class ClerkDependencyProbe(DependencyProbe):
    name = "clerk"

    def __init__(self, *, secret_key: str, api_url: str, timeout_seconds: float) -> None:
        self._client = httpx.AsyncClient(
            base_url=api_url,
            timeout=timeout_seconds,
            headers={"Authorization": f"Bearer {secret_key}"},
        )

    async def check(self) -> None:
        try:
            response = await self._client.get("jwks")
        except httpx.HTTPError as error:
            raise DependencyDown.unreachable(error) from None
        if response.status_code != 200:
            raise DependencyDown.answered(response.status_code)

    async def aclose(self) -> None:
        await self._client.aclose()
