"""Transactions that fail on purpose, wrapping real ones: for atomicity tests.

`FaultyTransactions(inner, fail_tenant_add=True)` raises right after the provider insert
of a provider + tenant creation; `fail_commit=True` raises when the transaction is committed.
Everything else is the real adapter underneath.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from admin_core.kernel.paging import OffsetPage
from admin_core.kernel.transaction import Transactions
from admin_core.tenants.model import Tenant, TenantStatus
from admin_core.tenants.ports import TenantRepository


class InjectedFailure(RuntimeError):
    """The failure a test asked for."""


class FailingTenantRepository(TenantRepository):
    """Reads go through; `add` fails as a broken database would."""

    def __init__(self, inner: TenantRepository) -> None:
        self._inner = inner

    async def get(self, tenant_id: str, *, lock: bool = False) -> Tenant | None:
        return await self._inner.get(tenant_id, lock=lock)

    async def get_by_provider(self, provider_id: str) -> Tenant | None:
        return await self._inner.get_by_provider(provider_id)

    async def list(
        self,
        *,
        tenant_id: str | None = None,
        status: TenantStatus | None = None,
        limit: int,
        offset: int,
    ) -> OffsetPage[Tenant]:
        return await self._inner.list(
            tenant_id=tenant_id, status=status, limit=limit, offset=offset
        )

    async def add(self, tenant: Tenant) -> None:
        raise InjectedFailure("tenant insert failed")

    async def update(self, tenant: Tenant) -> None:
        await self._inner.update(tenant)


class FaultyTransaction:
    def __init__(self, inner: Any, *, fail_tenant_add: bool, fail_commit: bool) -> None:
        self._inner = inner
        self._fail_tenant_add = fail_tenant_add
        self._fail_commit = fail_commit

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def tenants(self) -> TenantRepository:
        if self._fail_tenant_add:
            return FailingTenantRepository(self._inner.tenants)
        return self._inner.tenants

    async def __aenter__(self) -> Self:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._inner.__aexit__(exc_type, exc, tb)

    async def commit(self) -> None:
        if self._fail_commit:
            raise InjectedFailure("commit failed")
        await self._inner.commit()

    async def rollback(self) -> None:
        await self._inner.rollback()


class FaultyTransactions:
    def __init__(
        self, inner: Transactions[Any], *, fail_tenant_add: bool = False, fail_commit: bool = False
    ) -> None:
        self.inner = inner
        self.fail_tenant_add = fail_tenant_add
        self.fail_commit = fail_commit

    def __call__(self) -> Any:
        return FaultyTransaction(
            self.inner(), fail_tenant_add=self.fail_tenant_add, fail_commit=self.fail_commit
        )
