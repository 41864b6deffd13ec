"""Triage thresholds: the catalogue's triage flags, overridden per tenant (SPEC §6.6)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from admin_core.audit.model import AuditRecord
from admin_core.audit.recording import audit_record
from admin_core.flags.errors import FlagValueInvalid, ThresholdsChanged
from admin_core.flags.model import (
    EffectiveFlags,
    FlagChange,
    Provenance,
    Threshold,
    TriageThresholds,
)
from admin_core.flags.overrides import same_value
from admin_core.flags.tenant_flags import FLAG_EVENT, TenantFlags
from admin_core.kernel.errors import FieldError
from admin_core.kernel.principal import Permission, Principal
from admin_core.kernel.validation import FieldChecks


@dataclass(frozen=True, slots=True, kw_only=True)
class TriageThresholdsQuery:
    tenant_id: str


class ShowTriageThresholds:
    """Each threshold's value for the tenant, its default (the environment's value), type,
    range and whether the tenant overrides it. `tenant:manage` reaching the tenant."""

    def __init__(self, flags: TenantFlags) -> None:
        self._flags = flags

    async def execute(self, principal: Principal, query: TriageThresholdsQuery) -> TriageThresholds:
        principal.require(Permission.TENANT_MANAGE, tenant_id=query.tenant_id)
        await self._flags.tenants.require(query.tenant_id)
        return await _thresholds(self._flags, query.tenant_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateTriageThresholdsCommand:
    """New values by threshold name; None clears the tenant's override of that threshold."""

    tenant_id: str
    values: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None
    #: The values the caller last saw, by threshold name (None: no precondition): when one is
    #: another now, nothing is written (TRIAGE_THRESHOLDS_CHANGED).
    expected: Mapping[str, Any] | None = None


class UpdateTriageThresholds:
    """Set several thresholds of a tenant, all or nothing.

    Every value is checked before anything is written, and every bad one named at once
    (`values.<name>`: FLAG_UNKNOWN for a name that is not a threshold, FLAG_VALUE_INVALID for
    a value it does not allow); a reason is required. With `expected`, the values the caller
    last saw: when any of them is another now (someone changed it meanwhile), nothing is
    written and TRIAGE_THRESHOLDS_CHANGED (409) names what each is now; one that already is
    what the update asks (the same save repeated after its answer was lost) is no conflict,
    so a retry is safe. The changes reach the provider as one side effect: if a write fails
    part way, those already written are put back and the caller gets the error. A value
    equal to the tenant's override changes nothing. Audit `triage_threshold.update` for each
    threshold changed."""

    def __init__(self, flags: TenantFlags) -> None:
        self._flags = flags

    def problems(
        self, values: Mapping[str, Any], expected: Mapping[str, Any] | None = None
    ) -> list[FieldError]:
        """What the catalogue finds wrong with `values` and the names of `expected`, as
        `execute` would refuse them: for a caller that refuses a request for other reasons
        (a blank reason) and names every offending field in one answer. Reads no tenant."""
        _, problems = _checked(self._flags, values)
        thresholds = {d.name for d in self._flags.catalogue.triage}
        return [replace(p, code=p.code or FlagValueInvalid.code) for p in problems] + [
            FieldError(
                field=f"expected.{name}", message="is not a triage threshold", code="FLAG_UNKNOWN"
            )
            for name in sorted(set(expected or {}) - thresholds)
        ]

    async def execute(
        self, principal: Principal, command: UpdateTriageThresholdsCommand
    ) -> TriageThresholds:
        tenant_id = command.tenant_id
        principal.require(Permission.TENANT_MANAGE, tenant_id=tenant_id)
        flags = self._flags
        checks = FieldChecks()
        reason = checks.reason(command.reason)
        if not command.values:
            checks.fail("values", "must name at least one threshold")
        values, _ = _checked(flags, command.values)
        expected = dict(command.expected or {})
        problems = self.problems(command.values, expected)
        if problems:
            raise checks.joined(FlagValueInvalid(problems))
        checks.done()
        await flags.tenants.require(tenant_id)

        def plan(
            before: EffectiveFlags, held: Mapping[str, Any]
        ) -> tuple[list[FlagChange], list[AuditRecord]]:
            changed = {
                name: before.values.get(name)
                for name, seen in expected.items()
                if not same_value(before.values.get(name), seen)
                and not _already(name, values, before, held)
            }
            if changed:  # read under the tenant's change lock: nothing moves meanwhile
                raise ThresholdsChanged(
                    "Changed since read: "
                    + ", ".join(f"{name} is now {value!r}" for name, value in changed.items())
                    + ". Read the thresholds again.",
                    details={"changed": changed},
                )
            changes, records = [], []
            for name, value in values.items():
                had_override = name in held
                if value is None and not had_override:
                    continue
                if had_override and value is not None and same_value(held[name], value):
                    continue
                changes.append(
                    FlagChange(
                        flag=name,
                        value=value,
                        clear=value is None,
                        had_override=had_override,
                        previous=held.get(name),
                    )
                )
                records.append(
                    audit_record(
                        principal,
                        action="triage_threshold.update",
                        event_type=FLAG_EVENT,
                        resource_type="triage_threshold",
                        resource_id=name,
                        tenant_id=tenant_id,
                        before={"value": before.values.get(name), "overridden": had_override},
                        after={
                            "value": value if value is not None else before.defaults.get(name),
                            "overridden": value is not None,
                            "reason": reason,
                        },
                    )
                )
            return changes, records

        await flags.apply(tenant_id, plan)
        return await _thresholds(flags, tenant_id)


def _already(
    name: str, values: Mapping[str, Any], before: EffectiveFlags, held: Mapping[str, Any]
) -> bool:
    """Whether the tenant already has what the update asks of `name` (its value, or no
    override for a clear): a save repeated after its answer was lost, or someone else's
    change to the very same value. Saving it over changes nothing, so it is no conflict."""
    if name not in values:
        return False
    value = values[name]
    if value is None:
        return name not in held
    return same_value(before.values.get(name), value)


def _checked(
    flags: TenantFlags, values: Mapping[str, Any]
) -> tuple[dict[str, Any], list[FieldError]]:
    checked: dict[str, Any] = {}
    problems: list[FieldError] = []
    for name, value in values.items():
        where = f"values.{name}"
        definition = flags.catalogue.definitions.get(name)
        if definition is None or not definition.triage:
            problems.append(
                FieldError(field=where, message="is not a triage threshold", code="FLAG_UNKNOWN")
            )
            continue
        if value is None:
            checked[name] = None
            continue
        problem = definition.problem(value)
        if problem is not None:
            problems.append(FieldError(field=where, message=problem))
        else:
            checked[name] = definition.checked(value, field=where)
    return checked, problems


async def _thresholds(flags: TenantFlags, tenant_id: str) -> TriageThresholds:
    effective: EffectiveFlags = await flags.effective(tenant_id)
    return TriageThresholds(
        tenant_id=tenant_id,
        thresholds=[
            Threshold(
                definition=d,
                value=effective.values[d.name],
                default=effective.defaults[d.name],
                overridden=effective.sources.get(d.name) is Provenance.OVERRIDE,
            )
            for d in flags.catalogue.triage
        ],
        stale=effective.stale,
    )
