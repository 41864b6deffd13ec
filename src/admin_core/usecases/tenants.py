"""Tenant use cases."""

from __future__ import annotations

from admin_core.auth import Permission, Principal
from admin_core.domain.common import MAX_OFFSET_LIMIT, OffsetPage
from admin_core.domain.tenants import Tenant, TenantQuery
from admin_core.errors import FieldError, ValidationFailed
from admin_core.ports.persistence import UnitOfWorkFactory


def check_page(limit: int, offset: int, max_limit: int = MAX_OFFSET_LIMIT) -> None:
    errors = []
    if not 1 <= limit <= max_limit:
        errors.append(FieldError(field="limit", message=f"must be between 1 and {max_limit}"))
    if offset < 0:
        errors.append(FieldError(field="offset", message="must be 0 or more"))
    if errors:
        raise ValidationFailed(errors)


class ListTenants:
    """List tenants, oldest first.

    Rules: needs `tenant:manage`; a tenant-scoped caller sees only its own tenant, and naming
    another tenant is refused (403). Suspended tenants are listed too.
    """

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def execute(self, principal: Principal, query: TenantQuery) -> OffsetPage[Tenant]:
        check_page(query.limit, query.offset)
        tenant_id = principal.visible_tenant(query.tenant_id, Permission.TENANT_MANAGE)
        scoped = TenantQuery(
            tenant_id=tenant_id, status=query.status, limit=query.limit, offset=query.offset
        )
        async with self._uow() as uow:
            return await uow.tenants.list(scoped)
