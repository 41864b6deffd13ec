"""`python -m tests.support.killed_role_grant <database url> <verb>`: make one role change of
`user_new_hire` in tenant `apollo` and die (SIGKILL) right after Clerk took the membership
write, before the outcome and its audit entry are recorded — the crash the side-effect
mechanism must survive. The verbs (`VERBS`), each after `prepare` gave the user its roles:
- `grant-new`: grant `org:admin` to a user with no role → `create_membership`;
- `grant-upgrade`: grant `org:admin` to an `org:provider:staff` → `update_membership`;
- `revoke-last`: revoke `org:admin`, the only role → `delete_membership`;
- `revoke-downgrade`: revoke `org:admin` from an `org:admin` who is also
  `org:provider:staff` → `update_membership` back to `org:provider:staff`.

Clerk is the adapter against a fake started by the test, named by `ADMIN_TEST_CLERK_URL`
and `ADMIN_TEST_CLERK_SECRET_KEY`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from adapters.clerk.backend import ClerkIdentityProvider
from adapters.sql.engine import create_engine
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.kernel.principal import Principal
from admin_core.kernel.transaction import Transactions
from admin_core.tenants.model import OrgMapping
from admin_core.users.ports import IdentityProvider, OrgMembership, UsersTransaction
from admin_core.users.use_cases import GrantRole, GrantRoleCommand, RevokeRole, RevokeRoleCommand
from tests.support.flags import add_tenants
from tests.support.use_cases import role_changes

TENANT, ORG, USER = "apollo", "org_apollo", "user_new_hire"
GRANT, REVOKE = "grant", "revoke"


@dataclass(frozen=True, slots=True)
class Verb:
    """One killed role change: the roles the user is granted first (in this order, each a
    finished change of its own), then `action` of `role` in the killed process."""

    held: tuple[str, ...]
    action: str
    role: str


VERBS: dict[str, Verb] = {
    "grant-new": Verb(held=(), action=GRANT, role="org:admin"),
    "grant-upgrade": Verb(held=("org:provider:staff",), action=GRANT, role="org:admin"),
    "revoke-last": Verb(held=("org:admin",), action=REVOKE, role="org:admin"),
    "revoke-downgrade": Verb(
        held=("org:provider:staff", "org:admin"), action=REVOKE, role="org:admin"
    ),
}


def killed_request_id(name: str) -> str:
    return f"req-killed-{name}"


def seed_request_id(role: str) -> str:
    return f"req-seed-{role}"


async def prepare(transactions: Transactions[Any], identity: IdentityProvider, name: str) -> None:
    """Tenant `apollo`, whose roles live in the organisation `org_apollo`; then the roles
    the verb `name` starts from, granted one by one through `GrantRole` on `identity` (so the local
    roles, their audit entries and the membership agree, as after any finished change)."""
    await add_tenants(transactions, TENANT)
    async with transactions() as tx:
        await tx.org_mappings.add(
            OrgMapping(org_id=ORG, tenant_id=TENANT, created_at=datetime(2026, 1, 1, tzinfo=UTC))
        )
        await tx.commit()
    grant = GrantRole(role_changes(transactions, identity, clock=SystemClock()))
    for role in VERBS[name].held:
        await grant.execute(
            Principal.operator("seed", request_id=seed_request_id(role)),
            GrantRoleCommand(tenant_id=TENANT, user_id=USER, role=role),
        )


def clerk() -> ClerkIdentityProvider:
    return ClerkIdentityProvider(
        base_url=os.environ["ADMIN_TEST_CLERK_URL"],
        secret_key=os.environ["ADMIN_TEST_CLERK_SECRET_KEY"],
        timeout=2.0,
        backoff=0.01,
    )


def _die() -> NoReturn:
    os.kill(os.getpid(), signal.SIGKILL)
    raise SystemExit("the process was not killed")


class DieAfterWrite(ClerkIdentityProvider):
    """Dies as soon as any membership write has returned (a write Clerk refused raises
    before: the fallback write that follows it is the one the process dies after)."""

    async def create_membership(self, org_id: str, user_id: str, role: str) -> OrgMembership:
        await super().create_membership(org_id, user_id, role)
        _die()

    async def update_membership(self, org_id: str, user_id: str, role: str) -> OrgMembership:
        await super().update_membership(org_id, user_id, role)
        _die()

    async def delete_membership(self, org_id: str, user_id: str) -> None:
        await super().delete_membership(org_id, user_id)
        _die()


async def change(
    transactions: Transactions[UsersTransaction], identity: IdentityProvider, name: str
) -> None:
    """The role change `name` (a key of `VERBS`), by an operator."""
    verb = VERBS[name]
    changes = role_changes(transactions, identity, clock=SystemClock())
    principal = Principal.operator("killed", request_id=killed_request_id(name))
    if verb.action == GRANT:
        await GrantRole(changes).execute(
            principal, GrantRoleCommand(tenant_id=TENANT, user_id=USER, role=verb.role)
        )
    else:
        await RevokeRole(changes).execute(
            principal, RevokeRoleCommand(tenant_id=TENANT, user_id=USER, role=verb.role)
        )


async def main(database: str, name: str) -> None:
    engine = create_engine(database)
    transactions = SqlTransactions(engine, SystemClock(), UlidGenerator())
    identity = DieAfterWrite(
        base_url=os.environ["ADMIN_TEST_CLERK_URL"],
        secret_key=os.environ["ADMIN_TEST_CLERK_SECRET_KEY"],
    )
    await change(transactions, identity, name)
    raise SystemExit("the process was not killed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
