"""Users and roles of a tenant (SPEC §6.9). `platform` as the tenant id names the platform
organisation (only platform callers reach it)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from admin_core.kernel.paging import MAX_OFFSET, MAX_OFFSET_LIMIT
from admin_core.kernel.principal import Permission, Principal
from admin_core.tenants.errors import TenantNotFound
from admin_core.users.errors import UserNotFound
from admin_core.users.use_cases import (
    GrantRole,
    GrantRoleCommand,
    ListTenantUsers,
    ListTenantUsersQuery,
    RevokeRole,
    RevokeRoleCommand,
)
from entrypoints.http.dependencies import use_case
from entrypoints.http.envelope import ok
from entrypoints.http.fields import (
    ROLE_PATTERN,
    TENANT_ID_PATTERN,
    USER_ID_PATTERN,
    PageCursor,
)
from entrypoints.http.openapi import WRITE, errors
from entrypoints.http.presenters.users import (
    RoleChangeOut,
    TenantUsersOut,
    role_change_out,
    tenant_users_out,
)
from entrypoints.http.schemas import In, SuccessEnvelope
from entrypoints.http.security import requires

TenantPath = Annotated[
    str,
    PathParameter(
        pattern=TENANT_ID_PATTERN,
        max_length=64,
        description="A tenant id, or `platform` for the platform organisation.",
    ),
]
UserPath = Annotated[str, PathParameter(pattern=USER_ID_PATTERN, max_length=128)]
RolePath = Annotated[str, PathParameter(pattern=ROLE_PATTERN, max_length=64)]


class RoleIn(In, frozen=True):
    role: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=ROLE_PATTERN)]


class TenantUserController(Controller):
    path = "/api/v1/admin/tenants/{tenant_id:str}/users"
    tags = ["users"]  # noqa: RUF012 - Litestar reads it as a plain attribute
    opt = requires(Permission.TENANT_MANAGE)
    dependencies = {  # noqa: RUF012
        "list_tenant_users": use_case(lambda c: c.users.list_tenant_users),
        "grant_role": use_case(lambda c: c.users.grant_role),
        "revoke_role": use_case(lambda c: c.users.revoke_role),
    }

    @get(
        "/",
        summary="List a tenant's users and their roles",
        operation_id="listTenantUsers",
        responses=errors(TenantNotFound, 503),
    )
    async def list_users(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        list_tenant_users: NamedDependency[ListTenantUsers],
        tenant_id: TenantPath,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_OFFSET_LIMIT)] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)] = 0,
        cursor: PageCursor = None,
    ) -> Response[SuccessEnvelope[TenantUsersOut]]:
        """Users with roles granted here and members of the tenant's organisation, in user id
        order, a page at a time. An organisation with more than 10,000 members is listed from
        the first 10,000 the identity provider gives: `total` then estimates the whole and
        `total_exact` is false. A page with a next one gives `next_cursor`: sent as `cursor`
        (no offset), the next page starts right after this one's last user id, so none is
        read twice or skipped when users join or leave between pages."""
        page = await list_tenant_users.execute(
            principal,
            ListTenantUsersQuery(tenant_id=tenant_id, limit=limit, offset=offset, cursor=cursor),
        )
        return ok(
            request,
            tenant_users_out(tenant_id, page),
            total=page.total,
            total_exact=page.total_exact,
            limit=page.limit,
            offset=page.offset,
            next_cursor=page.next_cursor,
        )

    @post(
        "/{user_id:str}/roles",
        summary="Grant a role",
        operation_id="grantRole",
        responses={
            HTTP_200_OK: ResponseSpec(
                SuccessEnvelope[RoleChangeOut],
                description="The user already had the role: nothing was written",
                generate_examples=False,
            ),
            **errors(TenantNotFound, UserNotFound, 503, base=WRITE),
        },
    )
    async def grant_role(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        grant_role: NamedDependency[GrantRole],
        tenant_id: TenantPath,
        user_id: UserPath,
        data: JSONBody[RoleIn],
    ) -> Response[SuccessEnvelope[RoleChangeOut]]:
        """201 when granted; 200 when the user already had the role (nothing written)."""
        change = await grant_role.execute(
            principal, GrantRoleCommand(tenant_id=tenant_id, user_id=user_id, role=data.role)
        )
        status = HTTP_201_CREATED if change.changed else HTTP_200_OK
        return ok(request, role_change_out(change), status_code=status)

    @delete(
        "/{user_id:str}/roles/{role:str}",
        summary="Revoke a role",
        operation_id="revokeRole",
        status_code=HTTP_204_NO_CONTENT,
        responses=errors(TenantNotFound, 503),
    )
    async def revoke_role(
        self,
        principal: NamedDependency[Principal],
        revoke_role: NamedDependency[RevokeRole],
        tenant_id: TenantPath,
        user_id: UserPath,
        role: RolePath,
    ) -> None:
        """Roles contain `:` (`org:admin`), sent as is or percent-encoded."""
        await revoke_role.execute(
            principal, RevokeRoleCommand(tenant_id=tenant_id, user_id=user_id, role=role)
        )
