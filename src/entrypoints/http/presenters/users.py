"""Users and role changes on the wire (SPEC §6.9)."""

from __future__ import annotations

from admin_core.kernel.paging import OffsetPage
from admin_core.users.model import RoleChange, TenantUser
from entrypoints.http.schemas import Out


class TenantUserOut(Out, frozen=True):
    user_id: str
    email: str | None
    name: str | None
    roles: list[str]
    org_role: str | None
    source: str


class TenantUsersOut(Out, frozen=True):
    tenant_id: str
    users: list[TenantUserOut]
    total: int
    #: False when the tenant's organisation has more members than a list reads (10,000):
    #: `total` then estimates the whole, and the pages hold the members that were read.
    total_exact: bool
    limit: int
    offset: int
    #: Where the next page starts (null on the last page): send it as `cursor`.
    next_cursor: str | None


class RoleChangeOut(Out, frozen=True):
    tenant_id: str
    user_id: str
    role: str
    changed: bool
    roles: list[str]
    org_role: str | None


def tenant_users_out(tenant_id: str, page: OffsetPage[TenantUser]) -> TenantUsersOut:
    return TenantUsersOut(
        tenant_id=tenant_id,
        users=[
            TenantUserOut(
                user_id=u.user_id,
                email=u.email,
                name=u.name,
                roles=list(u.roles),
                org_role=u.org_role,
                source=u.source.value,
            )
            for u in page.items
        ],
        total=page.total,
        total_exact=page.total_exact,
        limit=page.limit,
        offset=page.offset,
        next_cursor=page.next_cursor,
    )


def role_change_out(change: RoleChange) -> RoleChangeOut:
    return RoleChangeOut(
        tenant_id=change.tenant_id,
        user_id=change.user_id,
        role=change.role,
        changed=change.changed,
        roles=list(change.roles),
        org_role=change.org_role,
    )
