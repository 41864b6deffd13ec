"""Principals, permissions and the role → permission policy (SPEC §5).

The policy is plain data so operators can configure it; `Principal.can` is the single place
that decides whether a permission reaches a tenant.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from admin_core.errors import InsufficientPermission


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


ROLES: tuple[str, ...] = (
    "org:super_admin",
    "org:admin",
    "org:coordinator",
    "org:provider:admin",
    "org:provider:staff",
    "org:mso:doctor",
    "org:facilitator",
)


def normalise_role(role: str | None) -> str | None:
    """Clerk v2 claims drop the `org:` prefix (`admin`); v1 keeps it (`org:admin`)."""
    if not role:
        return None
    return role if role.startswith("org:") else f"org:{role}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RolePolicy:
    """Role → permissions, separately for platform orgs and tenant orgs."""

    platform: Mapping[str, frozenset[Permission]]
    tenant: Mapping[str, frozenset[Permission]]

    def permissions(self, role: str | None, kind: OrgKind) -> frozenset[Permission]:
        if role is None:
            return frozenset()
        table = self.platform if kind is OrgKind.PLATFORM else self.tenant
        return table.get(role, frozenset())

    def known_roles(self) -> frozenset[str]:
        return frozenset(ROLES) | frozenset(self.platform) | frozenset(self.tenant)

    @classmethod
    def default(cls) -> RolePolicy:
        p = Permission
        return cls(
            platform={
                "org:super_admin": frozenset({p.SUPER_ADMIN}),
                "org:admin": frozenset({p.TENANT_MANAGE, p.GRAPH_REBUILD, p.AUDIT_READ}),
                "org:coordinator": frozenset({p.AUDIT_READ}),
            },
            tenant={
                "org:admin": frozenset({p.TENANT_MANAGE, p.AUDIT_READ}),
                "org:provider:admin": frozenset({p.TENANT_MANAGE, p.AUDIT_READ}),
            },
        )

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Mapping[str, Iterable[str]]]) -> RolePolicy:
        """Build from `{"platform": {role: [perm, ...]}, "tenant": {...}}` (e.g. parsed JSON)."""

        def table(section: str) -> dict[str, frozenset[Permission]]:
            return {
                normalise_role(role) or role: frozenset(Permission(p) for p in perms)
                for role, perms in raw.get(section, {}).items()
            }

        return cls(platform=table("platform"), tenant=table("tenant"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who is calling, normalised from either token format (or the CLI operator)."""

    user_id: str
    org_id: str | None
    role: str | None
    tenant_id: str | None
    scope: Scope
    permissions: frozenset[Permission] = field(default_factory=frozenset)

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
            raise InsufficientPermission(
                details={"permission": permission.value}
                | ({"tenant_id": tenant_id} if tenant_id else {})
            )

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
    def operator(cls, user: str) -> Principal:
        """The CLI's principal: a platform operator (`cli:<user>`) with every permission."""
        return cls(
            user_id=f"cli:{user}",
            org_id=None,
            role="org:super_admin",
            tenant_id=None,
            scope=Scope.PLATFORM,
            permissions=frozenset({Permission.SUPER_ADMIN}),
        )
