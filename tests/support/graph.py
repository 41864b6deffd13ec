"""Graph projections for tests: in memory, and the real Neo4j (`make services`) on a clean
graph for each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import neo4j

from adapters.memory.graph import InMemoryGraphProjection
from adapters.neo4j.graph import Neo4jGraphProjection, create_driver
from admin_core.ports.graph import GraphProjection
from tests.support.services import service_url

GRAPH_BACKENDS = ("memory", "neo4j")


async def wipe_neo4j(url: str) -> None:
    """Delete every node and relationship (uniqueness constraints stay)."""
    async with neo4j.AsyncGraphDatabase.driver(url, auth=None) as driver, driver.session() as s:
        query = "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
        await (await s.run(query)).consume()


@asynccontextmanager
async def neo4j_projection(url: str | None = None) -> AsyncIterator[Neo4jGraphProjection]:
    url = url or service_url("NEO4J")
    await wipe_neo4j(url)
    graph = Neo4jGraphProjection(create_driver(url, max_transaction_retry_time=5.0))
    try:
        yield graph
    finally:
        await graph.aclose()


@asynccontextmanager
async def graph_projection(backend: str) -> AsyncIterator[GraphProjection]:
    if backend == "memory":
        yield InMemoryGraphProjection()
        return
    async with neo4j_projection() as graph:
        yield graph
