"""A service that embeds Admin Core with adapters it composes itself.

A directory-sync job of a partner portal: it owns the provider directory, loads it, rebuilds
the graph projection, checks the drift and reads back the audit entry the rebuild wrote. No
container, no web framework, no CLI: the embedder supplies the ports (clock, ids,
transactions, graph, rebuild lock, projection source) and calls use cases, each with the
acting principal and, where it takes one, a command object.

Run with the repository's virtualenv: `.venv/bin/python examples/embedded_service.py`.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from adapters.memory.directory import InMemoryProjectionSource
from adapters.memory.graph import InMemoryGraphProjection, InProcessRebuildLock
from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryTransactions
from adapters.system.runtime import UlidGenerator
from admin_core.audit.use_cases import AuditQuery, QueryAuditLog
from admin_core.directory.model import (
    DirectoryBatch,
    DoctorProcedure,
    Procedure,
    ProcedureOffer,
    ProviderDoctor,
    ProviderListing,
)
from admin_core.directory.ports import DirectoryTransaction
from admin_core.graph.use_cases import (
    REBUILD_ACTION,
    RebuildCommand,
    RebuildProjection,
    ShowGraphStatus,
)
from admin_core.kernel.errors import AdminError
from admin_core.kernel.principal import Permission, Principal, Scope
from admin_core.kernel.runtime import Clock, IdGenerator
from admin_core.kernel.transaction import Transactions


class HostClock(Clock):
    """An adapter of the embedder's own: the host service's time source behind the core's
    `Clock` port (audit entries and directory rows are stamped with it)."""

    def __init__(self, source: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._source = source

    def now(self) -> datetime:
        return self._source()


@dataclass(frozen=True, slots=True)
class EmbeddedAdmin:
    """The use cases this service calls, wired once at start-up."""

    clock: Clock
    ids: IdGenerator
    transactions: Transactions[DirectoryTransaction]  # this service only writes the directory
    rebuild_graph: RebuildProjection
    graph_status: ShowGraphStatus
    query_audit_log: QueryAuditLog


def compose(clock: Clock, ids: IdGenerator) -> EmbeddedAdmin:
    """The service's composition root: every port gets an adapter, chosen here and only here."""
    store = InMemoryStore()
    transactions = InMemoryTransactions(store, clock, ids)  # audit log + directory, one store
    source = InMemoryProjectionSource(store)  # what the graph is rebuilt from
    graph = InMemoryGraphProjection()
    lock = InProcessRebuildLock()  # single-flight within this process
    return EmbeddedAdmin(
        clock=clock,
        ids=ids,
        transactions=transactions,
        rebuild_graph=RebuildProjection(
            source=source, graph=graph, lock=lock, transactions=transactions, ids=ids
        ),
        graph_status=ShowGraphStatus(source=source, graph=graph),
        query_audit_log=QueryAuditLog(transactions),
    )


