"""The role → permission policy (SPEC §5). Plain data, so operators can configure it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from admin_core.kernel.principal import OrgKind, Permission

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
    """Role → permissions, separately for platform orgs and tenant orgs.

    No tenant role may hold `super_admin` (ValueError): it reaches every tenant, so a tenant's
    members holding it would act on every other tenant (SPEC §5: ignored in a tenant's org).
    """

    platform: Mapping[str, frozenset[Permission]]
    tenant: Mapping[str, frozenset[Permission]]

    def __post_init__(self) -> None:
        everywhere = sorted(
            role for role, granted in self.tenant.items() if Permission.SUPER_ADMIN in granted
        )
        if everywhere:
            raise ValueError(
                f"tenant roles cannot hold {Permission.SUPER_ADMIN.value}, which reaches every "
                f"tenant: {', '.join(everywhere)}"
            )

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
        """Build from `{"platform": {role: [perm, ...]}, "tenant": {...}}` (e.g. parsed JSON).
        A section left out gives nothing; any other key (a file that is some other JSON, a
        misspelt section) or a role's permissions given as one string is a `ValueError`:
        read as a policy, it would silently grant no role anything."""
        unknown = sorted(set(raw) - {"platform", "tenant"})
        if unknown:
            raise ValueError(
                f"unknown section {unknown[0]!r}: a role policy has 'platform' and 'tenant'"
            )

        def table(section: str) -> dict[str, frozenset[Permission]]:
            roles = raw.get(section, {})
            for role, perms in roles.items():
                if isinstance(perms, str):
                    raise ValueError(f"{section}.{role}: the permissions must be a list")
            return {
                normalise_role(role) or role: frozenset(Permission(p) for p in perms)
                for role, perms in roles.items()
            }

        return cls(platform=table("platform"), tenant=table("tenant"))
