"""Coverage of the matching parameters in process memory: `postgres` paths over the
in-memory store, `neo4j` paths over the in-process graph (the embedded default). The same
definitions of "non-empty" as the SQL and Cypher adapters: text that is not blank, a list
with an item, a number that is not null, at least one related row."""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Mapping
from typing import Any

from adapters.memory.graph import InMemoryGraph
from adapters.memory.store import InMemoryStore
from admin_core.graph.model import NodeLabel, RelType
from admin_core.matching import paths as p
from admin_core.matching.ports import Coverage, CoverageMeter


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _items(value: Any) -> bool:
    return bool(value)


class _StoreIndex:
    """The relations of one snapshot of the store, for membership tests."""

    def __init__(self, store: InMemoryStore) -> None:
        offers = store.provider_procedures.values()
        self.offering = {o.provider_id for o in offers}
        self.priced_min = {o.provider_id for o in offers if o.price_min_usd is not None}
        self.priced_max = {o.provider_id for o in offers if o.price_max_usd is not None}
        self.offered = {o.procedure_code for o in offers}
        self.staffed = {d.provider_id for d in store.doctors.values()}
        self.staff_languages = {d.provider_id for d in store.doctors.values() if d.languages}
        self.performing = {doctor for doctor, _ in store.doctor_procedures}
        self.tenants = {t.provider_id: t for t in store.tenants.values() if t.provider_id}


def _setting(name: str) -> Callable[[Any, _StoreIndex], bool]:
    def covered(row: Any, ix: _StoreIndex) -> bool:
        tenant = ix.tenants.get(row.id)
        value: Any = getattr(tenant.settings, name) if tenant is not None else None
        return _text(value.value if isinstance(value, enum.Enum) else value)

    return covered


Predicate = Callable[[Any, _StoreIndex], bool]

#: Every `postgres` path → whether a row of its entity covers it.
STORE_PREDICATES: Mapping[str, Predicate] = {
    "providers.country": lambda r, _: _text(r.country),
    "providers.city": lambda r, _: _text(r.city),
    "providers.specialties": lambda r, _: _items(r.specialties),
    "providers.languages": lambda r, _: _items(r.languages),
    "providers.accreditations": lambda r, _: _items(r.accreditations),
    "providers.procedures": lambda r, ix: r.id in ix.offering,
    "providers.procedures.price_min_usd": lambda r, ix: r.id in ix.priced_min,
    "providers.procedures.price_max_usd": lambda r, ix: r.id in ix.priced_max,
    "providers.doctors": lambda r, ix: r.id in ix.staffed,
    "providers.doctors.languages": lambda r, ix: r.id in ix.staff_languages,
    "providers.tenant": lambda r, ix: r.id in ix.tenants,
    "providers.tenant.settings.default_currency": _setting("default_currency"),
    "providers.tenant.settings.timezone": _setting("timezone"),
    "providers.tenant.settings.data_residency_region": _setting("data_residency_region"),
    "providers.tenant.settings.payments_provider": _setting("payments_provider"),
    "doctors.specialty": lambda r, _: _text(r.specialty),
    "doctors.languages": lambda r, _: _items(r.languages),
    "doctors.procedures": lambda r, ix: r.id in ix.performing,
    "procedures.specialty": lambda r, _: _text(r.specialty),
    "procedures.providers": lambda r, ix: r.code in ix.offered,
    "provider_procedures.price_min_usd": lambda r, _: r.price_min_usd is not None,
    "provider_procedures.price_max_usd": lambda r, _: r.price_max_usd is not None,
    "mso_doctors.languages": lambda r, _: _items(r.languages),
    "mso_doctors.countries": lambda r, _: _items(r.countries),
    "mso_doctors.clerk_user_id": lambda r, _: _text(r.clerk_user_id),
}

_STORE_ROWS: Mapping[str, Callable[[InMemoryStore], Collection[Any]]] = {
    p.PROVIDERS: lambda s: list(s.providers.values()),
    p.DOCTORS: lambda s: list(s.doctors.values()),
    p.PROCEDURES: lambda s: list(s.procedures.values()),
    p.OFFERS: lambda s: list(s.provider_procedures.values()),
    p.MSO_DOCTORS: lambda s: list(s.mso_doctors.values()),
}

if set(STORE_PREDICATES) != set(p.POSTGRES_PATHS):  # pragma: no cover - a programming error
    raise RuntimeError("the in-memory coverage whitelist and POSTGRES_PATHS differ")


