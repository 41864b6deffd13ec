"""Ports of authentication: verifying session tokens (Clerk JWTs in production, a local
issuer when embedded)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from admin_core.kernel.transaction import Transaction
from admin_core.tenants.ports import OrgMappingRepository


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionClaims:
    """The verified claims of a session token, normalised from the v1 or v2 format (SPEC §5).
    The core authorises on `user_id`, `org_id` and `org_role` (the role policy maps roles to
    permissions); `session_id` and Clerk's own `org_permissions` are read for services that
    embed the core and want them, not used by its rules."""

    user_id: str
    session_id: str | None = None
    org_id: str | None = None
    org_role: str | None = None
    org_permissions: tuple[str, ...] = field(default_factory=tuple)


class SessionTokenVerifier(Protocol):
    async def verify(self, token: str) -> SessionClaims:
        """Raises `AuthTokenInvalid` or `AuthTokenExpired`; `IdentityProviderUnavailable` when
        the keys to check it cannot be fetched."""
        ...


class OrgLookupTransaction(Transaction, Protocol):
    """A transaction that resolves an organisation to its tenant."""

    org_mappings: OrgMappingRepository
