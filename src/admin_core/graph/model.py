"""The graph projection of the provider directory (SPEC §6.1).

PostgreSQL is the truth; the graph is rebuilt from it. This module says what the graph holds:
node labels with their key property, relationship types with their end labels, and which
rebuild scope owns which of them. A scope's rebuild writes and removes only what it owns.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from admin_core.kernel.principal import PLATFORM_TENANT_ID

#: A projected property value: what both PostgreSQL rows and graph properties can hold.
PropertyValue = str | int | float | bool | list[str] | None


class NodeLabel(enum.StrEnum):
    PROVIDER = "Provider"
    DOCTOR = "Doctor"
    PROCEDURE = "Procedure"
    ACCREDITATION = "Accreditation"

    @property
    def key(self) -> str:
        """The property that identifies a node of this label (unique in the graph)."""
        return _KEYS[self]

    @property
    def plural(self) -> str:
        """The label's name on the wire (`counts.providers`)."""
        return _PLURALS[self]

    @property
    def outgoing(self) -> tuple[RelType, ...]:
        """The relationship types that start at nodes of this label (written with them)."""
        return _OUTGOING[self]


_KEYS = {
    NodeLabel.PROVIDER: "id",
    NodeLabel.DOCTOR: "id",
    NodeLabel.PROCEDURE: "code",
    NodeLabel.ACCREDITATION: "name",
}
_PLURALS = {
    NodeLabel.PROVIDER: "providers",
    NodeLabel.DOCTOR: "doctors",
    NodeLabel.PROCEDURE: "procedures",
    NodeLabel.ACCREDITATION: "accreditations",
}


class RelType(enum.StrEnum):
    WORKS_AT = "WORKS_AT"  # (Doctor)-[:WORKS_AT]->(Provider)
    OFFERS = "OFFERS"  # (Provider)-[:OFFERS {price_min_usd, price_max_usd}]->(Procedure)
    PERFORMS = "PERFORMS"  # (Doctor)-[:PERFORMS]->(Procedure)
    ACCREDITED_BY = "ACCREDITED_BY"  # (Provider)-[:ACCREDITED_BY]->(Accreditation)

    @property
    def start(self) -> NodeLabel:
        return _ENDS[self][0]

    @property
    def end(self) -> NodeLabel:
        return _ENDS[self][1]

    @property
    def wire(self) -> str:
        """The type's name on the wire (`relationships.works_at`)."""
        return self.value.lower()


_ENDS = {
    RelType.WORKS_AT: (NodeLabel.DOCTOR, NodeLabel.PROVIDER),
    RelType.OFFERS: (NodeLabel.PROVIDER, NodeLabel.PROCEDURE),
    RelType.PERFORMS: (NodeLabel.DOCTOR, NodeLabel.PROCEDURE),
    RelType.ACCREDITED_BY: (NodeLabel.PROVIDER, NodeLabel.ACCREDITATION),
}


_OUTGOING = {label: tuple(rel for rel in RelType if rel.start is label) for label in NodeLabel}


class GraphScope(enum.StrEnum):
    ALL = "all"
    PROVIDERS = "providers"
    DOCTORS = "doctors"
    PROCEDURES = "procedures"

    @property
    def parts(self) -> tuple[ScopePart, ...]:
        """What the scope owns, in write order: procedures before the providers that offer
        them, providers before the doctors who work there."""
        if self is GraphScope.ALL:
            return tuple(_PARTS[s] for s in _WRITE_ORDER)
        return (_PARTS[self],)

    @property
    def labels(self) -> tuple[NodeLabel, ...]:
        return tuple(label for part in self.parts for label in part.labels)

    @property
    def relationships(self) -> tuple[RelType, ...]:
        return tuple(rel for part in self.parts for rel in part.relationships)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScopePart:
    """The labels and relationship types one scope owns."""

    labels: tuple[NodeLabel, ...]
    relationships: tuple[RelType, ...]


_WRITE_ORDER = (GraphScope.PROCEDURES, GraphScope.PROVIDERS, GraphScope.DOCTORS)
_PARTS = {
    GraphScope.PROCEDURES: ScopePart(labels=(NodeLabel.PROCEDURE,), relationships=()),
    GraphScope.PROVIDERS: ScopePart(
        labels=(NodeLabel.PROVIDER, NodeLabel.ACCREDITATION),
        relationships=(RelType.OFFERS, RelType.ACCREDITED_BY),
    ),
    GraphScope.DOCTORS: ScopePart(
        labels=(NodeLabel.DOCTOR,), relationships=(RelType.WORKS_AT, RelType.PERFORMS)
    ),
}


class GraphNode(NamedTuple):
    """One node as projected from a source row. `properties` holds every projected column
    except the key and `tenant_id` (a `None` value means the column is null: no property).

    A named tuple rather than a dataclass: a rebuild makes millions of these, and a tuple is
    several times cheaper to build (docs/adr/0021-graph-rebuild-strategy.md)."""

    key: str
    tenant_id: str
    properties: Mapping[str, PropertyValue]


