"""A database that is reached and cannot keep a write — a full disk, a read-only file, a
PostgreSQL server out of disk or memory or taking no writes — says so: 503
DATABASE_UNAVAILABLE (exit 6) whose message names the cause and what to do, with SQLite's
error name or PostgreSQL's SQLSTATE in `details`, never "unreachable; try again shortly" and
never a 500. Nothing is half-written: the change and its audit entry roll back together, and
the same request succeeds once the operator has made room."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.sql.engine import create_engine
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.kernel.errors import DatabaseUnavailable
from entrypoints.cli.main import main
from entrypoints.container import aclose, build_container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.support.adminctl import ADMINCTL
from tests.support.databases import postgres_urls
from tests.unit.test_cli_file_failures import _can_mount

TENANT = "apollo-chennai"
UNREACHABLE = "unreachable"


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A seeded embedded database in `tmp_path/admin.db`."""
    for name in [k for k in os.environ if k.startswith("ADMIN_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ADMIN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}")
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "keys" / "signing.pem"))
    assert main(["db", "upgrade"]) == 0
    assert main(["demo", "seed"]) == 0
    return tmp_path


def _stored(database: Path) -> tuple[str, int]:
    """The tenant's stored name and the number of audit entries, read past the app."""
    with sqlite3.connect(database) as conn:
        (name,) = conn.execute("SELECT name FROM tenants WHERE id = ?", (TENANT,)).fetchone()
        (entries,) = conn.execute("SELECT count(*) FROM audit_log").fetchone()
    return str(name), int(entries)


