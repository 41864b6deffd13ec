"""The provider directory in memory: its writer, bulk loader and projection source."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from adapters.memory.store import InMemoryStore
from admin_core.directory.model import DirectoryBatch, Provider, refuse_missing
from admin_core.directory.ports import DirectoryBulkLoader, DirectoryWriter
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
from admin_core.graph.ports import ProjectionReader, ProjectionSource

K = TypeVar("K", str, tuple[str, str])
T = TypeVar("T")


def write_batch(store: InMemoryStore, batch: DirectoryBatch, now: datetime) -> None:
    store.accreditations.update(batch.accreditations)
    for procedure in batch.procedures:
        store.procedures.setdefault(procedure.code, procedure)
    for p in batch.providers:
        existing = store.providers.get(p.id)
        if existing is None:
            store.providers[p.id] = Provider(
                id=p.id,
                name=p.name,
                country=p.country,
                city=p.city,
                specialties=tuple(p.specialties or ()),
                languages=tuple(p.languages or ()),
                accreditations=tuple(sorted(set(p.accreditations))),
                created_at=now,
                updated_at=now,
            )
        else:
            store.providers[p.id] = replace(
                existing,
                specialties=existing.specialties or tuple(p.specialties or ()),
                languages=existing.languages or tuple(p.languages or ()),
                accreditations=tuple(sorted({*existing.accreditations, *p.accreditations})),
            )
        store.accreditations.update(p.accreditations)
    for doctor in batch.doctors:
        store.doctors.setdefault(doctor.id, doctor)
    for offer in batch.offers:
        store.provider_procedures.setdefault((offer.provider_id, offer.procedure_code), offer)
    store.doctor_procedures.update((d.doctor_id, d.procedure_code) for d in batch.doctor_procedures)


class InMemoryDirectoryWriter(DirectoryWriter):
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    async def write(self, batch: DirectoryBatch, *, now: datetime) -> None:
        store = self._store
        refuse_missing(
            list(batch.outside_references()),
            {"provider": store.providers, "doctor": store.doctors, "procedure": store.procedures},
        )
        write_batch(store, batch, now)


class InMemoryDirectoryBulkLoader(DirectoryBulkLoader):
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    async def load(self, batches: Iterable[DirectoryBatch], *, now: datetime) -> int:
        written = 0
        for batch in batches:
            write_batch(self._store, batch, now)
            written += batch.size
        return written


def _pages(keys: Iterable[K], batch_size: int, build: Callable[[K], T]) -> Iterable[list[T]]:
    ordered = sorted(keys)
    for start in range(0, len(ordered), batch_size):
        yield [build(key) for key in ordered[start : start + batch_size]]


class _InMemoryReader(ProjectionReader):
    def __init__(self, store: InMemoryStore) -> None:
        self._s = store
        self._tenant_of = {t.provider_id: t.id for t in store.tenants.values() if t.provider_id}

    def _provider(self, key: str) -> GraphNode:
        p = self._s.providers[key]
        return provider_node(
            id=p.id,
            tenant_id=self._tenant_of.get(p.id),
            name=p.name,
            country=p.country,
            city=p.city,
            specialties=p.specialties,
            languages=p.languages,
        )

    def _doctor(self, key: str) -> GraphNode:
        d = self._s.doctors[key]
        return doctor_node(
            id=d.id,
            tenant_id=self._tenant_of.get(d.provider_id),
            provider_id=d.provider_id,
            full_name=d.full_name,
            specialty=d.specialty,
            languages=d.languages,
        )

    def _procedure(self, key: str) -> GraphNode:
        p = self._s.procedures[key]
        return procedure_node(code=p.code, name=p.name, specialty=p.specialty)

    async def nodes(
        self, label: NodeLabel, *, batch_size: int
    ) -> AsyncIterator[Sequence[GraphNode]]:
        s = self._s
        pages: Iterable[list[GraphNode]]
        if label is NodeLabel.PROVIDER:
            pages = _pages(list(s.providers), batch_size, self._provider)
        elif label is NodeLabel.DOCTOR:
            pages = _pages(list(s.doctors), batch_size, self._doctor)
        elif label is NodeLabel.PROCEDURE:
            pages = _pages(list(s.procedures), batch_size, self._procedure)
        else:
            pages = _pages(self._accreditations(), batch_size, lambda n: accreditation_node(name=n))
        for page in pages:
            yield page

    def _works_at(self, key: tuple[str, str]) -> GraphRelationship:
        return works_at(doctor_id=key[0], provider_id=key[1], tenant_id=self._tenant_of.get(key[1]))

    def _offers(self, key: tuple[str, str]) -> GraphRelationship:
        o = self._s.provider_procedures[key]
        return offers(
            provider_id=o.provider_id,
            procedure_code=o.procedure_code,
            price_min_usd=o.price_min_usd,
            price_max_usd=o.price_max_usd,
        )

    def _rel_keys(self, rel: RelType) -> list[tuple[str, str]]:
        s = self._s
        if rel is RelType.WORKS_AT:
            return [(d.id, d.provider_id) for d in s.doctors.values()]
        if rel is RelType.OFFERS:
            return list(s.provider_procedures)
        if rel is RelType.PERFORMS:
            return list(s.doctor_procedures)
        return [(p.id, name) for p in s.providers.values() for name in p.accreditations]

    def _accreditations(self) -> set[str]:
        """Every accreditation a provider holds (a provider created through the API names
        its own), and those the directory loaded: the nodes streamed and the rows counted."""
        held = {name for p in self._s.providers.values() for name in p.accreditations}
        return held | self._s.accreditations

    def _builder(self, rel: RelType) -> Callable[[tuple[str, str]], GraphRelationship]:
        if rel is RelType.WORKS_AT:
            return self._works_at
        if rel is RelType.OFFERS:
            return self._offers
        if rel is RelType.PERFORMS:
            return lambda k: performs(doctor_id=k[0], procedure_code=k[1])
        return lambda k: accredited_by(provider_id=k[0], accreditation_name=k[1])

    async def relationships(
        self, rel: RelType, *, batch_size: int
    ) -> AsyncIterator[Sequence[GraphRelationship]]:
        for page in _pages(self._rel_keys(rel), batch_size, self._builder(rel)):
            yield page

    async def nodes_with_links(
        self, label: NodeLabel, *, batch_size: int
    ) -> AsyncIterator[Sequence[NodeWithLinks]]:
        by_start: list[dict[str, list[GraphRelationship]]] = []
        for rel in label.outgoing:
            build = self._builder(rel)
            grouped: dict[str, list[GraphRelationship]] = {}
            for key in sorted(self._rel_keys(rel)):
                grouped.setdefault(key[0], []).append(build(key))
            by_start.append(grouped)
        async for page in self.nodes(label, batch_size=batch_size):
            yield [NodeWithLinks(n, tuple(g.get(n.key, []) for g in by_start)) for n in page]

    async def count_nodes(self, label: NodeLabel) -> int:
        s = self._s
        if label is NodeLabel.PROVIDER:
            return len(s.providers)
        if label is NodeLabel.DOCTOR:
            return len(s.doctors)
        if label is NodeLabel.PROCEDURE:
            return len(s.procedures)
        return len(self._accreditations())

    async def count_relationships(self, rel: RelType) -> int:
        return len(self._rel_keys(rel))


class InMemoryProjectionSource(ProjectionSource):
    """Reads the in-memory store. Streams are built from the store as it is when each stream
    starts (the embedded mode is one process; its data sets are small)."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    @asynccontextmanager
    async def read(self) -> AsyncIterator[ProjectionReader]:
        yield _InMemoryReader(self._store)
