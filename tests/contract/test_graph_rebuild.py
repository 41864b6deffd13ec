"""Rebuilding the projection from PostgreSQL into the real Neo4j: each scope, stale items,
other scopes, idempotence, a connection cut half-way, and two replicas at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import neo4j
import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.neo4j.graph import Neo4jGraphProjection, create_driver
from adapters.sql.directory import SqlDirectoryBulkLoader
from adapters.sql.engine import create_engine
from adapters.sql.projection import REBUILD_LOCK_KEY, PostgresRebuildLock, SqlProjectionSource
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.graph.errors import GraphRebuildFailed
from admin_core.graph.model import (
    GraphNode,
    GraphRelationship,
    GraphScope,
    NodeLabel,
    RebuildProgress,
    RelType,
)
from admin_core.graph.ports import GraphProjection, ProjectionSource
from admin_core.graph.use_cases import RebuildCommand, RebuildProjection
from admin_core.kernel.principal import Principal
from bench.synthetic_directory import LoadSyntheticDirectory
from entrypoints.container import aclose, build_container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.support.databases import database, postgres_urls
from tests.support.demo import seed_demo_into
from tests.support.graph import neo4j_projection
from tests.support.services import service_url

pytestmark = [pytest.mark.neo4j, pytest.mark.postgres]

ACTOR = Principal.operator("test", request_id="test")

Snapshot = dict[str, list[Any]]


@dataclass
class World:
    engine: AsyncEngine
    uow: SqlTransactions
    source: SqlProjectionSource
    graph: Neo4jGraphProjection

    def rebuild_with(self, graph: GraphProjection, **kwargs: Any) -> RebuildProjection:
        return RebuildProjection(
            source=self.source,
            graph=graph,
            lock=PostgresRebuildLock(self.engine),
            transactions=self.uow,
            ids=UlidGenerator(),
            **kwargs,
        )

    async def rebuild(self, scope: GraphScope = GraphScope.ALL, **kwargs: Any) -> Any:
        return await self.rebuild_with(self.graph, **kwargs).execute(
            ACTOR, RebuildCommand(scope=scope)
        )

    async def sql(self, statement: str, **params: Any) -> None:
        """A change of the catalogue behind the app's back, as the schema's owner: the app
        role itself never deletes from the catalogue, and may not."""
        owner = sa.make_url(postgres_urls()[1])
        url = self.engine.url.set(username=owner.username, password=owner.password)
        engine = create_engine(url.render_as_string(hide_password=False))
        try:
            async with engine.begin() as conn:
                await conn.execute(sa.text(statement), params)
        finally:
            await engine.dispose()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with database("postgres", tmp_path) as factory, neo4j_projection() as graph:
        assert isinstance(factory, SqlTransactions)
        await seed_demo_into(factory)
        yield World(factory.engine, factory, SqlProjectionSource(factory.engine), graph)


def _present(item: GraphNode | GraphRelationship) -> Any:
    return item._replace(properties={k: v for k, v in item.properties.items() if v is not None})


async def source_items(source: ProjectionSource) -> Snapshot:
    """What the graph must hold: every row of the source, as graph items."""
    items: Snapshot = {}
    async with source.read() as reader:
        for label in NodeLabel:
            items[label.value] = [
                _present(n) async for batch in reader.nodes(label, batch_size=100) for n in batch
            ]
        for rel in RelType:
            items[rel.value] = [
                _present(r)
                async for batch in reader.relationships(rel, batch_size=100)
                for r in batch
            ]
    return items


async def graph_items(graph: GraphProjection) -> Snapshot:
    items: Snapshot = {}
    for label in NodeLabel:
        items[label.value] = list(await graph.scan_nodes(label, limit=100_000))
    for rel in RelType:
        items[rel.value] = list(await graph.scan_relationships(rel, limit=100_000))
    return items


def _owned(scope: GraphScope) -> set[str]:
    return {label.value for label in scope.labels} | {rel.value for rel in scope.relationships}


async def test_a_full_rebuild_projects_every_row_with_its_properties(world: World) -> None:
    result = await world.rebuild()

    expected = await source_items(world.source)
    assert await graph_items(world.graph) == expected
    assert {k.plural: v for k, v in result.counts.items()} == {
        "procedures": 30,
        "providers": 42,
        "accreditations": 7,
        "doctors": 172,
    }
    assert {r.wire: n for r, n in result.relationships.items()} == {
        rel.wire: len(expected[rel.value]) for rel in RelType
    }
    assert result.written == sum(len(v) for v in expected.values())
    [apollo] = [n for n in expected["Provider"] if n.key == "prv_apollo_chennai"]
    assert apollo.tenant_id == "apollo-chennai"
    assert [p for p in expected["Procedure"] if p.tenant_id != "platform"] == []


async def test_rebuilding_twice_changes_nothing(world: World) -> None:
    await world.rebuild()
    first = await graph_items(world.graph)

    again = await world.rebuild()

    assert await graph_items(world.graph) == first
    assert sum(again.removed.nodes.values()) + sum(again.removed.relationships.values()) == 0


async def _change_providers(world: World) -> None:
    await world.sql("DELETE FROM providers WHERE id = 'prv_max_saket'")
    await world.sql("UPDATE providers SET name = 'Renamed', city = NULL WHERE id = 'prv_raffles'")
    await world.sql(
        "INSERT INTO providers (id, name, country, city, specialties, created_at, updated_at) "
        "VALUES ('prv_new', 'New Hospital', 'TH', 'Phuket', '[\"cardiology\"]', now(), now())"
    )
    await world.sql(
        "INSERT INTO provider_procedures VALUES ('prv_new', 'CABG', 9000, 12000), "
        "('prv_new', 'PCI', NULL, NULL)"
    )
    await world.sql("DELETE FROM provider_procedures WHERE provider_id = 'prv_bumrungrad'")
    await world.sql("INSERT INTO accreditations VALUES ('Global Healthcare Accreditation')")
    await world.sql(
        "INSERT INTO provider_accreditations VALUES ('prv_new', 'Global Healthcare Accreditation')"
    )


async def _change_doctors(world: World) -> None:
    await world.sql("DELETE FROM doctors WHERE id IN ('doc_0001', 'doc_0100')")
    await world.sql(
        "UPDATE doctors SET specialty = 'oncology', languages = NULL WHERE id = 'doc_0002'"
    )
    await world.sql(
        "INSERT INTO doctors (id, provider_id, full_name, specialty, created_at, updated_at) "
        "VALUES ('doc_new', 'prv_medanta', 'Dr. New', 'cardiology', now(), now())"
    )
    await world.sql("INSERT INTO doctor_procedures VALUES ('doc_new', 'CABG'), ('doc_new', 'PCI')")
    await world.sql("DELETE FROM doctor_procedures WHERE doctor_id = 'doc_0003'")


async def _change_procedures(world: World) -> None:
    await world.sql("DELETE FROM procedures WHERE code = 'VEN'")
    await world.sql("UPDATE procedures SET name = 'Knee replacement' WHERE code = 'TKR'")
    await world.sql(
        "INSERT INTO procedures (code, name, specialty, created_at, updated_at) "
        "VALUES ('TAVI', 'Transcatheter aortic valve implantation', 'cardiology', now(), now())"
    )


CHANGES: dict[GraphScope, Callable[[World], Awaitable[None]]] = {
    GraphScope.PROVIDERS: _change_providers,
    GraphScope.DOCTORS: _change_doctors,
    GraphScope.PROCEDURES: _change_procedures,
}


@pytest.mark.parametrize("scope", list(CHANGES), ids=lambda s: s.value)
async def test_a_scope_rebuild_brings_its_items_in_line_and_leaves_other_nodes_alone(
    world: World, scope: GraphScope
) -> None:
    await world.rebuild()
    before = await graph_items(world.graph)
    await CHANGES[scope](world)

    result = await world.rebuild(scope)

    after = await graph_items(world.graph)
    expected = await source_items(world.source)
    for item in _owned(scope):
        assert after[item] == expected[item], item
    for label in NodeLabel:
        if label not in scope.labels:
            assert after[label.value] == before[label.value], label
    assert set(result.counts) == set(scope.labels)
    assert sum(result.removed.nodes.values()) + sum(result.removed.relationships.values()) > 0
    assert result.counts == {label: len(expected[label.value]) for label in scope.labels}

    again = await world.rebuild(scope)
    assert await graph_items(world.graph) == after
    assert sum(again.removed.nodes.values()) + sum(again.removed.relationships.values()) == 0


async def test_a_full_rebuild_after_scope_changes_matches_the_source(world: World) -> None:
    await world.rebuild()
    for change in CHANGES.values():
        await change(world)

    await world.rebuild()

    assert await graph_items(world.graph) == await source_items(world.source)


async def test_a_rebuild_repairs_what_was_changed_in_the_graph_behind_its_back(
    world: World,
) -> None:
    await world.rebuild()
    async with neo4j.AsyncGraphDatabase.driver(service_url("NEO4J"), auth=None) as driver:
        for drift in (
            # a relationship from a node of the wrong label, one to a node of the wrong label,
            # one more between a doctor and a procedure, and a changed price
            "MATCH (p:Provider), (c:Procedure) WITH p, c LIMIT 1 CREATE (p)-[:PERFORMS]->(c)",
            "MATCH (d:Doctor), (p:Provider) WITH d, p LIMIT 1 CREATE (d)-[:PERFORMS]->(p)",
            "MATCH (d:Doctor), (c:Procedure) WHERE NOT (d)-[:PERFORMS]->(c) "
            "WITH d, c LIMIT 1 CREATE (d)-[:PERFORMS]->(c)",
            "MATCH ()-[r:OFFERS]->() WITH r LIMIT 1 SET r.price_min_usd = -1.0",
        ):
            await driver.execute_query(drift)
    assert await graph_items(world.graph) != await source_items(world.source)

    result = await world.rebuild()

    expected = await source_items(world.source)
    assert await graph_items(world.graph) == expected
    counts = await world.graph.counts()  # every relationship, whatever its end labels
    assert counts.relationships[RelType.PERFORMS] == len(expected[RelType.PERFORMS.value])
    assert result.removed.relationships[RelType.PERFORMS] == 3
    assert sum(result.removed.nodes.values()) == 0


class TcpProxy:
    """Forwards a local port to Neo4j until `cut()`: then every connection is dropped and
    new ones are refused, as when the database goes away."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.transport.abort()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            await self._server.wait_closed()


