"""Errors of the provider directory."""

from __future__ import annotations

from admin_core.kernel.errors import AdminError


class ProviderNotFound(AdminError):
    code = "PROVIDER_NOT_FOUND"
    default_message = "Provider not found."
