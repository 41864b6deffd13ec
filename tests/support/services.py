"""Where the real test services live, and what to do when one is absent.

`make services` starts PostgreSQL, Redis, Neo4j and stripe-mock on loopback and writes their
addresses to `var/services.env`. A test that needs one calls `service_url(name)`: it skips with
the reason when the service is not reachable, and fails instead under `REQUIRE_SERVICES=1`.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import secrets
import socket
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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


_SESSION_DATABASE_KEYS = frozenset({"POSTGRES", "POSTGRES_OWNER", "POSTGRES_SUPER"})
_session_db_name: str | None = None


def _session_database(url: str) -> str:
    """Create (once) a database owned by the owner role for this process, return `url` on it."""
    global _session_db_name
    parts = urlsplit(url)
    if _session_db_name is None:
        base = parts.path.lstrip("/")
        name = f"{base}_{os.getpid()}_{secrets.token_hex(3)}"
        super_url = os.environ.get("ADMIN_TEST_POSTGRES_SUPER_URL") or _env_file().get(
            "ADMIN_TEST_POSTGRES_SUPER_URL"
        )
        if not super_url:
            raise RuntimeError("ADMIN_TEST_POSTGRES_SUPER_URL is needed to create test databases")
        in_thread(_create_database(super_url, name, base))
        atexit.register(lambda: in_thread(_drop_database(super_url, name)))
        _session_db_name = name
    return urlunsplit(parts._replace(path=f"/{_session_db_name}"))


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parts = urlsplit(url.replace("postgresql+asyncpg://", "postgresql://"))
    return urlunsplit(parts._replace(path=f"/{database}")) if database else urlunsplit(parts)


async def _create_database(super_url: str, name: str, template_name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(super_url))
    try:
        owner = await conn.fetchval(
            "select pg_get_userbyid(datdba) from pg_database where datname = $1", template_name
        )
        await conn.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
    finally:
        await conn.close()


async def _drop_database(super_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(super_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def in_thread(coro: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to completion on a fresh loop, even from inside a running loop."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)
        except BaseException as error:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def services_required() -> bool:
    return os.environ.get("REQUIRE_SERVICES") == "1"


def service_url(key: str) -> str:
    """The URL stored under `ADMIN_TEST_<key>_URL`, or skip (fail under REQUIRE_SERVICES=1).

    The PostgreSQL test URLs (`POSTGRES`, `POSTGRES_OWNER`, `POSTGRES_SUPER`) point at a
    database of this test session's own, so concurrent test runs never share tables.
    """
    name = f"ADMIN_TEST_{key}_URL"
    url = os.environ.get(name) or _env_file().get(name)
    if url and _reachable(url):
        return _session_database(url) if key in _SESSION_DATABASE_KEYS else url
    reason = (
        f"{name} is not set; run `make services`"
        if not url
        else f"{name}={url} is not reachable; run `make services`"
    )
    if services_required():
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)