async def test_a_connection_cut_half_way_fails_the_rebuild_and_keeps_every_current_node(
    world: World,
) -> None:
    await world.rebuild()
    before = await graph_items(world.graph)
    await _change_doctors(world)
    await _change_providers(world)
    url = service_url("NEO4J")
    host, port = url.rsplit("//", 1)[1].split(":")
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    proxied = Neo4jGraphProjection(
        create_driver(f"bolt://127.0.0.1:{proxy.port}", max_transaction_retry_time=2.0)
    )

    def cut_during_doctors(progress: RebuildProgress) -> None:
        if progress.item is NodeLabel.DOCTOR and progress.done >= 40:
            proxy.cut()

    use_case = world.rebuild_with(proxied, batch_size=20, concurrency=1)
    try:
        with pytest.raises(GraphRebuildFailed) as failure:
            await use_case.execute(
                ACTOR, RebuildCommand(scope=GraphScope.ALL), progress=cut_during_doctors
            )
    finally:
        await proxied.aclose()
        await proxy.close()

    assert failure.value.unreachable
    after = await graph_items(world.graph)
    still_in_source = await source_items(world.source)
    for label in NodeLabel:
        current = {n.key for n in still_in_source[label.value]}
        previous = {n.key for n in before[label.value]}
        assert previous & current <= {n.key for n in after[label.value]}, label
    async with world.engine.connect() as conn:
        outcome = await conn.scalar(
            sa.text(
                "SELECT after->>'outcome' FROM audit_log WHERE action = 'graph.rebuild' "
                "ORDER BY occurred_at DESC, id DESC LIMIT 1"
            )
        )
    assert outcome == "failed"

    await world.rebuild()  # once Neo4j is back, a rebuild repairs everything
    assert await graph_items(world.graph) == still_in_source


