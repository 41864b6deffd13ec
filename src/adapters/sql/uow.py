"""The SQL unit of work: one pooled connection, one transaction, rolled back unless committed.

Repositories run Core statements on the connection directly; there is no ORM session (no
identity map or flush to pay for on every transaction)."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sql.audit import SqlAuditLog
from adapters.sql.catalogue import SqlCatalogueWriter
from adapters.sql.engine import WriterGate, is_sqlite
from adapters.sql.tenants import (
    SqlOrgMappingRepository,
    SqlProviderRepository,
    SqlTenantRepository,
)
from adapters.sql.users import SqlUserDirectory, SqlUserRoleRepository
from admin_core.ports.persistence import UnitOfWork
from admin_core.ports.runtime import Clock, IdGenerator


class SqlUnitOfWork(UnitOfWork):
    def __init__(
        self,
        engine: AsyncEngine,
        gate: WriterGate,
        clock: Clock,
        ids: IdGenerator,
    ) -> None:
        self._engine = engine
        self._gate = gate
        self._clock = clock
        self._ids = ids
        self._connection: AsyncConnection | None = None

    @property
    def connection(self) -> AsyncConnection:
        if self._connection is None:
            raise RuntimeError("unit of work used outside its `async with` block")
        return self._connection

    async def __aenter__(self) -> Self:
        await self._gate.__aenter__()
        try:
            self._connection = await self._engine.connect()
        except BaseException:
            await self._gate.__aexit__()
            raise
        self.providers = SqlProviderRepository(self._connection)
        self.tenants = SqlTenantRepository(self._connection)
        self.org_mappings = SqlOrgMappingRepository(self._connection)
        self.users = SqlUserDirectory(self._connection)
        self.user_roles = SqlUserRoleRepository(self._connection)
        self.audit = SqlAuditLog(self._connection, self._clock, self._ids)
        self.catalogue = SqlCatalogueWriter(self._connection)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.connection.close()  # rolls back whatever was not committed
        finally:
            self._connection = None
            await self._gate.__aexit__()

    async def commit(self) -> None:
        # The next statement begins a new transaction (autobegin).
        await self.connection.commit()

    async def rollback(self) -> None:
        await self.connection.rollback()


class SqlUnitOfWorkFactory:
    def __init__(self, engine: AsyncEngine, clock: Clock, ids: IdGenerator) -> None:
        self.engine = engine
        self._clock = clock
        self._ids = ids
        self._gate = WriterGate(enabled=is_sqlite(engine.url))

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, self._gate, self._clock, self._ids)
