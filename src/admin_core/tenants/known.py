"""Whether a tenant exists, for the areas that act on a tenant's things (flags, triage)."""

from __future__ import annotations

from admin_core.kernel.transaction import Transactions
from admin_core.tenants.errors import TenantNotFound
from admin_core.tenants.ports import TenantLookupTransaction


class KnownTenants:
    """`require(tenant_id)` raises TENANT_NOT_FOUND for a tenant that does not exist. Tenants
    are never deleted, so a tenant once found is remembered and not looked up again: a hot
    read of a tenant's flags costs no database round trip."""

    def __init__(self, transactions: Transactions[TenantLookupTransaction]) -> None:
        self._transactions = transactions
        self._known: set[str] = set()

    async def require(self, tenant_id: str) -> None:
        if tenant_id in self._known:
            return
        async with self._transactions() as tx:
            tenant = await tx.tenants.get(tenant_id)
        if tenant is None:
            raise TenantNotFound(details={"tenant_id": tenant_id})
        self._known.add(tenant_id)
