"""The app as `make run` serves it, and what the browser tests need around it.

The server is the real `adminctl serve` in a subprocess: embedded mode on a temporary SQLite
database, seeded with the demo data, on a free port. Tokens are minted in-process with the same
signing key. Playwright's own browser download cannot run on these machines, so the tests drive
Debian's `chromium` (installed by `scripts/chromium.sh`, which `make test` runs); when it is
absent they skip, and fail instead under `REQUIRE_SERVICES=1`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from entrypoints.container import Container, aclose, build_container
from entrypoints.settings import PREFIX, Settings
from tests.support.http import PLATFORM_ORG
from tests.support.services import ROOT, in_thread, services_required
from tests.support.serving import serving

#: Screenshots the tests leave behind (var/ is not versioned).
ARTIFACTS = ROOT / "var" / "artifacts"
#: Where to find the browser when it is not on PATH as `chromium`.
CHROMIUM_ENV = "ADMIN_TEST_CHROMIUM"
#: Quiet, offline Chromium: without the background-networking switches it keeps trying to
#: reach Google's hosts, which this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
]


def chromium_executable() -> str:
    """Debian's Chromium, or skip (fail under REQUIRE_SERVICES=1)."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        if Path(configured).is_file():
            return configured
        reason = f"{CHROMIUM_ENV}={configured} is not a file"
    else:
        found = shutil.which("chromium") or shutil.which("chromium-browser")
        if found:
            return found
        reason = (
            "Debian's chromium is not installed (the browser tests drive it); "
            f"run `bash scripts/chromium.sh` (make test does), or set {CHROMIUM_ENV}"
        )
    if services_required():
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class LiveApp:
    """`adminctl serve` on `base_url`, and a way to mint tokens it accepts."""

    base_url: str
    output: Path  # what the server printed, its welcome lines first
    container: Container  # only for its token issuer (the server's signing key)
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.base_url, timeout=10.0)

    def token(
        self, role: str = "org:admin", org: str | None = PLATFORM_ORG, user: str = "user_browser"
    ) -> str:
        issuer = self.container.auth.token_issuer()
        token: str = issuer.mint(user_id=user, org_id=org, role=role)
        return token

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """The `data` of an admin API call made as a platform admin."""
        headers = {"Authorization": f"Bearer {self.token()}"}
        response = self.http.request(method, f"/api/v1/admin{path}", headers=headers, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def thresholds(self, tenant_id: str) -> dict[str, dict[str, Any]]:
        data = self.api("GET", "/triage/thresholds", params={"tenant_id": tenant_id})
        return {t["name"]: t for t in data["thresholds"]}

    def audit(self, tenant_id: str, action: str = "triage_threshold.update") -> list[Any]:
        """The tenant's entries of `action`, newest first."""
        params = {"tenant_id": tenant_id, "action": action, "limit": 100}
        entries: list[Any] = self.api("GET", "/audit-log", params=params)["entries"]
        return entries

    def welcome_link(self) -> str:
        """The triage page's link that `make run` prints."""
        found = re.search(r"(http://\S+/admin/triage#token=\S+)", self.output.read_text())
        assert found is not None, self.output.read_text()
        return found[1]


@dataclass
class PageUnderTest:
    """A page of a fresh browser context, with what its console said."""

    page: Any
    app: LiveApp
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def unexpected_errors(self, *allowed_statuses: int) -> list[str]:
        """Console errors and warnings and uncaught exceptions, less Chromium's own note of
        each answer with one of `allowed_statuses` (it logs every 4xx a script fetched)."""
        allowed = tuple(f"responded with a status of {status}" for status in allowed_statuses)
        console = [e for e in self.console_errors if not any(a in e for a in allowed)]
        return console + self.page_errors


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[LiveApp]:
    """`adminctl serve` with its database, signing key and output in `folder`."""
    key = folder / "signing.pem"
    settings = {
        f"{PREFIX}MODE": "embedded",
        f"{PREFIX}DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'admin.db'}",
        f"{PREFIX}LOCAL_KEY_PATH": str(key),
        f"{PREFIX}DEMO_SEED": "true",
    }
    with serving(settings, folder) as server:
        container = build_container(Settings(database_url="memory://", local_key_path=key))
        app = LiveApp(base_url=server.url, output=server.log, container=container)
        try:
            yield app
        finally:
            app.http.close()
            in_thread(aclose(container))
