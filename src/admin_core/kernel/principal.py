"""Who is acting and how far their permissions reach (SPEC §5).

`Principal.can` is the single place that decides whether a permission reaches a tenant. The
role → permission policy that produces a principal's permissions lives in `admin_core.auth`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from admin_core.kernel.errors import InsufficientPermission

#: The tenant id under which platform-wide things are kept: the platform organisation's users
#: and roles, and directory nodes that belong to no tenant. Reserved (ADR 0020): no tenant
#: may use it as its id.
PLATFORM_TENANT_ID = "platform"


class Permission(enum.StrEnum):
    SUPER_ADMIN = "super_admin"
    TENANT_MANAGE = "tenant:manage"
    GRAPH_REBUILD = "graph:rebuild"
    AUDIT_READ = "audit:read"


class Scope(enum.StrEnum):
    """How far a principal's permissions reach."""

    PLATFORM = "platform"  # every tenant
    TENANT = "tenant"  # its own tenant only
    NONE = "none"  # no organisation, or one that maps to no tenant


class OrgKind(enum.StrEnum):
    PLATFORM = "platform"
    TENANT = "tenant"


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who is acting, normalised from either token format (or the CLI operator), and within
    which request: `request_id` ties the audit entries they cause to the HTTP logs."""

    user_id: str
    org_id: str | None
    role: str | None
    tenant_id: str | None
    scope: Scope
    permissions: frozenset[Permission] = field(default_factory=frozenset)
    request_id: str | None = None

    @property
    def is_super_admin(self) -> bool:
        return Permission.SUPER_ADMIN in self.permissions

    def has(self, permission: Permission) -> bool:
        return self.is_super_admin or permission in self.permissions

    def reaches(self, tenant_id: str) -> bool:
        """Whether this principal's permissions apply to `tenant_id`."""
        if self.scope is Scope.PLATFORM:
            return True
        return self.scope is Scope.TENANT and self.tenant_id == tenant_id

    def can(
        self, permission: Permission, *, tenant_id: str | None = None, platform: bool = False
    ) -> bool:
        """`platform=True` demands platform scope; `tenant_id` demands reach to that tenant."""
        if self.is_super_admin:
            return True
        if permission not in self.permissions:
            return False
        if platform and self.scope is not Scope.PLATFORM:
            return False
        return tenant_id is None or self.reaches(tenant_id)

    def require(
        self, permission: Permission, *, tenant_id: str | None = None, platform: bool = False
    ) -> None:
        if not self.can(permission, tenant_id=tenant_id, platform=platform):
            raise denied(permission, tenant_id=tenant_id, platform=platform)

    def visible_tenant(self, requested: str | None, permission: Permission) -> str | None:
        """The tenant filter a list query must use: a tenant-scoped caller sees only its own.

        Platform callers get `requested` back (None = all tenants).
        """
        if requested is not None:
            self.require(permission, tenant_id=requested)
            return requested
        self.require(permission)
        if self.scope is Scope.PLATFORM or self.is_super_admin:
            return None
        if self.tenant_id is None:
            raise InsufficientPermission()
        return self.tenant_id

    @classmethod
    def operator(cls, user: str, *, request_id: str | None = None) -> Principal:
        """The CLI's principal: a platform operator (`cli:<user>`) with every permission."""
        return cls._platform(f"cli:{user}", request_id)

    @classmethod
    def system(cls, task: str, *, request_id: str) -> Principal:
        """A task the server runs on its own (`system:<task>`: reconcile, checkpoints), with
        every permission; each pass is a request of its own."""
        return cls._platform(f"system:{task}", request_id)

    @classmethod
    def _platform(cls, user_id: str, request_id: str | None) -> Principal:
        return cls(
            user_id=user_id,
            org_id=None,
            role="org:super_admin",
            tenant_id=None,
            scope=Scope.PLATFORM,
            permissions=frozenset({Permission.SUPER_ADMIN}),
            request_id=request_id,
        )


def denied(
    permission: Permission, *, tenant_id: str | None = None, platform: bool = False
) -> InsufficientPermission:
    """The 403 of a permission that does not reach: the permission, and what it had to reach
    (the tenant named, or the platform scope), so that a role holding the permission in its
    own tenant is told what it lacks."""
    details: dict[str, str] = {"permission": permission.value}
    if tenant_id:
        details["tenant_id"] = tenant_id
    if platform:
        details["scope"] = "platform"
    return InsufficientPermission(details=details)
