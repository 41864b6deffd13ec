"""A tenant's feature flags: read them, and set or clear its overrides (SPEC §6.2).

Overrides are the only per-tenant values. Every one is checked against the catalogue before
anything is written, written through the side-effect mechanism (intent, provider, audit), and
audited: `flag.identity_override`, `flag.identity_override_removed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from admin_core.audit.model import AuditRecord
from admin_core.audit.recording import audit_record
from admin_core.flags import overrides
from admin_core.flags.model import (
    EffectiveFlags,
    FlagChange,
)
from admin_core.flags.tenant_flags import FLAG_EVENT, TenantFlags
from admin_core.kernel.errors import FieldError, ValidationFailed
from admin_core.kernel.principal import Permission, Principal
from admin_core.kernel.validation import FieldChecks


@dataclass(frozen=True, slots=True, kw_only=True)
class EffectiveFlagsQuery:
    tenant_id: str


class ShowEffectiveFlags:
    """A tenant's flags with where each value comes from. `tenant:manage` reaching the
    tenant; TENANT_NOT_FOUND for a tenant that does not exist; served from the provider's
    cache, marked stale when the provider is down (FLAGS_UNAVAILABLE with nothing cached)."""

    def __init__(self, flags: TenantFlags) -> None:
        self._flags = flags

    async def execute(self, principal: Principal, query: EffectiveFlagsQuery) -> EffectiveFlags:
        principal.require(Permission.TENANT_MANAGE, tenant_id=query.tenant_id)
        await self._flags.tenants.require(query.tenant_id)
        return await self._flags.effective(query.tenant_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class OverrideFlagCommand:
    tenant_id: str
    flag: str
    value: Any
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FlagOverride:
    """The outcome of setting or clearing an override. `changed` is False when the tenant
    already had that value as its override (or had none to clear): nothing was written."""

    tenant_id: str
    flag: str
    previous_value: Any
    value: Any
    overrides_applied: list[str]
    changed: bool


class OverrideFlag:
    """Set a tenant's value of a flag, the only way to set one. `tenant:manage` reaching the
    tenant; the flag must be in the catalogue (FLAG_UNKNOWN) and the value one it allows
    (FLAG_VALUE_INVALID); a reason is required. Audit `flag.identity_override` with the value
    before and after."""

    def __init__(self, flags: TenantFlags) -> None:
        self._flags = flags

    def problems(self, flag: str, value: Any) -> list[FieldError]:
        """What the catalogue finds wrong with setting `flag` to `value`, as `execute` would
        refuse it: for a caller that refuses a request for other reasons (a blank reason) and
        names every offending field in one answer. Reads no tenant."""
        try:
            self._flags.catalogue.get(flag).checked(value)
        except ValidationFailed as refused:
            return [replace(e, code=e.code or refused.code) for e in refused.errors]
        return []

    async def execute(self, principal: Principal, command: OverrideFlagCommand) -> FlagOverride:
        tenant_id = command.tenant_id
        principal.require(Permission.TENANT_MANAGE, tenant_id=tenant_id)
        checks = FieldChecks()
        reason = checks.reason(command.reason)
        flags = self._flags
        flag = command.flag
        try:
            value = flags.catalogue.get(flag).checked(command.value)
        except ValidationFailed as refused:
            raise checks.joined(refused) from None
        checks.done()
        await flags.tenants.require(tenant_id)

        def plan(
            before: EffectiveFlags, held: Mapping[str, Any]
        ) -> tuple[list[FlagChange], list[AuditRecord]]:
            had_override = flag in held
            if had_override and overrides.same_value(held[flag], value):
                return [], []
            change = FlagChange(
                flag=flag, value=value, had_override=had_override, previous=held.get(flag)
            )
            record = audit_record(
                principal,
                action="flag.identity_override",
                event_type=FLAG_EVENT,
                resource_type="feature_flag",
                resource_id=flag,
                tenant_id=tenant_id,
                before={"value": before.values.get(flag), "overridden": had_override},
                after={"value": value, "overridden": True, "reason": reason},
            )
            return [change], [record]

        made = await flags.apply(tenant_id, plan)
        previous = made.before.values.get(flag)
        if not made.changes:
            return _outcome(tenant_id, flag, previous, value, made.held, changed=False)
        return _outcome(tenant_id, flag, previous, value, {**made.held, flag: value})


@dataclass(frozen=True, slots=True, kw_only=True)
class ClearFlagOverrideCommand:
    tenant_id: str
    flag: str
    reason: str | None = None


class ClearFlagOverride:
    """Remove a tenant's override: the tenant gets the environment's value again. The same
    rules as `OverrideFlag`, but the reason is optional; clearing an override the tenant does
    not have changes nothing. Audit `flag.identity_override_removed`."""

    def __init__(self, flags: TenantFlags) -> None:
        self._flags = flags

    async def execute(
        self, principal: Principal, command: ClearFlagOverrideCommand
    ) -> FlagOverride:
        tenant_id = command.tenant_id
        principal.require(Permission.TENANT_MANAGE, tenant_id=tenant_id)
        checks = FieldChecks()
        reason = checks.reason(command.reason, required=False)
        flags = self._flags
        flag = command.flag
        try:
            definition = flags.catalogue.get(flag)
        except ValidationFailed as refused:
            raise checks.joined(refused) from None
        checks.done()
        await flags.tenants.require(tenant_id)

        def plan(
            before: EffectiveFlags, held: Mapping[str, Any]
        ) -> tuple[list[FlagChange], list[AuditRecord]]:
            if flag not in held:
                return [], []
            change = FlagChange(flag=flag, clear=True, had_override=True, previous=held[flag])
            record = audit_record(
                principal,
                action="flag.identity_override_removed",
                event_type=FLAG_EVENT,
                resource_type="feature_flag",
                resource_id=flag,
                tenant_id=tenant_id,
                before={"value": before.values.get(flag), "overridden": True},
                after={
                    "value": _cleared(before, flag, definition.default),
                    "overridden": False,
                    "reason": reason,
                },
            )
            return [change], [record]

        made = await flags.apply(tenant_id, plan)
        previous = made.before.values.get(flag)
        if not made.changes:
            return _outcome(tenant_id, flag, previous, previous, made.held, changed=False)
        remaining = {k: v for k, v in made.held.items() if k != flag}
        value = _cleared(made.before, flag, definition.default)
        return _outcome(tenant_id, flag, previous, value, remaining)


def _cleared(before: EffectiveFlags, flag: str, default: Any) -> Any:
    """The tenant's value of `flag` once its override is removed."""
    return before.defaults.get(flag, default)


def _outcome(
    tenant_id: str,
    flag: str,
    previous: Any,
    value: Any,
    held: Mapping[str, Any],
    *,
    changed: bool = True,
) -> FlagOverride:
    return FlagOverride(
        tenant_id=tenant_id,
        flag=flag,
        previous_value=previous,
        value=value,
        overrides_applied=sorted(held),
        changed=changed,
    )
