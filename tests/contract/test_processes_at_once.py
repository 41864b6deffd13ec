"""Processes started at the same moment on one embedded database: replicas that migrate as
they start, an operator's `adminctl` beside a server. Each is a real process; they are let
go together once their imports are done."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import sqlalchemy as sa

from adapters.sql.engine import create_engine
from adapters.sql.locks import held_exclusively
from adapters.sql.migrate import head_revision, schema_revision, upgrade
from admin_core.graph.errors import GraphRebuildInProgress
from admin_core.graph.use_cases import RebuildCommand
from admin_core.kernel.errors import DatabaseUnavailable
from admin_core.kernel.principal import Principal
from entrypoints.container import aclose, build_container
from entrypoints.settings import Settings
from tests.support.at_once import run_at_once, started_at_once
from tests.support.graph import neo4j_projection
from tests.support.ports import free_port
from tests.support.services import _create_database, _drop_database, in_thread, service_url
from tests.support.serving import printed_token, until_answering

#: Enough processes that, without a lock, two of them meet in the same migration.
UPGRADES = 4


def _env(tmp_path: Path, url: str) -> dict[str, str]:
    settings = {k: v for k, v in os.environ.items() if not k.startswith("ADMIN_")}
    return settings | {
        "ADMIN_DATABASE_URL": url,
        "ADMIN_LOCAL_KEY_PATH": str(tmp_path / "keys" / "signing.pem"),
    }


def test_upgrades_started_at_once_on_a_fresh_sqlite_file_take_turns(tmp_path: Path) -> None:
    db = tmp_path / "admin.sqlite"
    done = run_at_once(
        [["--json", "db", "upgrade"]] * UPGRADES,
        env=_env(tmp_path, f"sqlite+aiosqlite:///{db}"),
        cwd=tmp_path,
    )
    assert [d.code for d in done] == [0] * UPGRADES, [d.err for d in done]
    reports = sorted(d.out for d in done)
    upgraded = [r for r in reports if '"upgraded":true' in r.replace(" ", "")]
    assert len(upgraded) == 1, reports
    assert '"from":null' in upgraded[0].replace(" ", "")
    with sqlite3.connect(db) as connection:
        [(revision,)] = connection.execute("select version_num from alembic_version").fetchall()
    assert all(f'"to":"{revision}"' in r.replace(" ", "") for r in reports), reports


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database with nothing in it: a SQLite file not yet made, or a PostgreSQL
    database of its own (the embedded mode takes one a developer gives)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'admin.sqlite'}"
        return
    super_url, owner_url = service_url("POSTGRES_SUPER"), service_url("POSTGRES_OWNER")
    owner = urlsplit(owner_url)
    name = f"at_once_{secrets.token_hex(3)}"
    in_thread(_create_database(super_url, name, owner.path.lstrip("/")))
    try:
        yield urlunsplit(owner._replace(path=f"/{name}"))
    finally:
        in_thread(_drop_database(super_url, name))


async def _demo_histories(url: str) -> int:
    """How many times the seed's first audited change was recorded."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            count = await connection.scalar(
                sa.text("select count(*) from audit_log where request_id = 'demo-0001'")
            )
    finally:
        await engine.dispose()
    return int(count)


def test_demo_seeds_started_at_once_seed_the_demo_set_once(
    tmp_path: Path, fresh_database: str
) -> None:
    env = _env(tmp_path, fresh_database)
    [migrated] = run_at_once([["db", "upgrade"]], env=env, cwd=tmp_path)
    assert migrated.code == 0, migrated.err
    done = run_at_once([["--json", "demo", "seed"]] * 2, env=env, cwd=tmp_path)
    assert [d.code for d in done] == [0, 0], [d.err for d in done]
    states = sorted(d.out.replace(" ", "") for d in done)
    assert '"state":"demo"' in states[0], states
    assert '"state":"empty"' in states[1], states
    assert asyncio.run(_demo_histories(fresh_database)) == 1


