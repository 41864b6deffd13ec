"""Users of a tenant and the roles granted to them."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime

#: An identity provider's user id (`user_2abc`).
USER_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}")
#: The syntax of a role name (`org:admin`); which roles exist is the role policy's.
ROLE = re.compile(r"[a-z][a-z0-9_:-]{0,63}")


@dataclass(frozen=True, slots=True, kw_only=True)
class UserContact:
    """Contact details cached from the identity provider when a role is granted."""

    id: str
    email: str | None
    name: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRole:
    """One role granted to one user in one tenant (or in the platform organisation)."""

    tenant_id: str
    user_id: str
    role: str
    granted_by: str
    granted_at: datetime


class UserSource(enum.StrEnum):
    """Where a listed user was found."""

    LOCAL = "local"  # roles granted here, but not a member of the tenant's organisation
    CLERK = "clerk"  # a member of the organisation, without a role granted here
    BOTH = "both"


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantUser:
    user_id: str
    email: str | None
    name: str | None
    roles: tuple[str, ...]
    org_role: str | None  # the role of the user's membership in the tenant's organisation
    source: UserSource


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleChange:
    """The outcome of a grant or revoke. `changed` is False for a no-op (the user already had
    the role, or did not have it): nothing was written and no audit entry exists."""

    tenant_id: str
    user_id: str
    role: str
    changed: bool
    roles: tuple[str, ...]
    org_role: str | None
