"""Ports of the tenants area: tenants, the organisations mapped to them, and the transaction
tenant use cases work in."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from admin_core.audit.ports import AuditLog
from admin_core.directory.ports import ProviderRepository
from admin_core.kernel.paging import OffsetPage
from admin_core.kernel.transaction import Transaction
from admin_core.tenants.model import OrgMapping, Tenant, TenantStatus


class TenantRepository(Protocol):
    async def get(self, tenant_id: str, *, lock: bool = False) -> Tenant | None:
        """`lock=True` for a tenant about to be changed from what is read: a concurrent change
        waits until this transaction ends, then reads what it wrote."""
        ...

    async def get_by_provider(self, provider_id: str) -> Tenant | None: ...

    async def list(
        self,
        *,
        tenant_id: str | None = None,
        status: TenantStatus | None = None,
        limit: int,
        offset: int,
        after: tuple[datetime, str] | None = None,
    ) -> OffsetPage[Tenant]:
        """Ordered by `created_at`, then id (code point order); `tenant_id` and `status`
        narrow the list; `after` (a tenant's `created_at` and id): only the tenants after it
        in that order (the total still counts every match). The page and its total are read
        at one instant, a page past the end too."""
        ...

    async def add(self, tenant: Tenant) -> None:
        """Raises `TenantAlreadyExists` when the id or the provider's tenant exists."""
        ...

    async def update(self, tenant: Tenant) -> None: ...


class OrgMappingRepository(Protocol):
    async def tenant_for_org(self, org_id: str) -> str | None: ...

    async def for_tenant(self, tenant_id: str) -> OrgMapping | None: ...

    async def add(self, mapping: OrgMapping) -> None:
        """Raises `TenantAlreadyExists` when the organisation or the tenant is mapped."""
        ...

    async def remove(self, org_id: str) -> None: ...


class OrgCache(Protocol):
    """Where org → tenant lookups are cached (`Authenticate`); told when a mapping changes."""

    def forget_org(self, org_id: str) -> None: ...


class TenantLookupTransaction(Transaction, Protocol):
    """A transaction that reads tenants (other areas check that a tenant exists)."""

    tenants: TenantRepository


class TenantsTransaction(Transaction, Protocol):
    """What tenant use cases read and write in one transaction."""

    providers: ProviderRepository
    tenants: TenantRepository
    org_mappings: OrgMappingRepository
    audit: AuditLog
