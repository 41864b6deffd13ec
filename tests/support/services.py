"""Where the real test services live, and what to do when one is absent.

`make services` starts PostgreSQL, Redis, Neo4j and stripe-mock on loopback and writes their
addresses to `var/services.env`. A test that needs one calls `service_url(name)`: it skips with
the reason when the service is not reachable, and fails instead under `REQUIRE_SERVICES=1`.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES_ENV = ROOT / "var" / "services.env"


def _env_file() -> dict[str, str]:
    if not SERVICES_ENV.exists():
        return {}
    values: dict[str, str] = {}
    for line in SERVICES_ENV.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port
    if port is None:
        return False
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def services_required() -> bool:
    return os.environ.get("REQUIRE_SERVICES") == "1"


def service_url(key: str) -> str:
    """The URL stored under `ADMIN_TEST_<key>`, or skip (fail under REQUIRE_SERVICES=1)."""
    name = f"ADMIN_TEST_{key}"
    url = os.environ.get(name) or _env_file().get(name)
    if url and _reachable(url):
        return url
    reason = (
        f"{name} is not set; run `make services`"
        if not url
        else f"{name}={url} is not reachable; run `make services`"
    )
    if services_required():
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)