async def _advisory_lock_held(engine: AsyncEngine) -> bool:
    key = REBUILD_LOCK_KEY & 0xFFFFFFFFFFFFFFFF
    async with engine.connect() as conn:
        held = await conn.scalar(
            sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid::bigint = :high AND objid::bigint = :low"
            ),
            {"high": (key >> 32) & 0xFFFFFFFF, "low": key & 0xFFFFFFFF},
        )
    return bool(held)


async def test_two_replicas_on_one_database_rebuild_one_at_a_time(
    world: World, tmp_path: Path
) -> None:
    """Replica A rebuilds (a synthetic directory big enough to take a while); replica B,
    another container on the same PostgreSQL, is asked over HTTP meanwhile and refuses."""
    await LoadSyntheticDirectory(SqlDirectoryBulkLoader(world.engine), SystemClock()).execute(
        20_000
    )
    settings = Settings(
        database_url=world.engine.url.render_as_string(hide_password=False),
        neo4j_url=service_url("NEO4J"),
        local_key_path=tmp_path / "signing.pem",
    )
    first, second = build_container(settings), build_container(settings)
    token = second.auth.token_issuer().mint(
        user_id="user_ops", org_id="org_platform", role="org:admin"
    )
    headers = {"Authorization": f"Bearer {token}"}
    try:
        running = asyncio.create_task(
            first.graph.rebuild_graph().execute(ACTOR, RebuildCommand(scope=GraphScope.ALL))
        )
        for _ in range(400):
            if await _advisory_lock_held(world.engine) or running.done():
                break
            await asyncio.sleep(0.025)
        assert not running.done(), "the first rebuild ended before the second one was asked"

        async with AsyncTestClient(create_app(second)) as b:
            refused = await b.post("/api/v1/admin/graph/rebuild", json={}, headers=headers)
            assert refused.status_code == 409, refused.text
            assert refused.json()["errors"][0]["code"] == "GRAPH_REBUILD_IN_PROGRESS"

            done = await running
            assert done.counts[NodeLabel.DOCTOR] > 17_000

            later = await b.post(
                "/api/v1/admin/graph/rebuild", json={"scope": "procedures"}, headers=headers
            )
            assert later.status_code == 200, later.text
            assert later.json()["data"]["counts"] == {
                "procedures": done.counts[NodeLabel.PROCEDURE]
            }
    finally:
        await aclose(first)
        await aclose(second)
