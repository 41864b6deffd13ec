"""A tenant's feature flags and triage thresholds (SPEC §6.2, §6.6). Per-tenant values are
identity overrides, set only here; every change is audited."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from admin_core.flags.errors import ThresholdsChanged
from admin_core.flags.use_cases import (
    ClearFlagOverride,
    ClearFlagOverrideCommand,
    EffectiveFlagsQuery,
    OverrideFlag,
    OverrideFlagCommand,
    ShowEffectiveFlags,
)
from admin_core.kernel.errors import FieldError
from admin_core.kernel.principal import Permission, Principal
from admin_core.kernel.validation import MAX_REASON_LENGTH
from admin_core.tenants.errors import TenantNotFound
from admin_core.triage.use_cases import (
    ShowTriageThresholds,
    TriageThresholdsQuery,
    UpdateTriageThresholds,
    UpdateTriageThresholdsCommand,
)
from entrypoints.http.dependencies import use_case
from entrypoints.http.envelope import ok
from entrypoints.http.fields import (
    FLAG_NAME_PATTERN,
    TEXT_PATTERN,
    FlagName,
    Reason,
    TenantId,
    TenantQuery,
    body_rules,
)
from entrypoints.http.openapi import WRITE, errors
from entrypoints.http.presenters.flags import (
    EffectiveFlagsOut,
    FlagOverrideOut,
    TriageThresholdsOut,
    effective_flags_out,
    flag_override_out,
    triage_thresholds_out,
)
from entrypoints.http.schemas import In, SuccessEnvelope
from entrypoints.http.security import requires

FlagQuery = Annotated[str, Parameter(pattern=FLAG_NAME_PATTERN, min_length=1, max_length=64)]
ReasonQuery = Annotated[
    str | None, Parameter(pattern=TEXT_PATTERN, min_length=1, max_length=MAX_REASON_LENGTH)
]


class OverrideIn(In, frozen=True):
    tenant_id: TenantId
    flag: FlagName
    value: Any
    reason: Reason


class ThresholdsIn(In, frozen=True):
    tenant_id: TenantId
    values: Annotated[dict[FlagName, Any], msgspec.Meta(min_length=1, max_length=50)]
    reason: Reason
    #: The values last read, by threshold: when one is another now, nothing is written (409).
    expected: Annotated[dict[FlagName, Any], msgspec.Meta(max_length=50)] | None = None


def _override_value(container: Any, fields: Mapping[str, Any]) -> list[FieldError]:
    """The catalogue's findings on a refused override's flag and value."""
    if not isinstance(fields.get("flag"), str) or "value" not in fields:
        return []
    override: OverrideFlag = container.flags.override_flag()
    return override.problems(fields["flag"], fields["value"])


def _threshold_values(container: Any, fields: Mapping[str, Any]) -> list[FieldError]:
    """The catalogue's findings on a refused update's values and expected names."""
    values, expected = fields.get("values"), fields.get("expected")
    update: UpdateTriageThresholds = container.flags.update_triage_thresholds()
    return update.problems(
        values if isinstance(values, dict) else {},
        expected if isinstance(expected, dict) else None,
    )


class FlagsController(Controller):
    path = "/api/v1/admin/flags"
    tags = ["flags"]  # noqa: RUF012 - Litestar reads it as a plain attribute
    opt = requires(Permission.TENANT_MANAGE)
    dependencies = {  # noqa: RUF012
        "show_effective_flags": use_case(lambda c: c.flags.show_effective_flags),
        "override_flag": use_case(lambda c: c.flags.override_flag),
        "clear_flag_override": use_case(lambda c: c.flags.clear_flag_override),
    }

    @get(
        "/effective",
        summary="A tenant's effective flags",
        operation_id="showEffectiveFlags",
        responses=errors(TenantNotFound, 503),
    )
    async def effective(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        show_effective_flags: NamedDependency[ShowEffectiveFlags],
        tenant_id: TenantQuery,
    ) -> Response[SuccessEnvelope[EffectiveFlagsOut]]:
        """The environment's values merged with the tenant's overrides; `meta.stale` when the
        flag provider is unreachable and its last known values are shown."""
        flags = await show_effective_flags.execute(
            principal, EffectiveFlagsQuery(tenant_id=tenant_id)
        )
        return ok(request, effective_flags_out(flags), stale=flags.stale)

    @post(
        "/identity-override",
        summary="Set a tenant's value of a flag",
        operation_id="overrideFlag",
        status_code=200,
        responses=errors(TenantNotFound, 503, base=WRITE),
        opt=body_rules(_override_value),
    )
    async def override(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        override_flag: NamedDependency[OverrideFlag],
        data: JSONBody[OverrideIn],
    ) -> Response[SuccessEnvelope[FlagOverrideOut]]:
        """Checked against the flag catalogue; audited as `flag.identity_override`."""
        result = await override_flag.execute(
            principal,
            OverrideFlagCommand(
                tenant_id=data.tenant_id, flag=data.flag, value=data.value, reason=data.reason
            ),
        )
        return ok(request, flag_override_out(result))

    @delete(
        "/identity-override",
        summary="Clear a tenant's override of a flag",
        operation_id="clearFlagOverride",
        status_code=HTTP_204_NO_CONTENT,
        responses=errors(TenantNotFound, 503),
    )
    async def clear(
        self,
        principal: NamedDependency[Principal],
        clear_flag_override: NamedDependency[ClearFlagOverride],
        tenant_id: TenantQuery,
        flag: FlagQuery,
        reason: ReasonQuery = None,
    ) -> None:
        """The tenant gets the environment's value again; audited as
        `flag.identity_override_removed`. Clearing an override that is not there is a 204."""
        await clear_flag_override.execute(
            principal, ClearFlagOverrideCommand(tenant_id=tenant_id, flag=flag, reason=reason)
        )


class TriageController(Controller):
    path = "/api/v1/admin/triage"
    tags = ["triage"]  # noqa: RUF012
    opt = requires(Permission.TENANT_MANAGE)
    dependencies = {  # noqa: RUF012
        "show_triage_thresholds": use_case(lambda c: c.flags.show_triage_thresholds),
        "update_triage_thresholds": use_case(lambda c: c.flags.update_triage_thresholds),
    }

    @get(
        "/thresholds",
        summary="A tenant's triage thresholds",
        operation_id="showTriageThresholds",
        responses=errors(TenantNotFound, 503),
    )
    async def thresholds(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        show_triage_thresholds: NamedDependency[ShowTriageThresholds],
        tenant_id: TenantQuery,
    ) -> Response[SuccessEnvelope[TriageThresholdsOut]]:
        """Each threshold's value, default, type, range and whether the tenant overrides it."""
        result = await show_triage_thresholds.execute(
            principal, TriageThresholdsQuery(tenant_id=tenant_id)
        )
        return ok(request, triage_thresholds_out(result), stale=result.stale)

    @put(
        "/thresholds",
        summary="Set a tenant's triage thresholds",
        operation_id="updateTriageThresholds",
        responses=errors(TenantNotFound, ThresholdsChanged, 503, base=WRITE),
        opt=body_rules(_threshold_values),
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        update_triage_thresholds: NamedDependency[UpdateTriageThresholds],
        data: JSONBody[ThresholdsIn],
    ) -> Response[SuccessEnvelope[TriageThresholdsOut]]:
        """All or nothing: every value is checked first; a value of null clears the tenant's
        override. With `expected` (the values last read), a threshold someone changed since is
        409 TRIAGE_THRESHOLDS_CHANGED and nothing is written, unless it already is what the
        update asks (a save repeated after its answer was lost). Each change is audited as
        `triage_threshold.update`."""
        result = await update_triage_thresholds.execute(
            principal,
            UpdateTriageThresholdsCommand(
                tenant_id=data.tenant_id,
                values=data.values,
                reason=data.reason,
                expected=data.expected,
            ),
        )
        return ok(request, triage_thresholds_out(result))
