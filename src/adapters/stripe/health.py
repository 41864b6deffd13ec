"""Stripe's health probe: `GET {api_url}/v1/balance` with the secret key — Stripe's
cheapest authenticated read (httpx, not the SDK: one GET needs no retries or idempotency)."""

from __future__ import annotations

import httpx

from admin_core.health.ports import DependencyDown, DependencyProbe


class StripeDependencyProbe(DependencyProbe):
    name = "stripe"

    def __init__(self, *, api_key: str, api_url: str, timeout_seconds: float) -> None:
        self._client = httpx.AsyncClient(
            base_url=api_url,
            timeout=timeout_seconds,
            headers={"Authorization": f"Bearer {api_key}"},
        )

    async def check(self) -> None:
        try:
            response = await self._client.get("v1/balance")
        except httpx.HTTPError as error:
            raise DependencyDown.unreachable(error) from None
        if response.status_code != 200:
            raise DependencyDown.answered(response.status_code)

    async def aclose(self) -> None:
        await self._client.aclose()
