"""Stripe's health probe: `GET {api_url}/v1/balance` with the secret key — Stripe's
cheapest authenticated read (httpx, not the SDK: one GET needs no retries or idempotency)."""

from __future__ import annotations

from adapters.http.probe import HttpDependencyProbe


class StripeDependencyProbe(HttpDependencyProbe):
    def __init__(self, *, api_key: str, api_url: str, timeout_seconds: float) -> None:
        super().__init__(
            "stripe",
            base_url=api_url,
            path="v1/balance",
            timeout_seconds=timeout_seconds,
            headers={"Authorization": f"Bearer {api_key}"},
        )
