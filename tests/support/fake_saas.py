"""Local fakes of the services the health check only probes: Daily, Qdrant, Anthropic and
Langfuse (none publishes a mock server).

Each is a real HTTP server on 127.0.0.1 (random port, a thread) that answers its service's
probe call as the service documents it:

- Daily: `GET /v1/` with `Authorization: Bearer <key>` → 200 with the domain's
  configuration; no such header → 400 `{"error": "authorization-header-error", "info"}`; a
  key it does not know → 401 `{"error": "authentication-error", "info"}`.
- Qdrant: `GET /readyz` → 200 `all shards are ready` (text); when the fake has an API key,
  the `api-key` header must carry it (401 otherwise).
- Anthropic: `GET /v1/models?limit=1` with `x-api-key` and `anthropic-version` → 200, a page
  of models; no version → 400 `invalid_request_error`; a bad key → 401
  `{"type": "error", "error": {"type": "authentication_error", "message"}, "request_id"}`.
- Langfuse: `GET /api/public/health` (no credentials) → 200 `{"status": "OK", "version"}`;
  503 when its database is down (the fake's 5xx); `GET /api/public/projects` with Basic
  public:secret (the fake's key, `"public:secret"`) → 200 `{"data": [project]}`, 401
  `{"message": "Unauthorized"}` otherwise.

Switches, for every fake: `slow(seconds)` (answer that late), `hang()` (never answer, until
`stop()`), `fail(status)` (401 or a 5xx, in the service's own shape), `heal()` (none of
them). `probe_calls` counts the calls to the probe's path.
"""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from tests.support.fake_http import JSON, FakeServer, Incoming, Reply

DAILY_KEY = "fake_daily_api_key_7c1d"
QDRANT_KEY = "fake_qdrant_api_key_52be"
ANTHROPIC_KEY = "sk-ant-fake-anthropic-key-90f3"
LANGFUSE_VERSION = "3.112.0"
LANGFUSE_PUBLIC_KEY = "pk-lf-fake-public"
LANGFUSE_SECRET_KEY = "sk-lf-fake-secret-0001"

#: (status, body, content type); a `str` body is sent as text.
Answer = tuple[int, Any, str]


