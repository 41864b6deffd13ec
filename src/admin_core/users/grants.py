"""Who may grant or revoke which role where (SPEC §5: no escalation), and which single role a
user's organisation membership carries.

A role's reach is its permission set in the kind of organisation it is granted in, taken from
the configured `RolePolicy`. Rules:
- a role the policy does not know → ROLE_NOT_ALLOWED 422;
- a tenant-scoped caller grants and revokes only tenant roles (never a platform-only role such
  as `org:super_admin` or `org:coordinator`) → otherwise 403;
- a role must exist in the kind of organisation it is granted in (a platform-only role means
  nothing in a tenant's organisation) → otherwise 422;
- the role's permissions must be a subset of the caller's own (a super-admin holds them all) →
  otherwise 403. Revoking follows the same rule, so nobody removes a role stronger than theirs.
"""

from __future__ import annotations

from collections.abc import Iterable

from admin_core.auth.policy import ROLES, RolePolicy
from admin_core.kernel.principal import PLATFORM_TENANT_ID, OrgKind, Permission, Principal, Scope
from admin_core.users.errors import RoleNotAllowed


def org_kind(tenant_id: str) -> OrgKind:
    return OrgKind.PLATFORM if tenant_id == PLATFORM_TENANT_ID else OrgKind.TENANT


def platform_only_roles(policy: RolePolicy) -> frozenset[str]:
    return frozenset(policy.platform) - frozenset(policy.tenant)


def roles_of_kind(policy: RolePolicy, kind: OrgKind) -> frozenset[str]:
    """Roles that mean something in that kind of organisation. In a tenant's organisation that
    includes the roles without permissions (staff, doctors, facilitators)."""
    if kind is OrgKind.PLATFORM:
        return frozenset(policy.platform)
    return policy.known_roles() - platform_only_roles(policy)


def check_role_change(
    principal: Principal, policy: RolePolicy, role: str, kind: OrgKind, *, granting: bool
) -> None:
    if role not in policy.known_roles():
        raise RoleNotAllowed(
            f"Unknown role {role!r}.", unknown=True, field="role", details={"role": role}
        )
    tenant_scoped = principal.scope is not Scope.PLATFORM and not principal.is_super_admin
    if tenant_scoped and role in platform_only_roles(policy):
        raise RoleNotAllowed(
            "Tenant-scoped callers can grant and revoke only tenant roles.",
            unknown=False,
            details={"role": role},
        )
    if granting and role not in roles_of_kind(policy, kind):
        raise RoleNotAllowed(
            f"{role} is not a role of a {kind.value} organisation.",
            unknown=True,
            field="role",
            details={"role": role, "organisation": kind.value},
        )
    if principal.is_super_admin:
        return
    if not policy.permissions(role, kind) <= principal.permissions:
        raise RoleNotAllowed(
            f"{role} gives more than your own role does.",
            unknown=False,
            details={"role": role},
        )


def _strength(policy: RolePolicy, kind: OrgKind, role: str) -> tuple[bool, int, int]:
    permissions = policy.permissions(role, kind)
    order = ROLES.index(role) if role in ROLES else len(ROLES)
    return (Permission.SUPER_ADMIN in permissions, len(permissions), -order)


def membership_role(policy: RolePolicy, kind: OrgKind, roles: Iterable[str]) -> str | None:
    """The one role the user's organisation membership carries: the strongest of their roles
    (super-admin first, then most permissions, then the order of `ROLES`). None: no
    membership."""
    held = list(roles)
    if not held:
        return None
    return max(held, key=lambda role: _strength(policy, kind, role))
