"""Neo4j failing under a serving app: a rebuild in flight answers 503 GRAPH_REBUILD_FAILED
within the statement timeout and lets the rebuild lock go, and the next rebuild, on the same
process, succeeds once Neo4j answers again.

The faults touch only connections this test opened: the app reaches Neo4j through a TCP
proxy of the test's own, which stalls or refuses them."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from litestar.testing import AsyncTestClient

from entrypoints.container import aclose, build_container
from entrypoints.demo.seed import seed_demo
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.support.databases import postgres_urls, truncate_postgres
from tests.support.graph import neo4j_projection
from tests.support.http import ApiClient
from tests.support.proxy import FaultyProxy
from tests.support.services import service_url

pytestmark = [pytest.mark.neo4j, pytest.mark.postgres]

REBUILD = "/api/v1/admin/graph/rebuild"
STATUS = "/api/v1/admin/graph/status"


class Graph:
    def __init__(self, http: ApiClient, proxy: FaultyProxy, database: FaultyProxy) -> None:
        self.http = http
        self.proxy = proxy  # to Neo4j
        self.database = database  # to PostgreSQL
        self.headers = http.auth("org:super_admin")

    async def rebuild(self) -> Any:
        return await self.http.client.post(REBUILD, json={"scope": "all"}, headers=self.headers)

    async def status(self) -> Any:
        return await self.http.client.get(STATUS, headers=self.headers)

    async def in_time(self, proxy: FaultyProxy, marker: bytes) -> tuple[Any, float]:
        """A rebuild whose `proxy` stalls once `marker` is sent; its answer and the time it
        took. The test client holds this loop while the app serves: should the rebuild hang,
        the service answers again after 15 s, and the time taken fails the test instead."""
        proxy.stall_on(marker)
        unstall = threading.Timer(15, proxy.resume)
        unstall.start()
        started = time.monotonic()
        answer = await self.rebuild()
        took = time.monotonic() - started
        unstall.cancel()
        proxy.resume()
        return answer, took


@pytest.fixture
async def graph(tmp_path: Path) -> AsyncIterator[Graph]:
    app_url, owner_url = postgres_urls()
    await truncate_postgres(owner_url)
    key = tmp_path / "signing.pem"
    neo4j = urlsplit(service_url("NEO4J"))
    postgres = urlsplit(app_url)
    assert neo4j.hostname is not None
    assert neo4j.port is not None
    assert postgres.hostname is not None
    assert postgres.port is not None
    async with neo4j_projection():  # the shared Neo4j, wiped and held for this test
        with (
            FaultyProxy(neo4j.hostname, neo4j.port) as proxy,
            FaultyProxy(postgres.hostname, postgres.port) as database,
        ):
            settings = Settings(
                database_url=database.url(app_url),
                database_statement_timeout_seconds=1.0,
                neo4j_url=f"bolt://127.0.0.1:{proxy.port}",
                neo4j_statement_timeout_seconds=1.0,
                local_key_path=key,
            )
            # Seeded by a container of its own: the app's Neo4j driver must open its
            # connections on the loop the test client serves the app on.
            seeding = build_container(replace(settings, neo4j_url=None, local_key_path=key))
            await seed_demo(seeding)
            await aclose(seeding)
            container = build_container(settings)
            async with AsyncTestClient(create_app(container)) as client:
                yield Graph(ApiClient(client=client, container=container), proxy, database)


def _codes(answer: Any) -> list[str]:
    return [e["code"] for e in answer.json().get("errors") or []]


async def test_a_rebuild_whose_graph_stalls_half_way_fails_in_time_and_the_next_succeeds(
    graph: Graph,
) -> None:
    """Neo4j stops answering when the doctors' batch is sent (providers and procedures
    written): the rebuild gives up after the statement timeout (1 s here), not never."""
    failed, took = await graph.in_time(graph.proxy, b"WORKS_AT")

    assert (failed.status_code, _codes(failed)) == (503, ["GRAPH_REBUILD_FAILED"]), failed.text
    assert took < 10
    rebuilt = await graph.rebuild()  # the lock was let go; the same process rebuilds
    assert rebuilt.status_code == 200, rebuilt.text
    drift = (await graph.status()).json()["data"]
    assert {label: d["drift"] for label, d in drift["labels"].items()} == dict.fromkeys(
        drift["labels"], 0
    )


async def test_a_rebuild_on_a_graph_that_went_away_fails_and_the_next_succeeds(
    graph: Graph,
) -> None:
    assert (await graph.rebuild()).status_code == 200
    graph.proxy.refuse()
    failed = await graph.rebuild()
    status = await graph.status()
    graph.proxy.resume()

    assert (failed.status_code, _codes(failed)) == (503, ["GRAPH_REBUILD_FAILED"]), failed.text
    assert status.status_code in (200, 503), status.text
    assert (await graph.rebuild()).status_code == 200
    assert (await graph.status()).status_code == 200


async def test_a_database_stalled_when_the_rebuild_takes_its_lock_is_a_503_in_time(
    graph: Graph,
) -> None:
    """PostgreSQL, where the single-flight lock lives, stops answering as the lock is asked
    for: DATABASE_UNAVAILABLE after the statement timeout, and the next rebuild runs."""
    failed, took = await graph.in_time(graph.database, b"pg_try_advisory_lock")

    assert (failed.status_code, _codes(failed)) == (503, ["DATABASE_UNAVAILABLE"]), failed.text
    assert took < 10
    assert (await graph.rebuild()).status_code == 200


async def test_a_database_stalled_when_the_rebuild_lets_its_lock_go_keeps_the_rebuild(
    graph: Graph,
) -> None:
    """The rebuild is done (and audited) when PostgreSQL stops answering the lock's release:
    the rebuild's answer comes after the statement timeout, the lock goes with its session,
    and the next rebuild, on any replica, is not refused as one in progress."""
    done, took = await graph.in_time(graph.database, b"pg_advisory_unlock")

    assert done.status_code == 200, done.text
    assert took < 10
    assert (await graph.rebuild()).status_code == 200


async def test_coverage_measured_on_a_stalled_graph_is_reported_in_time(graph: Graph) -> None:
    """The matching registry's Neo4j coverage is measured on request: with Neo4j silent,
    the registry still answers (its report says what it could not measure), in time."""
    path = "/api/v1/admin/matching/parameters?refresh=true"
    assert (await graph.rebuild()).status_code == 200
    graph.proxy.stall()
    unstall = threading.Timer(15, graph.proxy.resume)
    unstall.start()
    started = time.monotonic()
    answer = await graph.http.client.get(path, headers=graph.headers)
    took = time.monotonic() - started
    unstall.cancel()
    graph.proxy.resume()

    assert answer.status_code == 200, answer.text
    assert took < 10
    assert (await graph.http.client.get(path, headers=graph.headers)).status_code == 200
