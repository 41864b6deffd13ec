"""Anthropic's health probe: `GET {api_url}/v1/models?limit=1` with `x-api-key` and
`anthropic-version: 2023-06-01` — an authenticated read that uses no tokens. A key Anthropic
refuses answers 401 (`authentication_error`)."""

from __future__ import annotations

from adapters.http.probe import HttpDependencyProbe

API_VERSION = "2023-06-01"


class AnthropicDependencyProbe(HttpDependencyProbe):
    def __init__(self, *, api_key: str, api_url: str, timeout_seconds: float) -> None:
        super().__init__(
            "anthropic",
            base_url=api_url,
            path="v1/models",
            params={"limit": 1},
            timeout_seconds=timeout_seconds,
            headers={"x-api-key": api_key, "anthropic-version": API_VERSION},
        )
