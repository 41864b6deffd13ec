"""Unit of work and repositories: the core's view of the source-of-truth database."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from admin_core.domain.common import OffsetPage
from admin_core.domain.providers import Provider
from admin_core.domain.tenants import OrgMapping, Tenant, TenantQuery
from admin_core.ports.audit import AuditLog
from admin_core.ports.catalogue import CatalogueWriter


class ProviderRepository(Protocol):
    async def get(self, provider_id: str) -> Provider | None: ...

    async def add(self, provider: Provider) -> None: ...


class TenantRepository(Protocol):
    async def get(self, tenant_id: str) -> Tenant | None: ...

    async def get_by_provider(self, provider_id: str) -> Tenant | None: ...

    async def list(self, query: TenantQuery) -> OffsetPage[Tenant]:
        """Ordered by `created_at`, then id."""
        ...

    async def add(self, tenant: Tenant) -> None:
        """Raises `TenantAlreadyExists` when the id or the provider's tenant exists."""
        ...

    async def update(self, tenant: Tenant) -> None: ...


class OrgMappingRepository(Protocol):
    async def tenant_for_org(self, org_id: str) -> str | None: ...

    async def for_tenant(self, tenant_id: str) -> OrgMapping | None: ...

    async def add(self, mapping: OrgMapping) -> None: ...


class UnitOfWork(Protocol):
    """One transaction. Leaving the block without `commit()` rolls everything back."""

    providers: ProviderRepository
    tenants: TenantRepository
    org_mappings: OrgMappingRepository
    audit: AuditLog
    catalogue: CatalogueWriter

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...
