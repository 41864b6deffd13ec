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
from admin_core.directory.model import (
    DirectoryBatch,
    DoctorProcedure,
    Procedure,
    ProcedureOffer,
    ProviderDoctor,
    ProviderListing,
)
from admin_core.directory.ports import DirectoryBulkLoader
from admin_core.graph.model import NodeLabel, RelType
from admin_core.graph.ports import ProjectionSource
from admin_core.kernel.errors import ValidationFailed
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


async def test_a_batch_naming_rows_the_directory_lacks_is_refused_whole(uow: Transactions) -> None:
    """The writer is the directory owner's only way in: a row naming a provider, doctor or
    procedure that is neither in its batch nor written before is bad input, named field by
    field, on every backend alike; none of the batch is kept."""
    batch = DirectoryBatch(
        procedures=(Procedure(code="CABG", name="Bypass", specialty="cardiology"),),
        providers=(ProviderListing(id="prv_a", name="A", country="IN", city=None),),
        doctors=(
            ProviderDoctor(id="doc_a", provider_id="prv_a", full_name="Dr. A", specialty=None),
            ProviderDoctor(id="doc_b", provider_id="prv_gone", full_name="Dr. B", specialty=None),
        ),
        offers=(
            ProcedureOffer(
                provider_id="prv_a", procedure_code="TKR", price_min_usd=None, price_max_usd=None
            ),
        ),
        doctor_procedures=(
            DoctorProcedure(doctor_id="doc_a", procedure_code="CABG"),
            DoctorProcedure(doctor_id="doc_z", procedure_code="CABG"),
        ),
    )
    async with uow() as tx:
        with pytest.raises(ValidationFailed) as refused:
            await tx.directory.write(batch, now=SystemClock().now())
        await tx.commit()  # what the batch wrote before it was refused would be kept now

    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("doctors.1.provider_id", "names provider prv_gone, which the directory does not hold"),
        ("offers.0.procedure_code", "names procedure TKR, which the directory does not hold"),
        ("doctor_procedures.1.doctor_id", "names doctor doc_z, which the directory does not hold"),
    ]
    items = await everything(source_of(uow), batch_size=100)
    assert all(items[label.value] == [] for label in NodeLabel)


async def test_a_batch_may_name_rows_an_earlier_batch_wrote(uow: Transactions) -> None:
    clock = SystemClock()
    async with uow() as tx:
        await tx.directory.write(
            DirectoryBatch(
                procedures=(Procedure(code="CABG", name="Bypass", specialty=None),),
                providers=(ProviderListing(id="prv_a", name="A", country="IN", city=None),),
                doctors=(
                    ProviderDoctor(id="doc_a", provider_id="prv_a", full_name="A", specialty=None),
                ),
            ),
            now=clock.now(),
        )
        await tx.commit()
    async with uow() as tx:
        await tx.directory.write(
            DirectoryBatch(
                doctors=(
                    ProviderDoctor(id="doc_b", provider_id="prv_a", full_name="B", specialty=None),
                ),
                offers=(
                    ProcedureOffer(
                        provider_id="prv_a",
                        procedure_code="CABG",
                        price_min_usd=None,
                        price_max_usd=None,
                    ),
                ),
                doctor_procedures=(DoctorProcedure(doctor_id="doc_a", procedure_code="CABG"),),
            ),
            now=clock.now(),
        )
        await tx.commit()

    items = await everything(source_of(uow), batch_size=100)
    assert [n.key for n in items["Doctor"]] == ["doc_a", "doc_b"]
    assert [(r.start, r.end) for r in items["OFFERS"]] == [("prv_a", "CABG")]
    assert [(r.start, r.end) for r in items["PERFORMS"]] == [("doc_a", "CABG")]
