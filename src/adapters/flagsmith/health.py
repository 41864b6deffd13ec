"""Flagsmith's health probe: `GET {api_url}environment-document/` with the server-side key
(`X-Environment-Key`) — the very call local evaluation depends on. Flagsmith answers 403 to
a key it does not accept."""

from __future__ import annotations

from adapters.http.probe import HttpDependencyProbe


class FlagsmithDependencyProbe(HttpDependencyProbe):
    def __init__(self, *, server_key: str, api_url: str, timeout_seconds: float) -> None:
        super().__init__(
            "flagsmith",
            base_url=api_url,
            path="environment-document/",
            timeout_seconds=timeout_seconds,
            headers={"X-Environment-Key": server_key},
        )
