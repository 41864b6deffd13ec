"""In-memory provider, tenant and org-mapping repositories."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from adapters.memory.store import InMemoryStore
from admin_core.directory.model import Provider
from admin_core.directory.ports import ProviderRepository
from admin_core.kernel.paging import OffsetPage
from admin_core.tenants.errors import TenantAlreadyExists
from admin_core.tenants.model import OrgMapping, Tenant, TenantStatus
from admin_core.tenants.ports import OrgMappingRepository, TenantRepository


class InMemoryProviderRepository(ProviderRepository):
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    async def get(self, provider_id: str) -> Provider | None:
        return self._store.providers.get(provider_id)

    async def add(self, provider: Provider) -> None:
        accreditations = tuple(sorted(set(provider.accreditations)))
        self._store.providers[provider.id] = replace(provider, accreditations=accreditations)


class InMemoryTenantRepository(TenantRepository):
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    async def get(self, tenant_id: str, *, lock: bool = False) -> Tenant | None:
        # A transaction holds the whole store until it ends: every read is locked.
        return self._store.tenants.get(tenant_id)

    async def get_by_provider(self, provider_id: str) -> Tenant | None:
        return next((t for t in self._store.tenants.values() if t.provider_id == provider_id), None)

    async def list(
        self,
        *,
        tenant_id: str | None = None,
        status: TenantStatus | None = None,
        limit: int,
        offset: int,
        after: tuple[datetime, str] | None = None,
    ) -> OffsetPage[Tenant]:
        rows = sorted(self._store.tenants.values(), key=lambda t: (t.created_at, t.id))
        if tenant_id is not None:
            rows = [t for t in rows if t.id == tenant_id]
        if status is not None:
            rows = [t for t in rows if t.status is status]
        following = [t for t in rows if after is None or (t.created_at, t.id) > after]
        page = following[offset : offset + limit]
        return OffsetPage(items=page, total=len(rows), limit=limit, offset=offset)

    async def add(self, tenant: Tenant) -> None:
        if tenant.id in self._store.tenants:
            raise TenantAlreadyExists(details={"tenant_id": tenant.id})
        if tenant.provider_id is not None and await self.get_by_provider(tenant.provider_id):
            raise TenantAlreadyExists(
                "The provider already has a tenant.", details={"provider_id": tenant.provider_id}
            )
        self._store.tenants[tenant.id] = tenant

    async def update(self, tenant: Tenant) -> None:
        self._store.tenants[tenant.id] = tenant


class InMemoryOrgMappingRepository(OrgMappingRepository):
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    async def tenant_for_org(self, org_id: str) -> str | None:
        mapping = self._store.org_mappings.get(org_id)
        return mapping.tenant_id if mapping else None

    async def for_tenant(self, tenant_id: str) -> OrgMapping | None:
        return next(
            (m for m in self._store.org_mappings.values() if m.tenant_id == tenant_id), None
        )

    async def add(self, mapping: OrgMapping) -> None:
        owner = await self.tenant_for_org(mapping.org_id)
        current = await self.for_tenant(mapping.tenant_id)
        if owner is not None or current is not None:
            raise TenantAlreadyExists(
                "The organisation or the tenant is already mapped.",
                field="clerk_org_id",
                details={"clerk_org_id": mapping.org_id, "tenant_id": mapping.tenant_id},
            )
        self._store.org_mappings[mapping.org_id] = mapping

    async def remove(self, org_id: str) -> None:
        self._store.org_mappings.pop(org_id, None)
