"""Users and roles of a tenant (SPEC §6.9). `platform` as the tenant id names the platform
organisation (only platform callers reach it)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from admin_core.audit import Actor
from admin_core.kernel.principal import Permission, Principal
from admin_core.users.model import RoleChange
from admin_core.users.use_cases import GrantRole, ListTenantUsers, RevokeRole
from entrypoints.http.envelope import ok, request_id_of
from entrypoints.http.schemas import SuccessEnvelope
from entrypoints.http.security import requires
from entrypoints.http.tenant_schemas import (
    RoleChangeOut,
    RoleIn,
    TenantUserOut,
    TenantUsersOut,
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


class TenantUserController(Controller):
    path = "/api/v1/admin/tenants/{tenant_id:str}/users"
    tags = ["users"]  # noqa: RUF012 - Litestar reads it as a plain attribute
    guards = [requires(Permission.TENANT_MANAGE)]  # noqa: RUF012

    @get("/", summary="List a tenant's users and their roles")
    async def list_users(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        list_tenant_users: NamedDependency[ListTenantUsers],
        tenant_id: FromPath[str],
    ) -> Response[SuccessEnvelope[TenantUsersOut]]:
        """Users with roles granted here and members of the tenant's organisation."""
        users = await list_tenant_users.execute(principal, tenant_id)
        data = TenantUsersOut(
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
                for u in users
            ],
            total=len(users),
        )
        return ok(request, data, total=len(users))

    @post("/{user_id:str}/roles", summary="Grant a role")
    async def grant_role(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        grant_role: NamedDependency[GrantRole],
        tenant_id: FromPath[str],
        user_id: FromPath[str],
        data: JSONBody[RoleIn],
    ) -> Response[SuccessEnvelope[RoleChangeOut]]:
        """201 when granted; 200 when the user already had the role (nothing written)."""
        actor = Actor(principal=principal, request_id=request_id_of(request))
        change = await grant_role.execute(actor, tenant_id, user_id, data.role)
        status = HTTP_201_CREATED if change.changed else HTTP_200_OK
        return ok(request, role_change_out(change), status_code=status)

    @delete(
        "/{user_id:str}/roles/{role:path}",
        summary="Revoke a role",
        status_code=HTTP_204_NO_CONTENT,
    )
    async def revoke_role(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        revoke_role: NamedDependency[RevokeRole],
        tenant_id: FromPath[str],
        user_id: FromPath[str],
        role: FromPath[str],
    ) -> None:
        """Roles contain `:` (`org:admin`), sent as is or percent-encoded."""
        actor = Actor(principal=principal, request_id=request_id_of(request))
        await revoke_role.execute(actor, tenant_id, user_id, role.lstrip("/"))
