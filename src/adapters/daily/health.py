"""Daily's health probe: `GET {api_url}/` (the domain's configuration, `https://api.daily.co/v1/`)
with `Authorization: Bearer <API key>` — the cheapest authenticated read. Daily answers 400
`authorization-header-error` without the header and 401 `authentication-error` for a key it
does not know."""

from __future__ import annotations

from adapters.http.probe import HttpDependencyProbe


class DailyDependencyProbe(HttpDependencyProbe):
    def __init__(self, *, api_key: str, api_url: str, timeout_seconds: float) -> None:
        super().__init__(
            "daily_co",
            base_url=api_url,
            path="",
            timeout_seconds=timeout_seconds,
            headers={"Authorization": f"Bearer {api_key}"},
        )
