"""Errors of the feature flags (SPEC §6.2)."""

from __future__ import annotations

from admin_core.kernel.errors import AdminError, FieldError, ValidationFailed


class FlagUnknown(ValidationFailed):
    """A flag that is not in the catalogue (422): one error per unknown name."""

    code = "FLAG_UNKNOWN"
    default_message = "The flag is not in the flag catalogue."

    @classmethod
    def named(cls, field: str, name: str) -> FlagUnknown:
        return cls([FieldError(field=field, message=f"'{name}' is not in the flag catalogue")])


class FlagValueInvalid(ValidationFailed):
    """Values the catalogue refuses (422): one error per offending value. An unknown flag
    among them carries its own code (`FLAG_UNKNOWN`), so one answer names every problem."""

    code = "FLAG_VALUE_INVALID"
    default_message = "The flag value is not allowed."


class ThresholdsChanged(AdminError):
    """A threshold's value is no longer the one the caller last saw (another operator changed
    it meanwhile): nothing was written. `details`: the value of each such threshold now."""

    code = "TRIAGE_THRESHOLDS_CHANGED"
    default_message = "A threshold was changed by someone else since it was read."


class FlagsUnavailable(AdminError):
    code = "FLAGS_UNAVAILABLE"
    default_message = "The flag provider is unreachable and nothing is cached."


class FlagCatalogueInvalid(Exception):
    """The flag catalogue file is not valid: raised at start-up, never to a caller.
    `problems`: each as `file:line: what`."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)
