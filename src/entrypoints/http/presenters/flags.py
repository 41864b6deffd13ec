"""A tenant's flags, overrides and triage thresholds on the wire (SPEC §6.2, §6.6)."""

from __future__ import annotations

from typing import Any

from admin_core.flags.model import EffectiveFlags, Threshold, TriageThresholds
from admin_core.flags.use_cases import FlagOverride
from entrypoints.http.schemas import Out


class EffectiveFlagsOut(Out, frozen=True):
    tenant_id: str
    flags: dict[str, Any]
    overrides_applied: list[str]


class FlagOverrideOut(Out, frozen=True):
    tenant_id: str
    flag: str
    previous_value: Any
    value: Any
    overrides_applied: list[str]


class ThresholdOut(Out, frozen=True):
    name: str
    type: str
    value: Any
    default: Any
    overridden: bool
    min: float | None
    max: float | None
    step: float | None
    allowed: list[str]
    unit: str | None
    description: str


class TriageThresholdsOut(Out, frozen=True):
    tenant_id: str
    thresholds: list[ThresholdOut]
    stale: bool


def effective_flags_out(flags: EffectiveFlags) -> EffectiveFlagsOut:
    return EffectiveFlagsOut(
        tenant_id=flags.tenant_id,
        flags=dict(flags.values),
        overrides_applied=flags.overrides_applied,
    )


def flag_override_out(result: FlagOverride) -> FlagOverrideOut:
    return FlagOverrideOut(
        tenant_id=result.tenant_id,
        flag=result.flag,
        previous_value=result.previous_value,
        value=result.value,
        overrides_applied=result.overrides_applied,
    )


def threshold_out(threshold: Threshold) -> ThresholdOut:
    d = threshold.definition
    return ThresholdOut(
        name=d.name,
        type=d.type.value,
        value=threshold.value,
        default=threshold.default,
        overridden=threshold.overridden,
        min=d.minimum,
        max=d.maximum,
        step=d.step,
        allowed=[str(a) for a in d.allowed],
        unit=d.unit,
        description=d.description,
    )


def triage_thresholds_out(result: TriageThresholds) -> TriageThresholdsOut:
    return TriageThresholdsOut(
        tenant_id=result.tenant_id,
        thresholds=[threshold_out(t) for t in result.thresholds],
        stale=result.stale,
    )