class GraphRelationship(NamedTuple):
    """One relationship as projected from a source row, from the node keyed `start` to the
    node keyed `end` (whose tenant is `end_tenant_id`)."""

    start: str
    end: str
    end_tenant_id: str
    properties: Mapping[str, PropertyValue]


class NodeWithLinks(NamedTuple):
    """A node with its outgoing relationships: `links` holds one sequence per type of the
    node's `label.outgoing`, in that order, each relationship starting at `node`. A rebuild
    writes them together, so the start node of every relationship is the node just written."""

    node: GraphNode
    links: tuple[Sequence[GraphRelationship], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphCounts:
    """Nodes per label and relationships per type."""

    nodes: Mapping[NodeLabel, int]
    relationships: Mapping[RelType, int]


def wire_counts(counts: GraphCounts) -> dict[str, int]:
    """Counts by their names on the wire: labels by plural, types by lower-case name."""
    return {label.plural: n for label, n in counts.nodes.items()} | {
        rel.wire: n for rel, n in counts.relationships.items()
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class RebuildResult:
    scope: GraphScope
    run_id: str
    counts: Mapping[NodeLabel, int]  # nodes in the graph after the rebuild, labels in scope
    relationships: Mapping[RelType, int]  # relationships after the rebuild, types in scope
    removed: GraphCounts  # stale nodes and relationships the rebuild deleted
    written: int  # nodes + relationships upserted
    duration_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RebuildProgress:
    """Reported after each batch: `done` of `total` items of one label or type written."""

    item: NodeLabel | RelType
    done: int
    total: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Drift:
    """Rows in the source vs items in the graph; `drift` = graph − source (None when the
    graph could not be read)."""

    source: int
    graph: int | None

    @property
    def drift(self) -> int | None:
        return None if self.graph is None else self.graph - self.source


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphStatus:
    labels: Mapping[NodeLabel, Drift]
    relationships: Mapping[RelType, Drift]
    graph_available: bool
    graph_error: str | None = None

    @property
    def in_sync(self) -> bool:
        items: Sequence[Drift] = [*self.labels.values(), *self.relationships.values()]
        return self.graph_available and all(d.drift == 0 for d in items)


# How source rows become graph items. Both projection sources build their items here, so the
# graph holds the same properties whichever database it was rebuilt from.


def _strings(values: Sequence[str] | None) -> list[str] | None:
    """A list property; an empty or null list is no property at all."""
    if not values:
        return None
    return values if type(values) is list else [str(v) for v in values]


def _usd(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def provider_node(
    *,
    id: str,
    tenant_id: str | None,
    name: str,
    country: str | None,
    city: str | None,
    specialties: Sequence[str] | None,
    languages: Sequence[str] | None,
) -> GraphNode:
    return GraphNode(
        key=id,
        tenant_id=tenant_id or PLATFORM_TENANT_ID,
        properties={
            "name": name,
            "country": country,
            "city": city,
            "specialties": _strings(specialties),
            "languages": _strings(languages),
        },
    )


def doctor_node(
    *,
    id: str,
    tenant_id: str | None,
    provider_id: str,
    full_name: str,
    specialty: str | None,
    languages: Sequence[str] | None,
) -> GraphNode:
    return GraphNode(
        key=id,
        tenant_id=tenant_id or PLATFORM_TENANT_ID,
        properties={
            "provider_id": provider_id,
            "full_name": full_name,
            "specialty": specialty,
            "languages": _strings(languages),
        },
    )


def procedure_node(*, code: str, name: str, specialty: str | None) -> GraphNode:
    return GraphNode(code, PLATFORM_TENANT_ID, {"name": name, "specialty": specialty})


def accreditation_node(*, name: str) -> GraphNode:
    return GraphNode(name, PLATFORM_TENANT_ID, {})


def works_at(*, doctor_id: str, provider_id: str, tenant_id: str | None) -> GraphRelationship:
    return GraphRelationship(doctor_id, provider_id, tenant_id or PLATFORM_TENANT_ID, {})


def offers(
    *, provider_id: str, procedure_code: str, price_min_usd: object, price_max_usd: object
) -> GraphRelationship:
    return GraphRelationship(
        start=provider_id,
        end=procedure_code,
        end_tenant_id=PLATFORM_TENANT_ID,
        properties={
            "price_min_usd": _usd(price_min_usd),
            "price_max_usd": _usd(price_max_usd),
        },
    )


def performs(*, doctor_id: str, procedure_code: str) -> GraphRelationship:
    return GraphRelationship(doctor_id, procedure_code, PLATFORM_TENANT_ID, {})


def accredited_by(*, provider_id: str, accreditation_name: str) -> GraphRelationship:
    return GraphRelationship(provider_id, accreditation_name, PLATFORM_TENANT_ID, {})
