"""The composition root as a service that embeds the core uses it (docs/embedding.md, Way 2):
two containers in one process on two databases keep apart, and one container serves one
event loop after another (a test suite's `asyncio.run`, pytest-asyncio's loop per test), and
closing it leaves nothing open."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from adapters.config_files import PROJECT_CONFIG
from adapters.config_files.flags import load_flag_catalogue
from adapters.sql.migrate import upgrade
from admin_core.audit.recording import audit_record
from admin_core.audit.use_cases import AuditQuery, WriteCheckpointCommand
from admin_core.kernel.principal import Principal
from admin_core.tenants.use_cases import ListTenantsQuery
from entrypoints.container import Container, aclose, build_container
from entrypoints.demo.seed import seed_demo
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.support.databases import postgres_urls, truncate_postgres
from tests.support.fake_flagsmith import catalogue_features, running_fake_flagsmith
from tests.support.services import in_thread

OPERATOR = Principal.operator("embedder", request_id="req-embedder")
NOTE = "embedder.note"


@dataclass(frozen=True)
class Place:
    """A database an embedding service points a container at, and the files beside it."""

    url: str
    home: Path

    def settings(self) -> Settings:
        if self.url.startswith("postgresql"):  # SQLite keeps its own beside the file
            return Settings(
                database_url=self.url,
                local_key_path=self.home / "keys" / "signing.pem",
                audit_checkpoint_dir=self.home / "checkpoints",
            )
        return Settings(database_url=self.url)


def place(kind: str, tmp_path: Path, name: str) -> Place:
    home = tmp_path / name
    home.mkdir()
    if kind == "memory":
        return Place("memory://", home)
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{home / 'admin_core.db'}"
        in_thread(upgrade(url))
        return Place(url, home)
    app_url, owner_url = postgres_urls()
    in_thread(truncate_postgres(owner_url))
    return Place(app_url, home)


def kinds(*names: str) -> list[object]:
    return [
        pytest.param(n, marks=[pytest.mark.postgres] if "postgres" in n else [], id=n)
        for n in names
    ]


async def note(container: Container, what: str, *, hold: float = 0.0) -> None:
    """An admin action of the embedding service, recorded as the guide says; `hold` keeps its
    write transaction open that long."""
    async with container.database.transactions()() as tx:
        await tx.audit.append(
            audit_record(
                OPERATOR,
                action=NOTE,
                event_type="ADMIN_NOTE",
                resource_type="note",
                resource_id=what,
                tenant_id=None,
            )
        )
        await asyncio.sleep(hold)
        await tx.commit()


async def notes(container: Container) -> list[str | None]:
    page = await container.audit.query_audit_log().execute(OPERATOR, AuditQuery(action=NOTE))
    return sorted(e.resource_id for e in page.entries)


async def tenants(container: Container) -> int:
    page = await container.tenants.list_tenants().execute(OPERATOR, ListTenantsQuery())
    return page.total


@pytest.mark.parametrize("pair", kinds("sqlite+sqlite", "sqlite+postgres"))
async def test_two_containers_on_two_databases_keep_their_writes_locks_and_audit_apart(
    pair: str, tmp_path: Path
) -> None:
    first_kind, second_kind = pair.split("+")
    a = build_container(place(first_kind, tmp_path, "a").settings())
    b = build_container(place(second_kind, tmp_path, "b").settings())
    try:
        await seed_demo(a)
        assert await tenants(a) > 0
        assert (await tenants(b), await notes(b)) == (0, [])

        # A write transaction held open on the one never makes a write on the other wait.
        holding = asyncio.create_task(note(a, "held", hold=2.0))
        await asyncio.sleep(0.2)
        await asyncio.wait_for(note(b, "meanwhile"), timeout=1.0)
        assert not holding.done()
        await holding
        assert (await notes(a), await notes(b)) == (["held"], ["meanwhile"])

        # Each signs and keeps its own checkpoints.
        command = WriteCheckpointCommand()
        written = await a.audit.write_checkpoint().execute(OPERATOR, command)
        assert written.written
        assert (await b.audit.checkpoint_sink().read(1)) is None
        assert a.audit.checkpoint_keys().public_keys() != b.audit.checkpoint_keys().public_keys()

        # Closing the one leaves the other working.
        await aclose(a)
        await note(b, "after")
        assert await notes(b) == ["after", "meanwhile"]
    finally:
        await aclose(a)
        await aclose(b)


async def test_two_apps_in_one_process_answer_each_from_its_own_database(
    tmp_path: Path,
) -> None:
    a = build_container(place("sqlite", tmp_path, "a").settings())
    b = build_container(place("sqlite", tmp_path, "b").settings())
    await seed_demo(a)

    def bearer(container: Container) -> dict[str, str]:
        token = container.auth.token_issuer().mint(
            user_id="user_embedder", org_id="org_platform", role="org:admin"
        )
        return {"Authorization": f"Bearer {token}"}

    async with AsyncTestClient(create_app(b)) as on_b:
        async with AsyncTestClient(create_app(a)) as on_a:
            listed_a = await on_a.get("/api/v1/admin/tenants", headers=bearer(a))
            listed_b = await on_b.get("/api/v1/admin/tenants", headers=bearer(b))
            assert listed_a.status_code == listed_b.status_code == 200
            assert listed_a.json()["meta"]["total"] > 0
            assert listed_b.json()["meta"]["total"] == 0
            # Each trusts its own signing key only.
            refused = await on_b.get("/api/v1/admin/tenants", headers=bearer(a))
            assert refused.status_code == 401
            audit_b = await on_b.get("/api/v1/admin/audit-log", headers=bearer(b))
            assert audit_b.json()["data"]["entries"] == []
        # The one app stopped, and its lifespan closed its container: the other still serves.
        assert (await on_b.get("/api/v1/admin/tenants", headers=bearer(b))).status_code == 200
        assert (await on_b.get("/ready")).status_code == 200


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture
def leaks() -> Iterator[list[warnings.WarningMessage]]:
    """The ResourceWarnings raised while the test runs (an unclosed socket, file, transport)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield caught
        gc.collect()


