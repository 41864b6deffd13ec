"""Qdrant's health probe: `GET {url}/readyz`, the readiness endpoint ("all shards are
ready"), with the `api-key` header when a key is configured (whether the health endpoints
need it depends on Qdrant's version)."""

from __future__ import annotations

from adapters.http.probe import HttpDependencyProbe


class QdrantDependencyProbe(HttpDependencyProbe):
    def __init__(self, *, url: str, api_key: str | None, timeout_seconds: float) -> None:
        super().__init__(
            "qdrant",
            base_url=url,
            path="readyz",
            timeout_seconds=timeout_seconds,
            headers={"api-key": api_key} if api_key else {},
            json_object=False,  # `all shards are ready`, as text
        )
