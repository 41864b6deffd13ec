"""Clerk's health probe: `GET {api_url}/jwks` with the secret key — a Backend API read that
Clerk does not rate limit (the Backend API allows 1000 requests per 10 s per instance)."""

from __future__ import annotations

from adapters.http.probe import HttpDependencyProbe


class ClerkDependencyProbe(HttpDependencyProbe):
    def __init__(self, *, secret_key: str, api_url: str, timeout_seconds: float) -> None:
        super().__init__(
            "clerk",
            base_url=api_url,
            path="jwks",
            timeout_seconds=timeout_seconds,
            headers={"Authorization": f"Bearer {secret_key}"},
        )
