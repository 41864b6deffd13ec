"""Graph projections for tests: in memory, and the real Neo4j (`make services`) on a clean
graph for each test.

Neo4j Community has one database, shared by every test session on the machine: a test that
uses it holds an exclusive lock on `var/neo4j.lock` (so does `python -m bench graph`), so two
sessions never wipe each other's graph half-way."""

from __future__ import annotations

import fcntl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import neo4j

from adapters.memory.graph import InMemoryGraphProjection
from adapters.neo4j.graph import Neo4jGraphProjection, create_driver
from admin_core.graph.ports import GraphProjection
from tests.support.services import ROOT, service_url

NEO4J_LOCK = ROOT / "var" / "neo4j.lock"


@contextmanager
def exclusive_neo4j() -> Iterator[None]:
    """Wait for, then hold, the machine-wide lock on the shared test Neo4j."""
    NEO4J_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with NEO4J_LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


GRAPH_BACKENDS = ("memory", "neo4j")


async def wipe_neo4j(url: str) -> None:
    """Delete every node and relationship (uniqueness constraints stay). Relationships go
    first, so every transaction stays small even after a benchmark left a large graph (one
    `DETACH DELETE` batch of nodes with millions of relationships would not)."""
    async with neo4j.AsyncGraphDatabase.driver(url, auth=None) as driver, driver.session() as s:
        for query in (
            "MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS",
            "MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 10000 ROWS",
        ):
            await (await s.run(query)).consume()


@asynccontextmanager
async def neo4j_projection(url: str | None = None) -> AsyncIterator[Neo4jGraphProjection]:
    url = url or service_url("NEO4J")
    with exclusive_neo4j():
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