@dataclass
class FakeSaas:
    """One fake service (`service`: daily, qdrant, anthropic or langfuse)."""

    service: str
    api_key: str | None = None
    url: str = ""
    probe_calls: int = 0
    slow_seconds: float = 0.0
    hanging: bool = False
    fail_status: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)
    server: FakeServer | None = field(default=None, repr=False)

    @property
    def api_url(self) -> str:
        """What the settings take: Daily's `.../v1`, the others' base URL."""
        return f"{self.url}/v1" if self.service == "daily" else self.url

    # --- switches ---------------------------------------------------------------------------

    def slow(self, seconds: float) -> None:
        self.slow_seconds = seconds

    def hang(self) -> None:
        self.hanging = True

    def fail(self, status: int) -> None:
        self.fail_status = status

    def heal(self) -> None:
        self.slow_seconds, self.hanging, self.fail_status = 0.0, False, None

    def stop(self) -> None:
        """Stop serving (a hung or slow call is answered at once)."""
        self.released.set()
        if self.server is not None:
            self.server.stop()
            self.server = None

    # --- the APIs ---------------------------------------------------------------------------

    def is_probe(self, path: str) -> bool:
        return (
            path
            in {
                "daily": ("/v1/",),
                "qdrant": ("/readyz",),
                "anthropic": ("/v1/models",),
                "langfuse": ("/api/public/health", "/api/public/projects"),
            }[self.service]
        )

    def handle(
        self, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str]
    ) -> Answer:
        if not self.is_probe(path):
            return self._not_found()
        if self.fail_status is not None:
            return self._failure(self.fail_status)
        if path == "/api/public/projects":
            return self._langfuse_projects(headers)
        answer: Answer = getattr(self, f"_{self.service}")(query, headers)
        return answer

    def _daily(self, query: Mapping[str, list[str]], headers: Mapping[str, str]) -> Answer:
        scheme, _, key = headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not key:
            return (
                400,
                {"error": "authorization-header-error", "info": "Bearer token required"},
                JSON,
            )
        if key != self.api_key:
            return self._failure(401)
        return 200, {"domain_name": "fake-domain", "domain_id": "d0a1", "config": {}}, JSON

    def _qdrant(self, query: Mapping[str, list[str]], headers: Mapping[str, str]) -> Answer:
        if self.api_key is not None and headers.get("api-key") != self.api_key:
            return self._failure(401)
        return 200, "all shards are ready", "text/plain; charset=utf-8"

    def _anthropic(self, query: Mapping[str, list[str]], headers: Mapping[str, str]) -> Answer:
        if headers.get("anthropic-version") != "2023-06-01":
            return self._anthropic_error(
                400, "invalid_request_error", "anthropic-version: header is required"
            )
        if headers.get("x-api-key") != self.api_key:
            return self._failure(401)
        limit = int((query.get("limit") or ["20"])[-1])
        models = [
            {
                "type": "model",
                "id": "claude-fake-1",
                "display_name": "Claude Fake",
                "created_at": "2026-01-01T00:00:00Z",
            }
        ][:limit]
        body = {
            "data": models,
            "has_more": False,
            "first_id": "claude-fake-1",
            "last_id": "claude-fake-1",
        }
        return 200, body, JSON

    def _langfuse(self, query: Mapping[str, list[str]], headers: Mapping[str, str]) -> Answer:
        return 200, {"status": "OK", "version": LANGFUSE_VERSION}, JSON

    def _langfuse_projects(self, headers: Mapping[str, str]) -> Answer:
        scheme, _, encoded = headers.get("authorization", "").partition(" ")
        try:
            given = base64.b64decode(encoded, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            given = ""
        if scheme != "Basic" or self.api_key is None or given != self.api_key:
            return self._failure(401)
        project = {"id": "fake-project", "name": "Fake project", "metadata": {}}
        return 200, {"data": [project]}, JSON

    def _anthropic_error(self, status: int, kind: str, message: str) -> Answer:
        body = {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": f"req_{secrets.token_hex(8)}",
        }
        return status, body, JSON

    def _failure(self, status: int) -> Answer:
        """`status` (401 or a 5xx) as the service answers it."""
        if self.service == "daily":
            kind = "authentication-error" if status == 401 else "server-error"
            return status, {"error": kind, "info": f"fake {status}"}, JSON
        if self.service == "anthropic":
            if status == 401:
                return self._anthropic_error(401, "authentication_error", "invalid x-api-key")
            return self._anthropic_error(status, "api_error", "Internal server error")
        if self.service == "qdrant":
            text = "Invalid api-key" if status == 401 else "Service unavailable"
            return status, {"status": {"error": text}, "time": 0.0}, JSON
        if status == 401:
            return 401, {"message": "Unauthorized"}, JSON
        return status, {"status": "Database not available", "version": LANGFUSE_VERSION}, JSON

    def _not_found(self) -> Answer:
        return 404, {"error": "not-found", "info": "no such endpoint"}, JSON


def _respond(fake: FakeSaas) -> Callable[[Incoming], Reply | None]:
    def respond(incoming: Incoming) -> Reply | None:
        with fake.lock:
            if fake.is_probe(incoming.path):
                fake.probe_calls += 1
            hanging, slow = fake.hanging, fake.slow_seconds
        if hanging:
            fake.released.wait()
            return None
        if slow:
            fake.released.wait(slow)
        status, body, content_type = fake.handle(
            incoming.path, parse_qs(incoming.query), incoming.headers
        )
        return Reply(status, body, content_type=content_type)

    return respond


def start_fake(service: str, api_key: str | None = None) -> FakeSaas:
    """A fake `service` started on a free port; `stop()` it."""
    fake = FakeSaas(service=service, api_key=api_key)
    fake.server = FakeServer(_respond(fake), name=service)
    fake.url = fake.server.url
    return fake


#: The key each fake expects by default (Langfuse's: its public and secret keys).
DEFAULT_KEYS = {
    "daily": DAILY_KEY,
    "qdrant": QDRANT_KEY,
    "anthropic": ANTHROPIC_KEY,
    "langfuse": f"{LANGFUSE_PUBLIC_KEY}:{LANGFUSE_SECRET_KEY}",
}


@contextmanager
def running_fake(service: str, api_key: str | None = None) -> Iterator[FakeSaas]:
    """A started fake (with the service's default key unless given), stopped after."""
    fake = start_fake(service, api_key if api_key is not None else DEFAULT_KEYS[service])
    try:
        yield fake
    finally:
        fake.stop()
