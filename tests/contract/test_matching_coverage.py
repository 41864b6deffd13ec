"""Contract suite of the coverage meters (SPEC §6.3): on a synthetic directory whose coverage
is known by construction, every path's measured share equals the truth — `postgres` paths on
memory, SQLite and PostgreSQL, `neo4j` paths on the in-process graph and the real Neo4j — and
the demo data measures the same on every database. Each entity is read in one query."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import event

from adapters.memory.directory import InMemoryProjectionSource
from adapters.memory.graph import InMemoryGraphProjection, InProcessRebuildLock
from adapters.memory.matching import InMemoryGraphCoverage, InMemoryStoreCoverage
from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryTransactions
from adapters.neo4j.graph import create_driver
from adapters.neo4j.matching import Neo4jCoverageMeter
from adapters.sql.matching import SqlCoverageMeter, coverage_query
from adapters.sql.projection import SqlProjectionSource
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.graph.model import GraphScope
from admin_core.graph.ports import GraphProjection, ProjectionSource
from admin_core.graph.use_cases import RebuildCommand, RebuildProjection
from admin_core.kernel.principal import Principal
from admin_core.kernel.transaction import Transactions
from admin_core.matching.paths import NEO4J_PATHS, POSTGRES_PATHS
from admin_core.matching.ports import CoverageMeter
from tests.support.demo import seed_demo_into
from tests.support.graph import GRAPH_BACKENDS, neo4j_projection
from tests.support.matching import synthetic_batch, synthetic_truth
from tests.support.services import service_url

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ACTOR = Principal.operator("test", request_id="test")


async def write_synthetic(uow: Transactions) -> None:
    async with uow() as tx:
        await tx.directory.write(synthetic_batch(), now=NOW)  # type: ignore[attr-defined]
        await tx.commit()


def meter_of(uow: Transactions) -> CoverageMeter:
    if isinstance(uow, InMemoryTransactions):
        return InMemoryStoreCoverage(uow.store)
    assert isinstance(uow, SqlTransactions)
    return SqlCoverageMeter(uow.engine)


def source_of(uow: Transactions) -> ProjectionSource:
    if isinstance(uow, InMemoryTransactions):
        return InMemoryProjectionSource(uow.store)
    assert isinstance(uow, SqlTransactions)
    return SqlProjectionSource(uow.engine)


async def test_postgres_paths_measure_the_truth(uow: Transactions) -> None:
    await write_synthetic(uow)
    truth = synthetic_truth()

    measured = await meter_of(uow).measure(list(POSTGRES_PATHS))

    assert set(measured) == set(POSTGRES_PATHS)
    for path, coverage in measured.items():
        assert (coverage.entities, coverage.covered) == (
            truth[path].entities,
            truth[path].covered,
        ), path
        expected = truth[path].share
        assert coverage.share == (None if expected is None else pytest.approx(expected)), path


async def test_an_empty_directory_has_no_coverage_rather_than_zero(uow: Transactions) -> None:
    measured = await meter_of(uow).measure(["providers.country", "doctors.languages"])
    assert all(c.entities == 0 and c.share is None for c in measured.values())


async def test_sql_reads_each_entity_in_one_query(backend: str, uow: Transactions) -> None:
    if backend == "memory":
        pytest.skip("no queries in memory")
    assert isinstance(uow, SqlTransactions)
    await write_synthetic(uow)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(uow.engine.sync_engine, "before_cursor_execute", count)
    try:
        await SqlCoverageMeter(uow.engine).measure(list(POSTGRES_PATHS))
    finally:
        event.remove(uow.engine.sync_engine, "before_cursor_execute", count)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    entities = set(POSTGRES_PATHS.values())
    assert len(selects) == len(entities), selects


async def test_the_demo_data_measures_the_same_everywhere(uow: Transactions) -> None:
    await seed_demo_into(uow)
    reference = InMemoryStore()
    await seed_demo_into(InMemoryTransactions(reference, SystemClock(), UlidGenerator()))

    measured = await meter_of(uow).measure(list(POSTGRES_PATHS))
    expected = await InMemoryStoreCoverage(reference).measure(list(POSTGRES_PATHS))

    assert measured == expected
    # The active parameters' data is there in the demo set.
    for path in ("providers.country", "providers.specialties", "providers.accreditations"):
        assert measured[path].entities > 0
        assert measured[path].covered > 0


# -- the graph


@pytest.fixture(
    params=[
        pytest.param(b, marks=[pytest.mark.neo4j] if b == "neo4j" else []) for b in GRAPH_BACKENDS
    ]
)
async def graph_meter(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[GraphProjection, CoverageMeter]]:
    if request.param == "memory":
        projection = InMemoryGraphProjection()
        yield projection, InMemoryGraphCoverage(projection.graph)
        return
    async with neo4j_projection() as projection:
        await projection.ensure_constraints()
        meter = Neo4jCoverageMeter(create_driver(service_url("NEO4J")))
        try:
            yield projection, meter
        finally:
            await meter.aclose()


async def project(uow: Transactions, graph: GraphProjection) -> None:
    await RebuildProjection(
        source=source_of(uow),
        graph=graph,
        lock=InProcessRebuildLock(),
        transactions=uow,  # type: ignore[arg-type]
        ids=UlidGenerator(),
    ).execute(ACTOR, RebuildCommand(scope=GraphScope.ALL))


async def test_neo4j_paths_measure_the_truth(
    graph_meter: tuple[GraphProjection, CoverageMeter],
) -> None:
    graph, meter = graph_meter
    uow = InMemoryTransactions(InMemoryStore(), SystemClock(), UlidGenerator())
    await write_synthetic(uow)
    await project(uow, graph)
    truth = synthetic_truth()

    measured = await meter.measure(list(NEO4J_PATHS))

    assert set(measured) == set(NEO4J_PATHS)
    for path, coverage in measured.items():
        assert (coverage.entities, coverage.covered) == (
            truth[path].entities,
            truth[path].covered,
        ), path


async def test_the_graph_measures_what_the_database_measures_on_the_demo_data(
    graph_meter: tuple[GraphProjection, CoverageMeter],
) -> None:
    graph, meter = graph_meter
    uow = InMemoryTransactions(InMemoryStore(), SystemClock(), UlidGenerator())
    await seed_demo_into(uow)
    await project(uow, graph)

    in_graph = await meter.measure(["(:Provider).country", "(:Provider)<-[:WORKS_AT]-(:Doctor)"])
    in_store = await InMemoryStoreCoverage(uow.store).measure(
        ["providers.country", "providers.doctors"]
    )

    assert in_graph["(:Provider).country"] == in_store["providers.country"]
    assert in_graph["(:Provider)<-[:WORKS_AT]-(:Doctor)"] == in_store["providers.doctors"]


def test_sql_paths_are_never_text_from_a_file() -> None:
    """The whitelist is the only way in: an unknown path fails before any query."""
    with pytest.raises(KeyError):
        coverage_query("providers", ["providers.name; DROP TABLE providers"], "postgresql")
