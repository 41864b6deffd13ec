"""Errors of users and roles (SPEC §6.9)."""

from __future__ import annotations

from typing import Any

from admin_core.kernel.errors import AdminError


class UserNotFound(AdminError):
    code = "USER_NOT_FOUND"
    default_message = "The identity provider does not know this user."


class RoleNotAllowed(AdminError):
    """An unknown role (`unknown=True`, 422) or one the caller may not grant (403)."""

    code = "ROLE_NOT_ALLOWED"
    default_message = "This role cannot be granted."

    def __init__(self, message: str | None = None, *, unknown: bool, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.unknown = unknown


class IdentityProviderUnavailable(AdminError):
    code = "IDENTITY_PROVIDER_UNAVAILABLE"
    default_message = "The identity provider is unreachable."
