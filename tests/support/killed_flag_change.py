"""`python -m tests.support.killed_flag_change <database url> <sqlite|flagsmith> [<mode> [<k>]]`:
change flags of tenant `apollo` and die (SIGKILL) right after the flag provider confirmed a
write, before the audit entry is written — the crash the side-effect mechanism must survive.

Modes:
- `override` (the default): override `triage_risk_threshold` with 0.3; dies after that write.
- `clear`: the tenant holds `BEFORE` (written straight to the provider, not as a change);
  clear its override of `triage_risk_threshold`; dies after that write.
- `thresholds`: the tenant holds `BEFORE`; a triage update of `THRESHOLDS` (one intent, one
  write per threshold) dies after its `k`th write, the later ones never made.

The Flagsmith provider is the adapter against a fake started by the test, named by the
`ADMIN_TEST_FLAGSMITH_*` variables (`FakeFlagsmith.adapter_env`)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

from adapters.sql.engine import create_engine
from adapters.sql.flags import SqlFeatureFlags
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.flags.model import FlagCatalogue
from admin_core.flags.ports import FeatureFlags
from admin_core.flags.use_cases import ClearFlagOverrideCommand, OverrideFlagCommand
from admin_core.kernel.principal import Principal
from admin_core.triage.use_cases import UpdateTriageThresholdsCommand
from tests.support.flags import DieAfterWrite, add_tenants, catalogue, defaults, world_on

MODES = ("override", "clear", "thresholds")
#: What the tenant's overrides are before a `clear` or `thresholds` change.
BEFORE: Mapping[str, Any] = {
    "triage_risk_threshold": 0.3,
    "mso_completion_threshold": 0.6,
    "enable_mso_booking": False,
}
#: The triage update of `thresholds`, in the order of its writes: one replacing an override,
#: one adding an override, one clearing an override (None), two more adding.
THRESHOLDS: Mapping[str, Any] = {
    "triage_risk_threshold": 0.4,
    "triage_layer_advance_threshold": 0.55,
    "mso_completion_threshold": None,
    "mso_pfs_skip_threshold": 90,
    "mso_max_offers_per_case": 5,
}
CLEAR_REASON = "back to default"


def after_writes(k: int) -> dict[str, Any]:
    """What the provider holds once the first `k` writes of the `thresholds` update landed."""
    held = dict(BEFORE)
    for flag, value in list(THRESHOLDS.items())[:k]:
        if value is None:
            held.pop(flag, None)
        else:
            held[flag] = value
    return held


async def provider_for(
    kind: str, transactions: SqlTransactions, flags: FlagCatalogue
) -> FeatureFlags:
    if kind == "sqlite":
        return SqlFeatureFlags(transactions, defaults(flags), SystemClock().now)
    from adapters.flagsmith.flags import FlagsmithFeatureFlags

    env = os.environ
    return FlagsmithFeatureFlags(
        catalogue=flags,
        api_url=env["ADMIN_TEST_FLAGSMITH_API_URL"],
        server_key=env["ADMIN_TEST_FLAGSMITH_SERVER_KEY"],
        admin_api_url=env["ADMIN_TEST_FLAGSMITH_ADMIN_API_URL"],
        admin_key=env["ADMIN_TEST_FLAGSMITH_ADMIN_KEY"],
        environment_key=env["ADMIN_TEST_FLAGSMITH_ENVIRONMENT_KEY"],
        refresh_seconds=0.2,
    )


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def main(database: str, kind: str, mode: str = "override", k: int = 1) -> None:
    if mode not in MODES:
        raise SystemExit(f"mode must be one of {', '.join(MODES)}")
    if mode != "thresholds" and k != 1:
        raise SystemExit("only a thresholds update makes more than one write")
    if not 1 <= k < len(THRESHOLDS):
        raise SystemExit(f"k must be from 1 to {len(THRESHOLDS) - 1}: a write must be left")
    flags = catalogue()
    engine = create_engine(database)
    transactions = SqlTransactions(engine, SystemClock(), UlidGenerator())
    await add_tenants(transactions, "apollo")
    provider = await provider_for(kind, transactions, flags)
    if mode != "override":
        for flag, value in BEFORE.items():  # straight to the provider: not a change
            await provider.set_override("apollo", flag, value)
    world = world_on(DieAfterWrite(provider, _kill, after=k), transactions, flags)
    principal = Principal.operator("killed", request_id="req-killed")
    if mode == "override":
        await world.override.execute(
            principal,
            OverrideFlagCommand(
                tenant_id="apollo", flag="triage_risk_threshold", value=0.3, reason="pilot"
            ),
        )
    elif mode == "clear":
        await world.clear.execute(
            principal,
            ClearFlagOverrideCommand(
                tenant_id="apollo", flag="triage_risk_threshold", reason=CLEAR_REASON
            ),
        )
    else:
        await world.update_thresholds.execute(
            principal,
            UpdateTriageThresholdsCommand(tenant_id="apollo", values=THRESHOLDS, reason="tune"),
        )
    raise SystemExit("the process was not killed")


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(
        main(
            args[0],
            args[1],
            args[2] if len(args) > 2 else "override",
            int(args[3]) if len(args) > 3 else 1,
        )
    )
