"""Errors of the tenants area (SPEC §4, §6.8)."""

from __future__ import annotations

from admin_core.kernel.errors import AdminError


class TenantNotFound(AdminError):
    code = "TENANT_NOT_FOUND"
    default_message = "Tenant not found."


class TenantAlreadyExists(AdminError):
    code = "TENANT_ALREADY_EXISTS"
    default_message = "The tenant already exists."
