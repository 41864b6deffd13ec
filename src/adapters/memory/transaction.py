"""The in-memory transaction: snapshot on begin, restore unless committed. It composes every
repository over the one store and satisfies each area's transaction protocol."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Self

from adapters.memory.audit import InMemoryAuditLog, InMemoryCheckpointStore
from adapters.memory.directory import InMemoryDirectoryWriter
from adapters.memory.intents import InMemoryIntentLog
from adapters.memory.mso_doctors import InMemoryMsoDoctorRepository
from adapters.memory.mso_sessions import InMemoryMsoSessionRepository
from adapters.memory.sandbox_refunds import InMemorySandboxLedger
from adapters.memory.store import InMemoryStore
from adapters.memory.tenants import (
    InMemoryOrgMappingRepository,
    InMemoryProviderRepository,
    InMemoryTenantRepository,
)
from adapters.memory.users import InMemoryUserContacts, InMemoryUserRoleRepository
from admin_core.audit.ports import AuditLog, CheckpointStore, CheckpointTransaction
from admin_core.auth.ports import OrgLookupTransaction
from admin_core.directory.ports import DirectoryTransaction, DirectoryWriter, ProviderRepository
from admin_core.kernel.runtime import Clock, IdGenerator
from admin_core.kernel.transaction import Transactions
from admin_core.mso_doctors.ports import MsoDoctorRepository, MsoDoctorsTransaction
from admin_core.payments.ports import MsoSessionRepository, PaymentsTransaction
from admin_core.side_effects.ports import IntentLog, SideEffectsTransaction
from admin_core.tenants.ports import OrgMappingRepository, TenantRepository, TenantsTransaction
from admin_core.users.ports import UserContacts, UserRoleRepository, UsersTransaction


class TransactionAlreadyOpen(RuntimeError):
    """A transaction began on an in-memory store in a task that holds one open on it. The store
    admits one transaction at a time, so the second would wait forever for the first."""


class InMemoryTransaction(
    TenantsTransaction,
    UsersTransaction,
    PaymentsTransaction,
    MsoDoctorsTransaction,
    SideEffectsTransaction,
    CheckpointTransaction,
    DirectoryTransaction,
    OrgLookupTransaction,
):
    providers: ProviderRepository
    tenants: TenantRepository
    org_mappings: OrgMappingRepository
    users: UserContacts
    user_roles: UserRoleRepository
    audit: AuditLog
    checkpoints: CheckpointStore
    directory: DirectoryWriter
    intents: IntentLog
    mso_doctors: MsoDoctorRepository
    mso_sessions: MsoSessionRepository
    #: The sandbox gateway's ledger (`SandboxPaymentGateway`), not a port of the core.
    sandbox_refunds: InMemorySandboxLedger

    def __init__(self, store: InMemoryStore, clock: Clock, ids: IdGenerator) -> None:
        self._store = store
        self._snapshot: dict[str, Any] | None = None
        self.audit = InMemoryAuditLog(store, clock, ids)
        self.checkpoints = InMemoryCheckpointStore(store)
        self.providers = InMemoryProviderRepository(store)
        self.tenants = InMemoryTenantRepository(store)
        self.org_mappings = InMemoryOrgMappingRepository(store)
        self.directory = InMemoryDirectoryWriter(store)
        self.users = InMemoryUserContacts(store)
        self.user_roles = InMemoryUserRoleRepository(store)
        self.intents = InMemoryIntentLog(store)
        self.mso_doctors = InMemoryMsoDoctorRepository(store)
        self.mso_sessions = InMemoryMsoSessionRepository(store)
        self.sandbox_refunds = InMemorySandboxLedger(store)

    async def __aenter__(self) -> Self:
        task = asyncio.current_task()
        if task is not None and self._store.holder is task:
            raise TransactionAlreadyOpen(
                "This task already holds a transaction on the in-memory store, which admits one"
                " at a time: commit or leave it before calling a use case or opening another."
            )
        await self._store.lock.acquire()
        self._store.holder = task
        self._snapshot = self._store.snapshot()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.rollback()
        finally:
            self._store.holder = None
            self._store.lock.release()

    async def commit(self) -> None:
        self._snapshot = self._store.snapshot()

    async def rollback(self) -> None:
        if self._snapshot is not None:
            self._store.restore(self._snapshot)


class InMemoryTransactions(Transactions[InMemoryTransaction]):
    def __init__(self, store: InMemoryStore, clock: Clock, ids: IdGenerator) -> None:
        self.store = store
        self._clock = clock
        self._ids = ids

    def __call__(self) -> InMemoryTransaction:
        return InMemoryTransaction(self.store, self._clock, self._ids)
