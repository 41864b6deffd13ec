"""`python -m tests.support.killed_role_grant <database url>`: grant `org:admin` to
`user_new_hire` in tenant `apollo` and die (SIGKILL) right after Clerk took the membership,
before the outcome and its audit entry are recorded — the crash the side-effect mechanism
must survive.

Clerk is the adapter against a fake started by the test, named by `ADMIN_TEST_CLERK_URL`
and `ADMIN_TEST_CLERK_SECRET_KEY`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from typing import Any

from adapters.clerk.backend import ClerkIdentityProvider
from adapters.sql.engine import create_engine
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.kernel.principal import Principal
from admin_core.kernel.transaction import Transactions
from admin_core.tenants.model import OrgMapping
from admin_core.users.ports import OrgMembership
from admin_core.users.use_cases import GrantRole, GrantRoleCommand
from tests.support.flags import add_tenants
from tests.support.use_cases import role_changes

TENANT, ORG, USER = "apollo", "org_apollo", "user_new_hire"


async def prepare(transactions: Transactions[Any]) -> None:
    """Tenant `apollo`, whose roles live in the organisation `org_apollo`."""
    await add_tenants(transactions, TENANT)
    async with transactions() as tx:
        await tx.org_mappings.add(
            OrgMapping(org_id=ORG, tenant_id=TENANT, created_at=datetime(2026, 1, 1, tzinfo=UTC))
        )
        await tx.commit()


def clerk() -> ClerkIdentityProvider:
    return ClerkIdentityProvider(
        base_url=os.environ["ADMIN_TEST_CLERK_URL"],
        secret_key=os.environ["ADMIN_TEST_CLERK_SECRET_KEY"],
        timeout=2.0,
        backoff=0.01,
    )


class DieAfterWrite(ClerkIdentityProvider):
    async def create_membership(self, org_id: str, user_id: str, role: str) -> OrgMembership:
        await super().create_membership(org_id, user_id, role)
        os.kill(os.getpid(), signal.SIGKILL)
        raise SystemExit("the process was not killed")


async def main(database: str) -> None:
    engine = create_engine(database)
    transactions = SqlTransactions(engine, SystemClock(), UlidGenerator())
    identity = DieAfterWrite(
        base_url=os.environ["ADMIN_TEST_CLERK_URL"],
        secret_key=os.environ["ADMIN_TEST_CLERK_SECRET_KEY"],
    )
    grant = GrantRole(role_changes(transactions, identity, clock=SystemClock()))
    principal = Principal.operator("killed", request_id="req-killed-grant")
    await grant.execute(
        principal, GrantRoleCommand(tenant_id=TENANT, user_id=USER, role="org:admin")
    )
    raise SystemExit("the process was not killed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