@pytest.mark.neo4j
async def test_a_rebuild_beside_another_process_s_on_one_sqlite_file_and_neo4j_is_refused(
    tmp_path: Path,
) -> None:
    """The embedded mode with Neo4j: a server and `adminctl graph rebuild` on one file project
    into one graph. Two rebuilds at once would each sweep what the other stamped."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'admin.sqlite'}"
    await upgrade(url)
    settings = Settings(
        database_url=url, neo4j_url=service_url("NEO4J"), local_key_path=tmp_path / "key.pem"
    )
    server, command = build_container(settings), build_container(settings)
    try:
        async with neo4j_projection(), server.graph.rebuild_lock().hold() as taken:
            assert taken
            with pytest.raises(GraphRebuildInProgress):
                await command.graph.rebuild_graph().execute(
                    Principal.operator("test"), RebuildCommand()
                )
    finally:
        await aclose(server)
        await aclose(command)


async def test_an_upgrade_that_stops_part_way_on_sqlite_leaves_the_schema_where_it_was(
    tmp_path: Path,
) -> None:
    """Migration 0011 fails (an index of its name is there already), after 0010 made a
    table: nothing of the upgrade stays, and once the cause is gone the next upgrade runs
    from where the schema was, rather than stopping at 0010's table."""
    db = tmp_path / "admin.sqlite"
    url = f"sqlite+aiosqlite:///{db}"
    await upgrade(url, revision="0009")
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE INDEX ix_mso_doctors_full_name_id ON mso_doctors (id)")
    connection.close()
    with pytest.raises(sa.exc.OperationalError, match="already exists"):
        await upgrade(url)
    assert await schema_revision(url) == "0009"
    with sqlite3.connect(db) as connection:
        connection.execute("DROP INDEX ix_mso_doctors_full_name_id")
        tables = {n for (n,) in connection.execute("select name from sqlite_master")}
    connection.close()
    assert "embedded_memberships" not in tables
    done = await upgrade(url)
    assert (done.before, done.after) == ("0009", head_revision())


def test_two_servers_started_at_once_on_a_fresh_file_serve_one_demo_set_and_one_key(
    tmp_path: Path,
) -> None:
    """Two `adminctl serve` on one fresh SQLite file: both migrate, seed and make the signing
    key at once. Both serve; the demo history is there once; a token either prints works on
    both."""
    db = tmp_path / "admin.sqlite"
    env = _env(tmp_path, f"sqlite+aiosqlite:///{db}")
    ports = [free_port(), free_port()]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    commands = [["serve", "--host", "127.0.0.1", "--port", str(port)] for port in ports]
    with started_at_once(commands, env=env, cwd=tmp_path) as servers:
        for server, base in zip(servers, bases, strict=True):
            until_answering(server.process, f"{base}/ready", server.output)
        tokens = [printed_token(server.stdout.read_text()) for server in servers]
        for token in tokens:
            for base in bases:
                answer = httpx.get(
                    f"{base}/api/v1/admin/tenants",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=GUARD_S,
                )
                assert answer.status_code == 200, answer.text
        for server in servers:
            server.process.send_signal(signal.SIGTERM)
        codes = [server.process.wait(GUARD_S) for server in servers]
        assert codes == [0, 0], [server.output() for server in servers]
    assert asyncio.run(_demo_histories(f"sqlite+aiosqlite:///{db}")) == 1
    seeded = [s for s in servers if "demo data seeded" in s.stderr.read_text()]
    assert len(seeded) == 1, [server.output() for server in servers]


#: Guards against a hang, never a measure of speed.
GUARD_S = 60.0


async def test_a_process_waiting_for_the_seed_lock_past_its_wait_is_told_to_try_again(
    fresh_database: str,
) -> None:
    """The seed lock of a database is one holder's at a time, another process's included (a
    holder of its own); a waiter whose wait runs out gets DATABASE_UNAVAILABLE, and the lock
    is free for the next once its holder is done."""

    await upgrade(fresh_database)  # the lock is kept beside a database there is

    async def second_holder() -> None:
        async with held_exclusively(fresh_database, "demo_seed", wait=0.2):
            pytest.fail("two holders of one lock")

    async with held_exclusively(fresh_database, "demo_seed"):
        with pytest.raises(DatabaseUnavailable):
            await asyncio.wait_for(second_holder(), GUARD_S)
    async with held_exclusively(fresh_database, "demo_seed", wait=0.2):
        pass
