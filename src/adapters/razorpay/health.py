"""Razorpay's health probe: Razorpay has no health endpoint; the cheapest authenticated read
is `GET {api_url}/v1/payments?count=1` (HTTP Basic `key_id:key_secret`)."""

from __future__ import annotations

import httpx

from admin_core.health.ports import DependencyDown, DependencyProbe


class RazorpayDependencyProbe(DependencyProbe):
    name = "razorpay"

    def __init__(
        self, *, key_id: str, key_secret: str, api_url: str, timeout_seconds: float
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=api_url, timeout=timeout_seconds, auth=(key_id, key_secret)
        )

    async def check(self) -> None:
        try:
            response = await self._client.get("v1/payments", params={"count": 1})
        except httpx.HTTPError as error:
            raise DependencyDown.unreachable(error) from None
        if response.status_code != 200:
            raise DependencyDown.answered(response.status_code)

    async def aclose(self) -> None:
        await self._client.aclose()
