"""The in-memory unit of work: snapshot on begin, restore unless committed."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from adapters.memory.audit import InMemoryAuditLog
from adapters.memory.catalogue import InMemoryCatalogueWriter
from adapters.memory.store import InMemoryStore
from adapters.memory.tenants import (
    InMemoryOrgMappingRepository,
    InMemoryProviderRepository,
    InMemoryTenantRepository,
)
from adapters.memory.users import InMemoryUserDirectory, InMemoryUserRoleRepository
from admin_core.ports.persistence import UnitOfWork
from admin_core.ports.runtime import Clock, IdGenerator


class InMemoryUnitOfWork(UnitOfWork):
    def __init__(self, store: InMemoryStore, clock: Clock, ids: IdGenerator) -> None:
        self._store = store
        self._snapshot: dict[str, Any] | None = None
        self.audit = InMemoryAuditLog(store, clock, ids)
        self.providers = InMemoryProviderRepository(store)
        self.tenants = InMemoryTenantRepository(store)
        self.org_mappings = InMemoryOrgMappingRepository(store)
        self.catalogue = InMemoryCatalogueWriter(store)
        self.users = InMemoryUserDirectory(store)
        self.user_roles = InMemoryUserRoleRepository(store)

    async def __aenter__(self) -> Self:
        await self._store.lock.acquire()
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
            self._store.lock.release()

    async def commit(self) -> None:
        self._snapshot = self._store.snapshot()

    async def rollback(self) -> None:
        if self._snapshot is not None:
            self._store.restore(self._snapshot)


class InMemoryUnitOfWorkFactory:
    def __init__(self, store: InMemoryStore, clock: Clock, ids: IdGenerator) -> None:
        self.store = store
        self._clock = clock
        self._ids = ids

    def __call__(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.store, self._clock, self._ids)
