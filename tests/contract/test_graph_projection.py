"""Contract suite of the graph projection port, on memory and on the real Neo4j."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from admin_core.graph.model import (
    GraphNode,
    GraphRelationship,
    NodeLabel,
    NodeWithLinks,
    RelType,
    accreditation_node,
    accredited_by,
    doctor_node,
    offers,
    performs,
    procedure_node,
    provider_node,
    works_at,
)
from admin_core.graph.ports import GraphProjection
from tests.support.graph import GRAPH_BACKENDS, graph_projection


@pytest.fixture(
    params=[
        pytest.param(b, marks=[pytest.mark.neo4j] if b == "neo4j" else []) for b in GRAPH_BACKENDS
    ]
)
async def graph(request: pytest.FixtureRequest) -> AsyncIterator[GraphProjection]:
    async with graph_projection(str(request.param)) as projection:
        await projection.ensure_constraints()
        yield projection


def _provider(key: str, *, name: str = "Hospital", tenant: str | None = None) -> GraphNode:
    return provider_node(
        id=key,
        tenant_id=tenant,
        name=name,
        country="IN",
        city=None,
        specialties=["cardiology", "oncology"],
        languages=None,
    )


def _doctor(key: str, provider: str) -> GraphNode:
    return doctor_node(
        id=key,
        tenant_id=None,
        provider_id=provider,
        full_name=f"Dr. {key}",
        specialty="cardiology",
        languages=["en"],
    )


def _procedure(code: str) -> GraphNode:
    return procedure_node(code=code, name=f"Procedure {code}", specialty="cardiology")


async def _keys(graph: GraphProjection, label: NodeLabel) -> list[str]:
    return [n.key for n in await graph.scan_nodes(label, limit=10_000)]


async def test_constraints_can_be_ensured_again(graph: GraphProjection) -> None:
    await graph.ensure_constraints()
    assert (await graph.counts()).nodes[NodeLabel.PROVIDER] == 0


async def test_nodes_hold_their_key_tenant_and_non_null_properties(graph: GraphProjection) -> None:
    await graph.upsert_nodes(NodeLabel.PROVIDER, [_provider("p1", tenant="apollo")], run="r1")

    [node] = await graph.scan_nodes(NodeLabel.PROVIDER)
    assert node == GraphNode(
        "p1",
        "apollo",
        {"name": "Hospital", "country": "IN", "specialties": ["cardiology", "oncology"]},
    )


async def test_upserting_again_updates_in_place_and_removes_nulled_properties(
    graph: GraphProjection,
) -> None:
    await graph.upsert_nodes(NodeLabel.PROVIDER, [_provider("p1")], run="r1")
    changed = provider_node(
        id="p1",
        tenant_id="t1",
        name="Renamed",
        country=None,
        city="Chennai",
        specialties=None,
        languages=["en"],
    )
    await graph.upsert_nodes(NodeLabel.PROVIDER, [changed], run="r2")

    assert await graph.scan_nodes(NodeLabel.PROVIDER) == [
        GraphNode("p1", "t1", {"name": "Renamed", "city": "Chennai", "languages": ["en"]})
    ]
    assert (await graph.counts()).nodes[NodeLabel.PROVIDER] == 1


async def test_absent_nodes_are_created_in_bulk(graph: GraphProjection) -> None:
    nodes = [_procedure(f"C{i:04d}") for i in range(1200)]
    await graph.upsert_nodes(NodeLabel.PROCEDURE, nodes, run="r1", absent=True)

    assert (await graph.counts()).nodes[NodeLabel.PROCEDURE] == 1200
    assert await _keys(graph, NodeLabel.PROCEDURE) == [n.key for n in nodes]


async def test_relationships_link_existing_nodes_and_carry_their_properties(
    graph: GraphProjection,
) -> None:
    await graph.upsert_nodes(NodeLabel.PROVIDER, [_provider("p1")], run="r1")
    await graph.upsert_nodes(NodeLabel.PROCEDURE, [_procedure("CABG")], run="r1")
    offer = offers(provider_id="p1", procedure_code="CABG", price_min_usd=5000, price_max_usd=None)
    missing_end = offers(provider_id="p1", procedure_code="NOPE", price_min_usd=1, price_max_usd=2)
    missing_start = offers(
        provider_id="p9", procedure_code="CABG", price_min_usd=1, price_max_usd=2
    )

    await graph.upsert_relationships(RelType.OFFERS, [offer, missing_end, missing_start], run="r1")

    assert await graph.scan_relationships(RelType.OFFERS) == [
        GraphRelationship("p1", "CABG", "platform", {"price_min_usd": 5000.0})
    ]
    counts = await graph.counts()
    assert counts.relationships[RelType.OFFERS] == 1
    assert counts.nodes[NodeLabel.PROCEDURE] == 1  # no node made up for a missing end


async def test_upserting_a_relationship_twice_keeps_one(graph: GraphProjection) -> None:
    await graph.upsert_nodes(NodeLabel.PROVIDER, [_provider("p1")], run="r1")
    await graph.upsert_nodes(NodeLabel.DOCTOR, [_doctor("d1", "p1")], run="r1")
    link = works_at(doctor_id="d1", provider_id="p1", tenant_id=None)
    await graph.upsert_relationships(RelType.WORKS_AT, [link], run="r1", absent=True)
    await graph.upsert_relationships(RelType.WORKS_AT, [link], run="r2")

    assert (await graph.counts()).relationships[RelType.WORKS_AT] == 1


async def test_remove_missing_deletes_only_stale_items_of_the_given_labels_and_types(
    graph: GraphProjection,
) -> None:
    await graph.upsert_nodes(NodeLabel.PROVIDER, [_provider("p1"), _provider("p2")], run="old")
    await graph.upsert_nodes(
        NodeLabel.DOCTOR, [_doctor("d1", "p1"), _doctor("d2", "p2"), _doctor("d3", "p1")], run="old"
    )
    await graph.upsert_nodes(NodeLabel.PROCEDURE, [_procedure("A"), _procedure("B")], run="old")
    await graph.upsert_relationships(
        RelType.PERFORMS,
        [performs(doctor_id=d, procedure_code=c) for d in ("d1", "d2", "d3") for c in ("A", "B")],
        run="old",
    )
    await graph.upsert_relationships(
        RelType.WORKS_AT,
        [
            works_at(doctor_id=d, provider_id=p, tenant_id=None)
            for d, p in [("d1", "p1"), ("d2", "p2")]
        ],
        run="old",
    )
    # The new run still has d1 and d3; d2 is gone. A relationship belongs to its start node.
    await graph.upsert_nodes(
        NodeLabel.DOCTOR, [_doctor("d1", "p1"), _doctor("d3", "p1")], run="new"
    )

    removed = await graph.remove_missing(
        labels=[NodeLabel.DOCTOR], relationships=[RelType.WORKS_AT, RelType.PERFORMS], run="new"
    )

    assert removed.nodes == {NodeLabel.DOCTOR: 1}
    assert removed.relationships == {RelType.WORKS_AT: 1, RelType.PERFORMS: 2}
    assert await _keys(graph, NodeLabel.DOCTOR) == ["d1", "d3"]
    assert await _keys(graph, NodeLabel.PROVIDER) == ["p1", "p2"]  # other labels untouched
    assert await _keys(graph, NodeLabel.PROCEDURE) == ["A", "B"]
    assert [(r.start, r.end) for r in await graph.scan_relationships(RelType.PERFORMS)] == [
        ("d1", "A"),
        ("d1", "B"),
        ("d3", "A"),
        ("d3", "B"),
    ]
    assert [(r.start, r.end) for r in await graph.scan_relationships(RelType.WORKS_AT)] == [
        ("d1", "p1")
    ]


async def test_removing_a_node_removes_the_relationships_it_still_has(
    graph: GraphProjection,
) -> None:
    await graph.upsert_nodes(NodeLabel.PROVIDER, [_provider("p1")], run="old")
    await graph.upsert_nodes(NodeLabel.DOCTOR, [_doctor("d1", "p1")], run="old")
    await graph.upsert_relationships(
        RelType.WORKS_AT, [works_at(doctor_id="d1", provider_id="p1", tenant_id=None)], run="old"
    )

    removed = await graph.remove_missing(labels=[NodeLabel.PROVIDER], relationships=[], run="new")

    assert removed.nodes == {NodeLabel.PROVIDER: 1}
    counts = await graph.counts()
    assert counts.relationships[RelType.WORKS_AT] == 0
    assert counts.nodes[NodeLabel.DOCTOR] == 1


async def test_scans_page_in_key_order(graph: GraphProjection) -> None:
    await graph.upsert_nodes(NodeLabel.PROCEDURE, [_procedure(c) for c in "EDCBA"], run="r")
    await graph.upsert_nodes(NodeLabel.DOCTOR, [_doctor("d1", "p"), _doctor("d2", "p")], run="r")
    await graph.upsert_relationships(
        RelType.PERFORMS,
        [performs(doctor_id=d, procedure_code=c) for d in ("d2", "d1") for c in "CA"],
        run="r",
    )

    first = await graph.scan_nodes(NodeLabel.PROCEDURE, limit=2)
    rest = await graph.scan_nodes(NodeLabel.PROCEDURE, after=first[-1].key, limit=10)
    assert [n.key for n in [*first, *rest]] == list("ABCDE")
    page = await graph.scan_relationships(RelType.PERFORMS, limit=3)
    tail = await graph.scan_relationships(
        RelType.PERFORMS, after=(page[-1].start, page[-1].end), limit=3
    )
    assert [(r.start, r.end) for r in [*page, *tail]] == [
        ("d1", "A"),
        ("d1", "C"),
        ("d2", "A"),
        ("d2", "C"),
    ]


def _with_links(node: GraphNode, *links: list[GraphRelationship]) -> NodeWithLinks:
    return NodeWithLinks(node, tuple(links))


async def _links(graph: GraphProjection, rel: RelType) -> list[tuple[str, str, object]]:
    return [(r.start, r.end, dict(r.properties)) for r in await graph.scan_relationships(rel)]


@pytest.mark.parametrize("absent", [False, True], ids=["merged", "created"])
async def test_nodes_are_written_with_their_relationships(
    graph: GraphProjection, absent: bool
) -> None:
    await graph.upsert_nodes(NodeLabel.PROCEDURE, [_procedure("A"), _procedure("B")], run="r1")
    await graph.upsert_nodes(NodeLabel.PROVIDER, [_provider("p1"), _provider("p2")], run="r1")
    doctors = [
        _with_links(
            _doctor("d1", "p1"),
            [works_at(doctor_id="d1", provider_id="p1", tenant_id=None)],
            [performs(doctor_id="d1", procedure_code=c) for c in ("A", "NOPE", "B")],
        ),
        _with_links(
            _doctor("d2", "p9"),  # works at a provider the graph does not hold
            [works_at(doctor_id="d2", provider_id="p9", tenant_id=None)],
            [],
        ),
    ]
    providers = [
        _with_links(
            _provider("p3", name="Third"),
            [
                offers(provider_id="p3", procedure_code="B", price_min_usd=10, price_max_usd=None),
                offers(provider_id="p3", procedure_code="A", price_min_usd=1, price_max_usd=2),
            ],
            [],
        )
    ]
    empty = set(NodeLabel) | set(RelType) if absent else set()

    await graph.upsert_nodes_with_links(NodeLabel.DOCTOR, doctors, run="r1", absent=empty)
    await graph.upsert_nodes_with_links(
        NodeLabel.PROVIDER, providers, run="r1", absent=empty - {NodeLabel.PROVIDER}
    )

    assert [n.key for n in await graph.scan_nodes(NodeLabel.DOCTOR)] == ["d1", "d2"]
    assert await _links(graph, RelType.WORKS_AT) == [("d1", "p1", {})]
    assert await _links(graph, RelType.PERFORMS) == [("d1", "A", {}), ("d1", "B", {})]
    assert await _links(graph, RelType.OFFERS) == [
        ("p3", "A", {"price_min_usd": 1.0, "price_max_usd": 2.0}),
        ("p3", "B", {"price_min_usd": 10.0}),
    ]
    assert await _keys(graph, NodeLabel.PROVIDER) == ["p1", "p2", "p3"]
    counts = await graph.counts()
    assert counts.nodes[NodeLabel.PROCEDURE] == 2  # no node made up for a missing end


async def test_nodes_with_links_written_again_are_kept_and_what_they_lost_is_swept(
    graph: GraphProjection,
) -> None:
    await graph.upsert_nodes(NodeLabel.PROCEDURE, [_procedure("A"), _procedure("B")], run="r1")
    await graph.upsert_nodes(NodeLabel.PROVIDER, [_provider("p1")], run="r1")

    def doctor(key: str, codes: str) -> NodeWithLinks:
        return _with_links(
            _doctor(key, "p1"),
            [works_at(doctor_id=key, provider_id="p1", tenant_id=None)],
            [performs(doctor_id=key, procedure_code=c) for c in codes],
        )

    rels = [RelType.WORKS_AT, RelType.PERFORMS]
    await graph.upsert_nodes_with_links(
        NodeLabel.DOCTOR,
        [doctor("d1", "AB"), doctor("d2", "A")],
        run="r1",
        absent={NodeLabel.DOCTOR, *rels},
    )
    renamed = doctor("d1", "A")
    renamed = renamed._replace(
        node=renamed.node._replace(properties={**renamed.node.properties, "specialty": None})
    )

    gone = await graph.upsert_nodes_with_links(NodeLabel.DOCTOR, [renamed], run="r2")
    assert gone == {RelType.WORKS_AT: 0, RelType.PERFORMS: 1}  # d1 no longer performs B
    assert await _links(graph, RelType.PERFORMS) == [("d1", "A", {}), ("d2", "A", {})]
    removed = await graph.remove_missing(labels=[NodeLabel.DOCTOR], relationships=rels, run="r2")

    assert removed.nodes == {NodeLabel.DOCTOR: 1}
    assert removed.relationships == {RelType.WORKS_AT: 1, RelType.PERFORMS: 1}
    [d1] = await graph.scan_nodes(NodeLabel.DOCTOR)
    assert d1.key == "d1"
    assert "specialty" not in d1.properties
    assert await _links(graph, RelType.WORKS_AT) == [("d1", "p1", {})]
    assert await _links(graph, RelType.PERFORMS) == [("d1", "A", {})]


async def test_nodes_with_links_of_different_property_names_are_all_written(
    graph: GraphProjection,
) -> None:
    await graph.upsert_nodes(NodeLabel.PROCEDURE, [_procedure("A")], run="r1")
    plain = _with_links(_provider("p1"), [], [])
    extra = _provider("p2")
    extra = extra._replace(properties={"name": "Second"})
    priced = offers(provider_id="p2", procedure_code="A", price_min_usd=1, price_max_usd=2)
    bare = GraphRelationship("p1", "A", "platform", {})

    await graph.upsert_nodes_with_links(
        NodeLabel.PROVIDER,
        [plain, _with_links(extra, [priced], []), _with_links(plain.node, [bare], [])],
        run="r1",
    )

    assert [n.properties.get("name") for n in await graph.scan_nodes(NodeLabel.PROVIDER)] == [
        "Hospital",
        "Second",
    ]
    assert await _links(graph, RelType.OFFERS) == [
        ("p1", "A", {}),
        ("p2", "A", {"price_min_usd": 1.0, "price_max_usd": 2.0}),
    ]


async def test_a_node_written_again_has_exactly_its_new_links(graph: GraphProjection) -> None:
    await graph.upsert_nodes(NodeLabel.PROCEDURE, [_procedure(c) for c in "ABC"], run="r1")
    await graph.upsert_nodes(NodeLabel.ACCREDITATION, [accreditation_node(name="JCI")], run="r1")

    def provider(*offered: tuple[str, float | None, float | None]) -> NodeWithLinks:
        return _with_links(
            _provider("p1"),
            [
                offers(provider_id="p1", procedure_code=c, price_min_usd=lo, price_max_usd=hi)
                for c, lo, hi in offered
            ],
            [accredited_by(provider_id="p1", accreditation_name="JCI")],
        )

    first = await graph.upsert_nodes_with_links(
        NodeLabel.PROVIDER, [provider(("A", 1, 2), ("B", 3, 4))], run="r1"
    )
    again = await graph.upsert_nodes_with_links(
        NodeLabel.PROVIDER, [provider(("B", 5, None), ("C", 6, 7))], run="r2"
    )

    assert first == {RelType.OFFERS: 0, RelType.ACCREDITED_BY: 0}
    assert again == {RelType.OFFERS: 1, RelType.ACCREDITED_BY: 0}  # A is no longer offered
    assert await _links(graph, RelType.OFFERS) == [
        ("p1", "B", {"price_min_usd": 5.0}),
        ("p1", "C", {"price_min_usd": 6.0, "price_max_usd": 7.0}),
    ]
    assert await _links(graph, RelType.ACCREDITED_BY) == [("p1", "JCI", {})]
    removed = await graph.remove_missing(
        labels=[NodeLabel.PROVIDER], relationships=list(NodeLabel.PROVIDER.outgoing), run="r2"
    )
    assert sum(removed.nodes.values()) + sum(removed.relationships.values()) == 0
