"""`python -m tests.support.killed_flag_change <database url> <sqlite|flagsmith>`: override a
flag of tenant `apollo` and die (SIGKILL) right after the flag provider confirmed the write,
before the audit entry is written — the crash the side-effect mechanism must survive.

The Flagsmith provider is the adapter against a fake started by the test, named by the
`ADMIN_TEST_FLAGSMITH_*` variables (`FakeFlagsmith.adapter_env`)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from adapters.sql.engine import create_engine
from adapters.sql.flags import SqlFeatureFlags
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.flags.model import FlagCatalogue
from admin_core.flags.ports import FeatureFlags
from admin_core.flags.use_cases import OverrideFlagCommand
from admin_core.kernel.principal import Principal
from tests.support.flags import DieAfterWrite, add_tenants, catalogue, defaults, world_on


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


async def main(database: str, kind: str) -> None:
    flags = catalogue()
    engine = create_engine(database)
    transactions = SqlTransactions(engine, SystemClock(), UlidGenerator())
    await add_tenants(transactions, "apollo")
    provider = await provider_for(kind, transactions, flags)
    world = world_on(DieAfterWrite(provider, _kill), transactions, flags)
    principal = Principal.operator("killed", request_id="req-killed")
    await world.override.execute(
        principal,
        OverrideFlagCommand(
            tenant_id="apollo", flag="triage_risk_threshold", value=0.3, reason="pilot"
        ),
    )
    raise SystemExit("the process was not killed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
