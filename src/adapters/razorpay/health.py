"""Razorpay's health probe: Razorpay has no health endpoint; the cheapest authenticated read
is `GET {api_url}/v1/payments?count=1` (HTTP Basic `key_id:key_secret`)."""

from __future__ import annotations

from adapters.http.probe import HttpDependencyProbe


class RazorpayDependencyProbe(HttpDependencyProbe):
    def __init__(
        self, *, key_id: str, key_secret: str, api_url: str, timeout_seconds: float
    ) -> None:
        super().__init__(
            "razorpay",
            base_url=api_url,
            path="v1/payments",
            params={"count": 1},
            timeout_seconds=timeout_seconds,
            auth=(key_id, key_secret),
        )
