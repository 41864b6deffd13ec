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
    def __init__(self, http: ApiClient, proxy: FaultyProxy) -> None:
        self.http = http
        self.proxy = proxy
        self.headers = http.auth("org:super_admin")

    async def rebuild(self) -> Any:
        return await self.http.client.post(REBUILD, json={"scope": "all"}, headers=self.headers)

    async def status(self) -> Any:
        return await self.http.client.get(STATUS, headers=self.headers)


@pytest.fixture
async def graph(tmp_path: Path) -> AsyncIterator[Graph]:
    app_url, owner_url = postgres_urls()
    await truncate_postgres(owner_url)
    key = tmp_path / "signing.pem"
    neo4j = urlsplit(service_url("NEO4J"))
    assert neo4j.hostname is not None
    assert neo4j.port is not None
    async with neo4j_projection():  # the shared Neo4j, wiped and held for this test
        with FaultyProxy(neo4j.hostname, neo4j.port) as proxy:
            settings = Settings(
                database_url=app_url,
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
                yield Graph(ApiClient(client=client, container=container), proxy)


def _codes(answer: Any) -> list[str]:
    return [e["code"] for e in answer.json().get("errors") or []]


async def test_a_rebuild_whose_graph_stalls_half_way_fails_in_time_and_the_next_succeeds(
    graph: Graph,
) -> None:
    """Neo4j stops answering when the doctors' batch is sent (providers and procedures
    written): the rebuild gives up after the statement timeout (1 s here), not never."""
    graph.proxy.stall_on(b"WORKS_AT")
    # The test client holds this loop while the app serves: should the rebuild hang, Neo4j
    # answers again after 15 s, and the time taken fails the test instead of hanging it.
    unstall = threading.Timer(15, graph.proxy.resume)
    unstall.start()
    started = time.monotonic()
    failed = await graph.rebuild()
    took = time.monotonic() - started
    unstall.cancel()
    graph.proxy.resume()

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
