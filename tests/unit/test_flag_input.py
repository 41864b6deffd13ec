"""The flag and triage use cases answer bad input as the CLI and embedding services meet it
(the HTTP layer refuses some of it earlier): every problem named at once, a value the
catalogue refuses as FLAG_VALUE_INVALID or FLAG_UNKNOWN, anything else (a blank reason, no
values) as VALIDATION_ERROR; nothing written."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from admin_core.flags.use_cases import (
    ClearFlagOverrideCommand,
    EffectiveFlagsQuery,
    OverrideFlagCommand,
)
from admin_core.kernel.errors import InsufficientPermission, ValidationFailed
from admin_core.kernel.principal import Principal
from admin_core.tenants.errors import TenantNotFound
from admin_core.triage.use_cases import TriageThresholdsQuery, UpdateTriageThresholdsCommand
from tests.support.flags import OPERATOR, FlagWorld, flag_world
from tests.support.use_cases import caller_without_org, platform_caller, tenant_caller

Call = Callable[[FlagWorld], Awaitable[Any]]


def thresholds(values: dict[str, Any], reason: str | None) -> Call:
    command = UpdateTriageThresholdsCommand(tenant_id="apollo", values=values, reason=reason)
    return lambda world: world.update_thresholds.execute(OPERATOR, command)


def override(flag: str, value: Any, reason: str | None) -> Call:
    command = OverrideFlagCommand(tenant_id="apollo", flag=flag, value=value, reason=reason)
    return lambda world: world.override.execute(OPERATOR, command)


def clear(flag: str, reason: str | None) -> Call:
    command = ClearFlagOverrideCommand(tenant_id="apollo", flag=flag, reason=reason)
    return lambda world: world.clear.execute(OPERATOR, command)


@pytest.mark.parametrize(
    ("call", "code", "fields"),
    [
        (
            thresholds({"mso_pfs_skip_threshold": 90}, " "),
            "VALIDATION_ERROR",
            {"reason": "VALIDATION_ERROR"},
        ),
        (thresholds({}, "tune"), "VALIDATION_ERROR", {"values": "VALIDATION_ERROR"}),
        (
            thresholds({"triage_risk_threshold": 1.5, "enable_mso_booking": True}, None),
            "FLAG_VALUE_INVALID",
            {
                "values.triage_risk_threshold": "FLAG_VALUE_INVALID",
                "values.enable_mso_booking": "FLAG_UNKNOWN",
                "reason": "VALIDATION_ERROR",
            },
        ),
        (
            override("mso_max_offers_per_case", 21, " "),
            "FLAG_VALUE_INVALID",
            {"value": "FLAG_VALUE_INVALID", "reason": "VALIDATION_ERROR"},
        ),
        (
            override("no_such_flag", 1, None),
            "FLAG_UNKNOWN",
            {"flag": "FLAG_UNKNOWN", "reason": "VALIDATION_ERROR"},
        ),
        (
            clear("no_such_flag", "x" * 501),
            "FLAG_UNKNOWN",
            {"flag": "FLAG_UNKNOWN", "reason": "VALIDATION_ERROR"},
        ),
    ],
    ids=[
        "blank reason",
        "no values",
        "bad values and no reason",
        "bad override value and blank reason",
        "unknown flag and no reason",
        "clear: unknown flag and a reason too long",
    ],
)
async def test_every_problem_is_named_with_its_own_code_and_nothing_is_written(
    tmp_path: Path, call: Call, code: str, fields: dict[str, str]
) -> None:
    async with flag_world("memory", tmp_path) as world:
        with pytest.raises(ValidationFailed) as refused:
            await call(world)
        assert refused.value.code == code
        named = {error.field: error.code or code for error in refused.value.errors}
        assert named == fields
        assert await world.provider.overrides("apollo") == {}
        assert await world.intent(1) is None


@pytest.mark.parametrize(
    "call",
    [
        lambda w: w.show_thresholds.execute(OPERATOR, TriageThresholdsQuery(tenant_id="nowhere")),
        lambda w: w.show.execute(OPERATOR, EffectiveFlagsQuery(tenant_id="nowhere")),
        lambda w: w.update_thresholds.execute(
            OPERATOR,
            UpdateTriageThresholdsCommand(
                tenant_id="nowhere", values={"mso_pfs_skip_threshold": 90}, reason="tune"
            ),
        ),
        lambda w: w.override.execute(
            OPERATOR,
            OverrideFlagCommand(
                tenant_id="nowhere", flag="mso_pfs_skip_threshold", value=90, reason="tune"
            ),
        ),
    ],
    ids=["show thresholds", "show flags", "update thresholds", "override"],
)
async def test_a_tenant_that_does_not_exist_is_tenant_not_found_and_nothing_is_written(
    tmp_path: Path, call: Call
) -> None:
    async with flag_world("memory", tmp_path) as world:
        with pytest.raises(TenantNotFound):
            await call(world)
        assert await world.provider.overrides("nowhere") == {}
        assert await world.intent(1) is None


APOLLO_ADMIN = tenant_caller("org:admin", "apollo")
#: Callers without `tenant:manage` reaching apollo (SPEC §5): another tenant's admin, a
#: platform coordinator, a tenant's staff, a user in no org.
NOT_MANAGERS = (
    tenant_caller("org:admin", "fortis"),
    platform_caller("org:coordinator"),
    tenant_caller("org:provider:staff", "apollo"),
    caller_without_org(),
)
CALLS: dict[str, Callable[[FlagWorld, Principal], Awaitable[Any]]] = {
    "show flags": lambda w, p: w.show.execute(p, EffectiveFlagsQuery(tenant_id="apollo")),
    "override": lambda w, p: w.override.execute(
        p,
        OverrideFlagCommand(
            tenant_id="apollo", flag="mso_pfs_skip_threshold", value=90, reason="tune"
        ),
    ),
    "clear": lambda w, p: w.clear.execute(
        p,
        ClearFlagOverrideCommand(tenant_id="apollo", flag="mso_pfs_skip_threshold", reason="x"),
    ),
    "show thresholds": lambda w, p: w.show_thresholds.execute(
        p, TriageThresholdsQuery(tenant_id="apollo")
    ),
    "update thresholds": lambda w, p: w.update_thresholds.execute(
        p,
        UpdateTriageThresholdsCommand(
            tenant_id="apollo", values={"mso_pfs_skip_threshold": 90}, reason="tune"
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_only_a_caller_managing_the_tenant_reads_or_changes_its_flags(
    tmp_path: Path, name: str
) -> None:
    async with flag_world("memory", tmp_path) as world:
        for caller in NOT_MANAGERS:
            with pytest.raises(InsufficientPermission):
                await CALLS[name](world, caller)
        assert await world.provider.overrides("apollo") == {}
        assert await world.intent(1) is None
        await CALLS[name](world, APOLLO_ADMIN)


@pytest.mark.parametrize("reason", [None, " "])
async def test_a_good_override_without_a_reason_is_refused_alone(
    tmp_path: Path, reason: str | None
) -> None:
    async with flag_world("memory", tmp_path) as world:
        with pytest.raises(ValidationFailed) as refused:
            await override("mso_pfs_skip_threshold", 90, reason)(world)
        assert [(e.field, e.code) for e in refused.value.errors] == [("reason", None)]
        assert await world.provider.overrides("apollo") == {}
        assert await world.intent(1) is None
