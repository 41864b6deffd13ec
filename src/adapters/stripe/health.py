"""Stripe's health probe: `GET {api_url}/v1/refunds?limit=1` with the API key — a read of the
one resource we use, which a restricted key (`rk_...`) allowed to refund may make too (a
balance read would need a permission refunds do not; httpx, not the SDK: one GET needs no
retries or idempotency)."""

from __future__ import annotations

from adapters.http.probe import HttpDependencyProbe


class StripeDependencyProbe(HttpDependencyProbe):
    def __init__(self, *, api_key: str, api_url: str, timeout_seconds: float) -> None:
        super().__init__(
            "stripe",
            base_url=api_url,
            path="v1/refunds",
            params={"limit": 1},
            timeout_seconds=timeout_seconds,
            headers={"Authorization": f"Bearer {api_key}"},
        )
