"""The SQL unit of work: one session, one transaction, rolled back unless committed."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

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
        sessions: async_sessionmaker[AsyncSession],
        gate: WriterGate,
        clock: Clock,
        ids: IdGenerator,
    ) -> None:
        self._sessions = sessions
        self._gate = gate
        self._clock = clock
        self._ids = ids
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("unit of work used outside its `async with` block")
        return self._session

    async def __aenter__(self) -> Self:
        await self._gate.__aenter__()
        try:
            self._session = self._sessions()
            await self._session.begin()
        except BaseException:
            await self._gate.__aexit__()
            raise
        self.providers = SqlProviderRepository(self._session)
        self.tenants = SqlTenantRepository(self._session)
        self.org_mappings = SqlOrgMappingRepository(self._session)
        self.users = SqlUserDirectory(self._session)
        self.user_roles = SqlUserRoleRepository(self._session)
        self.audit = SqlAuditLog(self._session, self._clock, self._ids)
        self.catalogue = SqlCatalogueWriter(self._session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.session.rollback()
            await self.session.close()
        finally:
            self._session = None
            await self._gate.__aexit__()

    async def commit(self) -> None:
        await self.session.commit()
        await self.session.begin()

    async def rollback(self) -> None:
        await self.session.rollback()
        await self.session.begin()


class SqlUnitOfWorkFactory:
    def __init__(self, engine: AsyncEngine, clock: Clock, ids: IdGenerator) -> None:
        self.engine = engine
        self._clock = clock
        self._ids = ids
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._gate = WriterGate(enabled=is_sqlite(engine.url))

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._sessions, self._gate, self._clock, self._ids)
