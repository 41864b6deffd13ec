"""The flag and triage use cases answer bad input as the CLI and embedding services meet it
(the HTTP layer refuses some of it earlier): every problem named at once, a value the
catalogue refuses as FLAG_VALUE_INVALID or FLAG_UNKNOWN, anything else (a blank reason, no
values) as VALIDATION_ERROR; nothing written."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from admin_core.flags.use_cases import ClearFlagOverrideCommand, OverrideFlagCommand
from admin_core.kernel.errors import ValidationFailed
from admin_core.triage.use_cases import UpdateTriageThresholdsCommand
from tests.support.flags import OPERATOR, FlagWorld, flag_world

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
