"""Contract suite of the projection source (and the directory writer behind it), on memory,
SQLite and PostgreSQL: the same directory gives the same graph items everywhere."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.memory.directory import InMemoryDirectoryBulkLoader, InMemoryProjectionSource
from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryTransactions
from adapters.sql.directory import SqlDirectoryBulkLoader
from adapters.sql.projection import SqlProjectionSource
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.directory.model import DirectoryBatch, ProviderDoctor
from admin_core.directory.ports import DirectoryBulkLoader
from admin_core.graph.model import NodeLabel, RelType
from admin_core.graph.ports import ProjectionSource
from admin_core.kernel.transaction import Transactions
from bench.synthetic_directory import LoadSyntheticDirectory, SyntheticPlan
from entrypoints.demo.directory import demo_directory
from tests.support.demo import seed_demo_into


def source_of(uow: Transactions) -> ProjectionSource:
    if isinstance(uow, InMemoryTransactions):
        return InMemoryProjectionSource(uow.store)
    assert isinstance(uow, SqlTransactions)
    return SqlProjectionSource(uow.engine)


def loader_of(uow: Transactions) -> DirectoryBulkLoader:
    if isinstance(uow, InMemoryTransactions):
        return InMemoryDirectoryBulkLoader(uow.store)
    assert isinstance(uow, SqlTransactions)
    return SqlDirectoryBulkLoader(uow.engine)


async def everything(source: ProjectionSource, batch_size: int) -> dict[str, list[Any]]:
    items: dict[str, list[Any]] = {}
    async with source.read() as reader:
        for label in NodeLabel:
            items[label.value] = [
                n async for b in reader.nodes(label, batch_size=batch_size) for n in b
            ]
            assert await reader.count_nodes(label) == len(items[label.value])
        for rel in RelType:
            items[rel.value] = [
                r async for b in reader.relationships(rel, batch_size=batch_size) for r in b
            ]
            assert await reader.count_relationships(rel) == len(items[rel.value])
    return items


@pytest.fixture
async def seeded(uow: Transactions) -> Transactions:
    await seed_demo_into(uow)
    return uow


async def test_the_demo_directory_streams_every_row_once_in_key_order(
    seeded: Transactions,
) -> None:
    items = await everything(source_of(seeded), batch_size=7)

    demo = demo_directory()
    assert [n.key for n in items["Doctor"]] == sorted(d.id for d in demo.doctors)
    assert [n.key for n in items["Provider"]] == sorted(p.id for p in demo.providers)
    assert len(items["Procedure"]) == 30
    assert [(r.start, r.end) for r in items["PERFORMS"]] == sorted(
        (d.doctor_id, d.procedure_code) for d in demo.doctor_procedures
    )
    assert len(items["OFFERS"]) == len(demo.offers)
    assert len(items["ACCREDITED_BY"]) == sum(len(p.accreditations) for p in demo.providers)


async def test_items_carry_the_source_columns_and_the_tenant(seeded: Transactions) -> None:
    items = await everything(source_of(seeded), batch_size=1000)

    providers = {n.key: n for n in items["Provider"]}
    apollo = providers["prv_apollo_chennai"]
    assert apollo.tenant_id == "apollo-chennai"
    assert apollo.properties["name"] == "Apollo Hospitals Chennai"
    assert apollo.properties["languages"] == ["en", "ta", "hi"]
    assert providers["prv_charite"].tenant_id == "platform"
    doctors = {n.key: n for n in items["Doctor"]}
    assert doctors["doc_0001"].tenant_id == "apollo-chennai"
    assert doctors["doc_0001"].properties["provider_id"] == "prv_apollo_chennai"
    [offer] = [r for r in items["OFFERS"] if (r.start, r.end) == ("prv_apollo_chennai", "CABG")]
    low, high = offer.properties["price_min_usd"], offer.properties["price_max_usd"]
    assert isinstance(low, float)
    assert isinstance(high, float)
    assert low <= high
    works_at = {r.start: r for r in items["WORKS_AT"]}
    assert works_at["doc_0001"].end == "prv_apollo_chennai"
    assert works_at["doc_0001"].end_tenant_id == "apollo-chennai"


async def test_every_backend_yields_the_same_items(seeded: Transactions) -> None:
    """The in-memory source is the reference the SQL sources must agree with."""
    items = await everything(source_of(seeded), batch_size=50)
    memory = InMemoryTransactions(InMemoryStore(), SystemClock(), UlidGenerator())
    await seed_demo_into(memory)
    reference = await everything(source_of(memory), batch_size=50)
    assert items == reference


async def test_seeding_twice_changes_no_row(seeded: Transactions) -> None:
    before = await everything(source_of(seeded), batch_size=100)
    await seed_demo_into(seeded)
    assert await everything(source_of(seeded), batch_size=100) == before


async def test_a_synthetic_directory_has_the_planned_size(uow: Transactions) -> None:
    plan = await LoadSyntheticDirectory(loader_of(uow), SystemClock()).execute(3000, batch_size=700)

    assert plan == SyntheticPlan.of(3000)
    items = await everything(source_of(uow), batch_size=500)
    assert sum(len(items[label.value]) for label in NodeLabel) == plan.entities == 3000
    assert sum(len(items[rel.value]) for rel in RelType) == plan.relationships
    assert plan.relationships >= 3 * plan.entities


@pytest.mark.parametrize("batch_size", [7, 1000])
async def test_nodes_come_with_their_outgoing_relationships(
    seeded: Transactions, batch_size: int
) -> None:
    """What a rebuild reads: each node with its relationships, the same items as the
    separate streams give, whatever the batch size."""
    async with seeded() as tx:  # a doctor who performs nothing, between two who do
        doctor = ProviderDoctor(
            id="doc_0001a", provider_id="prv_sheba", full_name="Dr. A", specialty=None
        )
        await tx.directory.write(DirectoryBatch(doctors=(doctor,)), now=SystemClock().now())
        await tx.commit()
    source = source_of(seeded)
    items = await everything(source, batch_size=1000)
    async with source.read() as reader:
        for label in NodeLabel:
            batches = [b async for b in reader.nodes_with_links(label, batch_size=batch_size)]
            assert all(0 < len(b) <= batch_size for b in batches)
            owned = [item for b in batches for item in b]
            assert [item.node for item in owned] == items[label.value]
            for i, rel in enumerate(label.outgoing):
                assert all(r.start == item.node.key for item in owned for r in item.links[i])
                links = [r for item in owned for r in item.links[i]]
                assert links == items[rel.value], rel
    assert "doc_0001a" in {n.key for n in items["Doctor"]}
    assert "doc_0001a" not in {r.start for r in items["PERFORMS"]}