@pytest.mark.parametrize("kind", kinds("memory", "sqlite", "postgres"))
def test_a_container_closed_at_the_end_of_each_event_loop_serves_the_next(
    kind: str, tmp_path: Path, leaks: list[warnings.WarningMessage]
) -> None:
    """Two writers at once on each loop: the second waits for the first (the SQLite writer
    gate, the in-memory store's lock), on the second loop as on the first."""
    where = place(kind, tmp_path, "db")
    threads, fds = set(threading.enumerate()), open_fds()
    container = build_container(where.settings())

    async def run(n: int) -> list[str | None]:
        try:
            await asyncio.gather(note(container, f"{n}a", hold=0.05), note(container, f"{n}b"))
            return await notes(container)
        finally:
            await aclose(container)

    assert asyncio.run(asyncio.wait_for(run(1), 10)) == ["1a", "1b"]
    assert asyncio.run(asyncio.wait_for(run(2), 10)) == ["1a", "1b", "2a", "2b"]
    asyncio.run(aclose(container))  # closing again is safe
    gc.collect()
    assert set(threading.enumerate()) == threads
    assert open_fds() <= fds
    assert [str(w.message) for w in leaks if issubclass(w.category, ResourceWarning)] == []


@pytest.mark.postgres
def test_a_container_whose_pool_another_running_loop_holds_says_so(tmp_path: Path) -> None:
    container = build_container(place("postgres", tmp_path, "db").settings())
    used, done = threading.Event(), threading.Event()

    async def use_and_keep_running() -> None:
        await tenants(container)
        used.set()
        await asyncio.to_thread(done.wait, 10)
        await aclose(container)

    other = threading.Thread(target=asyncio.run, args=(use_and_keep_running(),))
    other.start()
    try:
        assert used.wait(10)
        with pytest.raises(RuntimeError, match="holds connections of another event loop"):
            asyncio.run(asyncio.wait_for(tenants(container), 10))
    finally:
        done.set()
        other.join(10)


@pytest.mark.parametrize("kind", kinds("memory", "sqlite", "postgres"))
def test_a_container_left_open_by_an_event_loop_that_ended_serves_the_next(
    kind: str, tmp_path: Path
) -> None:
    where = place(kind, tmp_path, "db")
    container = build_container(where.settings())

    async def run(n: int) -> list[str | None]:
        await asyncio.gather(note(container, f"{n}a", hold=0.05), note(container, f"{n}b"))
        return await notes(container)

    with warnings.catch_warnings():  # the ended loop's connections are left to the collector
        warnings.simplefilter("ignore", ResourceWarning)
        assert asyncio.run(asyncio.wait_for(run(1), 10)) == ["1a", "1b"]
        assert asyncio.run(asyncio.wait_for(run(2), 10)) == ["1a", "1b", "2a", "2b"]
        asyncio.run(aclose(container))
        gc.collect()


def test_closing_a_container_with_flagsmith_leaves_no_thread_of_it(tmp_path: Path) -> None:
    catalogue = load_flag_catalogue(PROJECT_CONFIG / "flags.yaml")
    with running_fake_flagsmith(catalogue_features(catalogue)) as fake:
        env = fake.adapter_env()
        container = build_container(
            Settings(
                database_url="memory://",
                local_key_path=tmp_path / "signing.pem",
                flagsmith_api_url=env["ADMIN_TEST_FLAGSMITH_API_URL"],
                flagsmith_server_key=env["ADMIN_TEST_FLAGSMITH_SERVER_KEY"],
                flagsmith_admin_api_url=env["ADMIN_TEST_FLAGSMITH_ADMIN_API_URL"],
                flagsmith_admin_key=env["ADMIN_TEST_FLAGSMITH_ADMIN_KEY"],
                flagsmith_environment_key=env["ADMIN_TEST_FLAGSMITH_ENVIRONMENT_KEY"],
            )
        )
        threads = set(threading.enumerate())

        async def read_then_close() -> list[str]:
            await container.flags.feature_flags().state("tnt_embedder")
            assert set(threading.enumerate()) - threads  # the SDK polls in a thread
            await aclose(container)
            left = set(threading.enumerate()) - threads
            # Not the container's: the loop's executor (asyncio.run ends it) and the fake's
            # handler of the connection the SDK just closed.
            return [
                t.name
                for t in left
                if not t.name.startswith("asyncio_") and "process_request" not in t.name
            ]

        assert asyncio.run(read_then_close()) == []
