"""Errors of the second-opinion doctors (SPEC §6.5)."""

from __future__ import annotations

from admin_core.kernel.errors import AdminError


class MsoDoctorNotFound(AdminError):
    code = "MSO_DOCTOR_NOT_FOUND"
    default_message = "Second-opinion doctor not found."


class MsoDoctorAlreadyExists(AdminError):
    code = "MSO_DOCTOR_ALREADY_EXISTS"
    default_message = "A doctor with this email already exists in the tenant."
