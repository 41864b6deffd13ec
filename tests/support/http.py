"""The real HTTP app on the in-memory adapters, seeded with the demo data, plus tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from litestar.testing import AsyncTestClient

from entrypoints.container import Container, build_container
from entrypoints.demo.seed import seed_demo
from entrypoints.http.app import create_app
from entrypoints.settings import Settings

PLATFORM_ORG = "org_platform"


@dataclass
class ApiClient:
    client: AsyncTestClient[Any]
    container: Container

    def token(
        self,
        role: str | None = "org:admin",
        org: str | None = PLATFORM_ORG,
        user: str = "user_test",
        **kwargs: Any,
    ) -> str:
        issuer = self.container.auth.token_issuer()
        token: str = issuer.mint(user_id=user, org_id=org, role=role, **kwargs)
        return token

    def auth(
        self, role: str | None = "org:admin", org: str | None = PLATFORM_ORG, **kwargs: Any
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, org, **kwargs)}"}


@asynccontextmanager
async def api(tmp_key_dir: Any, settings: Settings | None = None) -> AsyncIterator[ApiClient]:
    """`tmp_key_dir`: where the embedded signing key lives (a pytest tmp_path)."""
    base = settings or Settings(database_url="memory://")
    if base.audit_checkpoint_dir is None and not base.database_url.startswith("memory:"):
        # Each test's checkpoints apart: a database truncated between tests keeps its name.
        base = replace(base, audit_checkpoint_dir=tmp_key_dir / "audit-checkpoints")
    container = build_container(replace(base, local_key_path=tmp_key_dir / "signing.pem"))
    await seed_demo(container)
    if not base.database_url.startswith("memory:"):
        # The app runs on the test client's own event loop: pooled connections opened on
        # this one (by the seed) cannot serve it.
        await container.database.engine().dispose()
    async with AsyncTestClient(create_app(container)) as client:
        yield ApiClient(client=client, container=container)


@dataclass(frozen=True, slots=True)
class RawAnswer:
    status: int
    body: bytes
    body_read: bool  # whether the app asked for the request's body


async def raw_call(
    app: Any,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    *,
    query: bytes = b"",
    body: bytes = b"",
) -> RawAnswer:
    """One request handed straight to the ASGI app as a server hands it: its query string as
    these bytes (a client may send bytes no HTTP client library would), its header lines as
    listed (a name given twice stays two lines; the test client joins them into one)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
        "state": {},
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []
    read: list[bool] = []

    async def receive() -> dict[str, Any]:
        read.append(True)
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return RawAnswer(status=status, body=content, body_read=bool(read))
