"""Unit of work and repositories: the core's view of the source-of-truth database."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from types import TracebackType
from typing import Protocol, Self

from admin_core.domain.common import OffsetPage
from admin_core.domain.providers import Provider
from admin_core.domain.tenants import OrgMapping, Tenant, TenantQuery
from admin_core.domain.users import DirectoryUser, UserRole
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

    async def remove(self, org_id: str) -> None: ...


class UserDirectory(Protocol):
    """Users' contact details, cached from the identity provider."""

    async def upsert(self, user: DirectoryUser) -> None: ...

    async def get_many(self, user_ids: Collection[str]) -> dict[str, DirectoryUser]: ...


class UserRoleRepository(Protocol):
    async def add(self, grant: UserRole) -> bool:
        """False (and nothing written) when the user already holds the role in the tenant."""
        ...

    async def remove(self, tenant_id: str, user_id: str, role: str) -> bool:
        """False when there was nothing to remove."""
        ...

    async def roles_of(self, tenant_id: str, user_id: str) -> tuple[str, ...]:
        """The user's roles in the tenant, sorted."""
        ...

    async def for_tenant(self, tenant_id: str) -> Sequence[UserRole]:
        """Every grant in the tenant, ordered by user id, then role."""
        ...

    async def holders(self, tenant_id: str, role: str, *, lock: bool = False) -> tuple[str, ...]:
        """Ids of the users holding `role` in the tenant, sorted. `lock=True` locks those
        grants until the transaction ends, so a concurrent revoke waits and then counts
        again."""
        ...


class UnitOfWork(Protocol):
    """One transaction. Leaving the block without `commit()` rolls everything back."""

    providers: ProviderRepository
    tenants: TenantRepository
    org_mappings: OrgMappingRepository
    users: UserDirectory
    user_roles: UserRoleRepository
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