@asynccontextmanager
async def _embedded_client(home: Path, pragma: dict[str, str]) -> AsyncIterator[Any]:
    """The app on the embedded database of `home`; every connection it takes from its pool
    first runs `PRAGMA name = value` for each item `pragma` holds at that moment."""
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{home / 'admin.db'}",
        local_key_path=home / "keys" / "signing.pem",
    )
    container = build_container(settings)
    engine = container.database.engine()

    @sa.event.listens_for(engine.sync_engine, "checkout")
    def _limits(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        cursor = dbapi_connection.cursor()
        for name, value in pragma.items():
            cursor.execute(f"PRAGMA {name} = {value}")
        cursor.close()

    token = container.auth.token_issuer().mint(
        user_id="user_ops", org_id=settings.platform_org, role="org:admin"
    )
    try:
        async with AsyncTestClient(create_app(container)) as client:
            client.headers["Authorization"] = f"Bearer {token}"
            yield client
    finally:
        await aclose(container)


def _page_count(database: Path) -> int:
    with sqlite3.connect(database) as conn:
        return int(conn.execute("PRAGMA page_count").fetchone()[0])


async def test_a_write_on_a_full_embedded_database_says_the_disk_is_full_and_changes_nothing(
    seeded: Path,
) -> None:
    database = seeded / "admin.db"
    # SQLite's own ceiling on the file (SQLITE_FULL, as a full disk answers): no page more.
    pragma = {"max_page_count": str(_page_count(database))}
    async with _embedded_client(seeded, pragma) as client:
        refused = None
        for n in range(60):  # until the pages already there hold no more
            before = _stored(database)
            answer = await client.patch(
                f"/api/v1/admin/tenants/{TENANT}", json={"name": f"Name {n} " + "x" * 180}
            )
            if answer.status_code != 200:
                refused = answer
                break
        assert refused is not None, "the database never filled up"
        assert refused.status_code == 503, refused.text
        (error,) = refused.json()["errors"]
        assert error["code"] == "DATABASE_UNAVAILABLE"
        assert "disk is full" in error["message"]
        assert UNREACHABLE not in error["message"]
        assert error["details"] == {"sqlite_error": "SQLITE_FULL"}
        assert str(seeded) not in refused.text  # no path reaches an API client
        # Neither the change nor its audit entry was kept.
        assert _stored(database) == before
        # Room made: the same request is answered, and kept with its entry.
        pragma["max_page_count"] = "1073741823"
        again = await client.patch(
            f"/api/v1/admin/tenants/{TENANT}", json={"name": f"Name {n} " + "x" * 180}
        )
        assert again.status_code == 200, again.text
        assert _stored(database) == (f"Name {n} " + "x" * 180, before[1] + 1)
        verified = await client.get("/api/v1/admin/audit-log/verify")
        assert verified.status_code == 200, verified.text


async def test_a_write_on_a_read_only_embedded_database_says_so_and_changes_nothing(
    seeded: Path,
) -> None:
    database = seeded / "admin.db"
    before = _stored(database)
    # Every write refused with SQLITE_READONLY, as by a file or file system turned read-only.
    async with _embedded_client(seeded, {"query_only": "ON"}) as client:
        answer = await client.patch(f"/api/v1/admin/tenants/{TENANT}", json={"name": "Renamed"})
        read = await client.get("/api/v1/admin/tenants")
    assert answer.status_code == 503, answer.text
    (error,) = answer.json()["errors"]
    assert error["code"] == "DATABASE_UNAVAILABLE"
    assert "read-only" in error["message"]
    assert UNREACHABLE not in error["message"]
    assert error["details"] == {"sqlite_error": "SQLITE_READONLY"}
    assert str(seeded) not in answer.text
    assert _stored(database) == before
    assert read.status_code == 200  # reads are still answered


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_the_cli_on_a_full_disk_exits_6_saying_the_disk_is_full(
    seeded: Path, as_json: bool
) -> None:
    if not _can_mount():
        pytest.skip("a full disk needs a mount namespace (unshare, mount)")
    disk = seeded / "disk"
    disk.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADMIN_")} | {
        "ADMIN_DATABASE_URL": f"sqlite+aiosqlite:///{disk / 'admin.db'}",
        "ADMIN_LOCAL_KEY_PATH": str(seeded / "keys" / "signing.pem"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    words = [str(ADMINCTL), *(["--json"] if as_json else []), "tenants", "update", TENANT]
    # The database on a tiny tmpfs that a filler then takes every block of.
    script = (
        f"mount -t tmpfs -o size=1m tmpfs {disk} && cp {seeded / 'admin.db'} {disk}/ && "
        f"(head -c 4194304 /dev/zero > {disk}/filler 2>/dev/null; true) && "
        f'"$@" --name Renamed; status=$?; cp {disk}/admin.db {seeded}/after.db; exit $status'
    )
    done = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, "sh", *words],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 6, done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    if as_json:
        (error,) = json.loads(line)["errors"]
        code, message = error["code"], error["message"]
        assert error["details"]["sqlite_error"].startswith(("SQLITE_FULL", "SQLITE_IOERR"))
    else:
        code, message = line.split(": ", 1)[0].removeprefix("error "), line.split(": ", 1)[1]
    assert code == "DATABASE_UNAVAILABLE"
    assert "disk is full" in message
    assert UNREACHABLE not in message
    assert _stored(seeded / "after.db") == _stored(seeded / "admin.db")


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("sqlstate", "says"),
    [
        ("53100", "disk is full"),
        ("53200", "out of memory"),
        ("25006", "takes no writes"),
    ],
    ids=["disk_full", "out_of_memory", "read_only_sql_transaction"],
)
async def test_a_postgresql_server_that_cannot_keep_a_write_says_why(
    sqlstate: str, says: str
) -> None:
    """The server's own error of each SQLSTATE, raised inside a transaction."""
    app_url, _ = postgres_urls()
    engine = create_engine(app_url)
    transactions = SqlTransactions(engine, SystemClock(), UlidGenerator())
    raising = f"DO $$ BEGIN RAISE EXCEPTION 'refused' USING ERRCODE = '{sqlstate}'; END $$"
    try:
        with pytest.raises(DatabaseUnavailable) as refused:
            async with transactions() as tx:
                await tx.connection.execute(sa.text(raising))
    finally:
        await engine.dispose()
    assert says in refused.value.message
    assert UNREACHABLE not in refused.value.message
    assert refused.value.details == {"sqlstate": sqlstate}


@pytest.mark.postgres
async def test_a_write_to_a_postgresql_database_that_takes_no_writes_says_so() -> None:
    """A standby, or `default_transaction_read_only` on the database: /ready says not ready
    (ADR 0062), and a write sent anyway is refused saying why, changing nothing."""
    app_url, _ = postgres_urls()
    engine = create_async_engine(
        app_url, connect_args={"server_settings": {"default_transaction_read_only": "on"}}
    )
    transactions = SqlTransactions(engine, SystemClock(), UlidGenerator())
    try:
        with pytest.raises(DatabaseUnavailable) as refused:
            async with transactions() as tx:
                await tx.connection.execute(
                    sa.text("UPDATE tenants SET name = name WHERE id = 'none'")
                )
    finally:
        await engine.dispose()
    assert "takes no writes" in refused.value.message
    assert refused.value.details == {"sqlstate": "25006"}
