"""Errors of the feature flags (SPEC §6.2)."""

from __future__ import annotations

from admin_core.kernel.errors import AdminError


class FlagUnknown(AdminError):
    code = "FLAG_UNKNOWN"
    default_message = "The flag is not in the flag catalogue."


class FlagValueInvalid(AdminError):
    code = "FLAG_VALUE_INVALID"
    default_message = "The flag value is not allowed."


class FlagsUnavailable(AdminError):
    code = "FLAGS_UNAVAILABLE"
    default_message = "The flag provider is unreachable and nothing is cached."