def _count(
    rows: Collection[Any], names: list[str], covers: Callable[[str, Any], bool]
) -> dict[str, Coverage]:
    """One pass over `rows`, counting every path of `names` together."""
    counts = dict.fromkeys(names, 0)
    for row in rows:
        for name in names:
            if covers(name, row):
                counts[name] += 1
    return {name: Coverage(entities=len(rows), covered=n) for name, n in counts.items()}


class InMemoryStoreCoverage(CoverageMeter):
    """`postgres` paths over the in-memory store (the `memory` database mode)."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    async def measure(self, paths: Collection[str]) -> Mapping[str, Coverage]:
        store = self._store
        index = _StoreIndex(store)
        by_entity: dict[str, list[str]] = {}
        for path in paths:
            by_entity.setdefault(p.POSTGRES_PATHS[path], []).append(path)
        result: dict[str, Coverage] = {}
        for entity, names in by_entity.items():
            result |= _count(
                _STORE_ROWS[entity](store),
                names,
                lambda name, row: STORE_PREDICATES[name](row, index),
            )
        return result


class _GraphIndex:
    """The keys at either end of each relationship type, built once per measurement."""

    def __init__(self, graph: InMemoryGraph) -> None:
        self._graph = graph
        self._starts: dict[tuple[RelType, str | None], set[str]] = {}
        self._ends: dict[RelType, set[str]] = {}

    def starts(self, rel: RelType, with_property: str | None) -> set[str]:
        key = (rel, with_property)
        if key not in self._starts:
            self._starts[key] = {
                start
                for (start, _), r in self._graph.relationships[rel].items()
                if with_property is None or r.properties.get(with_property) is not None
            }
        return self._starts[key]

    def ends(self, rel: RelType) -> set[str]:
        if rel not in self._ends:
            self._ends[rel] = {end for _, end in self._graph.relationships[rel]}
        return self._ends[rel]


_GraphPredicate = Callable[[str, dict[str, Any], _GraphIndex], bool]


def _prop_text(name: str) -> _GraphPredicate:
    return lambda _, props, __: _text(props.get(name))


def _prop_list(name: str) -> _GraphPredicate:
    return lambda _, props, __: _items(props.get(name))


def _out(rel: RelType, with_property: str | None = None) -> _GraphPredicate:
    return lambda key, _, index: key in index.starts(rel, with_property)


def _in(rel: RelType) -> _GraphPredicate:
    return lambda key, _, index: key in index.ends(rel)


#: Every `neo4j` path → whether a node (key, properties) of its label covers it.
GRAPH_PREDICATES: Mapping[str, _GraphPredicate] = {
    "(:Provider).country": _prop_text("country"),
    "(:Provider).city": _prop_text("city"),
    "(:Provider).specialties": _prop_list("specialties"),
    "(:Provider).languages": _prop_list("languages"),
    "(:Provider)-[:ACCREDITED_BY]->(:Accreditation)": _out(RelType.ACCREDITED_BY),
    "(:Provider)-[:OFFERS]->(:Procedure)": _out(RelType.OFFERS),
    "(:Provider)-[:OFFERS {price_min_usd}]->(:Procedure)": _out(RelType.OFFERS, "price_min_usd"),
    "(:Provider)-[:OFFERS {price_max_usd}]->(:Procedure)": _out(RelType.OFFERS, "price_max_usd"),
    "(:Provider)<-[:WORKS_AT]-(:Doctor)": _in(RelType.WORKS_AT),
    "(:Doctor).specialty": _prop_text("specialty"),
    "(:Doctor).languages": _prop_list("languages"),
    "(:Doctor)-[:PERFORMS]->(:Procedure)": _out(RelType.PERFORMS),
    "(:Procedure).specialty": _prop_text("specialty"),
    "(:Procedure)<-[:OFFERS]-(:Provider)": _in(RelType.OFFERS),
}

if set(GRAPH_PREDICATES) != set(p.NEO4J_PATHS):  # pragma: no cover - a programming error
    raise RuntimeError("the in-memory graph coverage whitelist and NEO4J_PATHS differ")


class InMemoryGraphCoverage(CoverageMeter):
    """`neo4j` paths over the in-process graph (the embedded default)."""

    def __init__(self, graph: InMemoryGraph) -> None:
        self._graph = graph

    async def measure(self, paths: Collection[str]) -> Mapping[str, Coverage]:
        graph = self._graph
        index = _GraphIndex(graph)
        by_label: dict[str, list[str]] = {}
        for path in paths:
            by_label.setdefault(p.NEO4J_PATHS[path], []).append(path)
        result: dict[str, Coverage] = {}
        for label, names in by_label.items():
            nodes = list(graph.nodes[NodeLabel(label)].items())
            result |= _count(
                nodes,
                names,
                lambda name, node: GRAPH_PREDICATES[name](node[0], node[1].properties, index),
            )
        return result
