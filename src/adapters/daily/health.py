"""Daily's health probe: `GET {api_url}/` (the domain's configuration, `https://api.daily.co/v1/`)
with `Authorization: Bearer <API key>` — the cheapest authenticated read. Daily answers 400
`authorization-header-error` without the header and 401 `authentication-error` for a key it
does not know."""

from __future__ import annotations

import httpx

from admin_core.health.ports import DependencyDown, DependencyProbe


class DailyDependencyProbe(DependencyProbe):
    name = "daily_co"

    def __init__(self, *, api_key: str, api_url: str, timeout_seconds: float) -> None:
        self._client = httpx.AsyncClient(
            base_url=api_url,
            timeout=timeout_seconds,
            headers={"Authorization": f"Bearer {api_key}"},
        )

    async def check(self) -> None:
        try:
            response = await self._client.get("")
        except httpx.HTTPError as error:
            raise DependencyDown.unreachable(error) from None
        if response.status_code != 200:
            raise DependencyDown.answered(response.status_code)

    async def aclose(self) -> None:
        await self._client.aclose()