DIRECTORY = DirectoryBatch(
    procedures=(
        Procedure(code="CABG", name="Coronary artery bypass graft", specialty="cardiology"),
        Procedure(code="TKR", name="Total knee replacement", specialty="orthopedics"),
        Procedure(code="CAT", name="Cataract surgery", specialty="ophthalmology"),
    ),
    providers=(
        ProviderListing(
            id="prv_apollo_chennai",
            name="Apollo Hospitals Chennai",
            country="IN",
            city="Chennai",
            specialties=("cardiology", "orthopedics"),
            languages=("en", "ta"),
            accreditations=("JCI", "NABH"),
        ),
        ProviderListing(
            id="prv_bumrungrad",
            name="Bumrungrad International Hospital",
            country="TH",
            city="Bangkok",
            specialties=("cardiology", "ophthalmology"),
            languages=("en", "th"),
            accreditations=("JCI",),
        ),
    ),
    doctors=(
        ProviderDoctor(
            id="doc_rao",
            provider_id="prv_apollo_chennai",
            full_name="Dr. A. Rao",
            specialty="cardiology",
        ),
        ProviderDoctor(
            id="doc_iyer",
            provider_id="prv_apollo_chennai",
            full_name="Dr. K. Iyer",
            specialty="orthopedics",
        ),
        ProviderDoctor(
            id="doc_suthep",
            provider_id="prv_bumrungrad",
            full_name="Dr. S. Suthep",
            specialty="ophthalmology",
        ),
    ),
    offers=(
        ProcedureOffer(
            provider_id="prv_apollo_chennai",
            procedure_code="CABG",
            price_min_usd=Decimal("5200"),
            price_max_usd=Decimal("7400"),
        ),
        ProcedureOffer(
            provider_id="prv_apollo_chennai",
            procedure_code="TKR",
            price_min_usd=Decimal("4100"),
            price_max_usd=Decimal("5600"),
        ),
        ProcedureOffer(
            provider_id="prv_bumrungrad",
            procedure_code="CABG",
            price_min_usd=Decimal("18000"),
            price_max_usd=Decimal("25000"),
        ),
        ProcedureOffer(
            provider_id="prv_bumrungrad",
            procedure_code="CAT",
            price_min_usd=None,
            price_max_usd=None,
        ),
    ),
    doctor_procedures=(
        DoctorProcedure(doctor_id="doc_rao", procedure_code="CABG"),
        DoctorProcedure(doctor_id="doc_iyer", procedure_code="TKR"),
        DoctorProcedure(doctor_id="doc_suthep", procedure_code="CAT"),
    ),
)


async def load_directory(
    transactions: Transactions[DirectoryTransaction], clock: Clock, batch: DirectoryBatch
) -> None:
    """The directory belongs to this service: it writes rows through a transaction's
    `directory` writer (no use case, no audit entry). Nothing is kept without `commit()`."""
    async with transactions() as tx:
        await tx.directory.write(batch, now=clock.now())
        await tx.commit()


def sync_job(request_id: str) -> Principal:
    """Who acts: this service's job, platform-wide, with only the permissions it needs."""
    return Principal(
        user_id="svc:directory-sync",
        org_id=None,
        role=None,
        tenant_id=None,
        scope=Scope.PLATFORM,
        permissions=frozenset({Permission.GRAPH_REBUILD, Permission.AUDIT_READ}),
        request_id=request_id,
    )


async def run() -> None:
    admin = compose(HostClock(), UlidGenerator())
    await load_directory(admin.transactions, admin.clock, DIRECTORY)
    print(
        f"directory: {len(DIRECTORY.providers)} providers, {len(DIRECTORY.doctors)} doctors, "
        f"{len(DIRECTORY.procedures)} procedures"
    )

    job = sync_job(request_id=admin.ids.new_id("req"))
    result = await admin.rebuild_graph.execute(job, RebuildCommand())
    nodes = ", ".join(f"{label.plural}={n}" for label, n in result.counts.items())
    links = ", ".join(f"{rel.wire}={n}" for rel, n in result.relationships.items())
    print(f"rebuild {result.run_id}: scope={result.scope.value}, written={result.written}")
    print(f"graph nodes: {nodes}")
    print(f"graph relationships: {links}")

    status = await admin.graph_status.execute(job)
    drifting = [label.plural for label, d in status.labels.items() if d.drift]
    drifting += [rel.wire for rel, d in status.relationships.items() if d.drift]
    print(f"status: {'in sync' if status.in_sync else 'drifting: ' + ', '.join(drifting)}")

    page = await admin.query_audit_log.execute(job, AuditQuery(action=REBUILD_ACTION, limit=1))
    entry = page.entries[0]
    outcome = entry.after["outcome"] if entry.after else None
    print(
        f"audit: {entry.action} by {entry.actor_id}, request {entry.request_id}, "
        f"resource {entry.resource_id}, outcome {outcome}"
    )

    # A caller without `graph:rebuild` is refused by the core, with a stable code.
    reader = Principal(
        user_id="usr_reader", org_id=None, role=None, tenant_id=None, scope=Scope.PLATFORM
    )
    try:
        await admin.graph_status.execute(reader)
    except AdminError as error:
        print(f"refused: {error.code}")


def main() -> int:
    try:
        asyncio.run(run())
    except AdminError as error:  # every error the core raises on purpose
        print(f"error: {error.code}: {error.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
