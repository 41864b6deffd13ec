"""A role change whose process dies (SIGKILL) after Clerk took the membership and before
the outcome was recorded: the grant was committed with its intent, so the next change of
that membership, or reconcile, finds the intent, asks Clerk, and writes the one audit entry
— never two, never none."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from adapters.sql.engine import create_engine
from adapters.sql.migrate import upgrade
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.audit.model import AuditFilter
from admin_core.kernel.principal import Principal
from admin_core.side_effects.model import IntentStatus
from admin_core.side_effects.runner import LEASE
from admin_core.users.use_cases import GrantRole, GrantRoleCommand
from tests.support.clock import LaterClock
from tests.support.fake_clerk import running_fake_clerk
from tests.support.killed import run_until_killed
from tests.support.killed_role_grant import ORG, TENANT, USER, clerk, prepare
from tests.support.use_cases import role_changes


@pytest.mark.parametrize("finisher", ["next_change", "reconcile"])
async def test_a_process_killed_after_clerk_took_the_membership_is_finished_once(
    finisher: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'admin_core.db'}"
    await upgrade(database)
    with running_fake_clerk() as fake:
        fake.add_user(USER, "sam.carter@admin-core.example", "Sam", "Carter")
        env = {"ADMIN_TEST_CLERK_URL": fake.url, "ADMIN_TEST_CLERK_SECRET_KEY": fake.secret_key}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        engine = create_engine(database)
        try:
            transactions = SqlTransactions(engine, SystemClock(), UlidGenerator())
            await prepare(transactions)
            await run_until_killed("tests.support.killed_role_grant", database, env=env)
            assert fake.role_of(ORG, USER) == "org:admin"

            async def roles_and_entries() -> tuple[tuple[str, ...], list[str]]:
                async with transactions() as tx:
                    roles = await tx.user_roles.roles_of(TENANT, USER)
                    entries = await tx.audit.query(
                        AuditFilter(tenant_id=TENANT), before=None, limit=10
                    )
                return roles, [e.request_id for e in reversed(entries)]

            # The grant committed with its intent; nothing records it yet.
            assert await roles_and_entries() == (("org:admin",), [])

            # A process that runs later than the dead one's lease.
            identity = clerk()
            changes = role_changes(
                transactions, identity, clock=LaterClock(LEASE), platform_org="org_platform"
            )
            if finisher == "next_change":
                change = await GrantRole(changes).execute(
                    Principal.operator("next", request_id="req-next"),
                    GrantRoleCommand(tenant_id=TENANT, user_id=USER, role="org:provider:staff"),
                )
                assert change.org_role == "org:admin"
                assert await roles_and_entries() == (
                    ("org:admin", "org:provider:staff"),
                    ["req-killed-grant", "req-next"],
                )
            else:
                report = await changes.side_effects.reconcile(
                    changes.effects, older_than=timedelta(0)
                )
                assert len(report.completed) == 1
                again = await changes.side_effects.reconcile(
                    changes.effects, older_than=timedelta(0)
                )
                assert list(again.completed) == []
                assert await roles_and_entries() == (("org:admin",), ["req-killed-grant"])
            assert fake.role_of(ORG, USER) == "org:admin"
            assert fake.calls_of("POST") == 1  # the membership was created once
            async with transactions() as tx:
                left = await tx.intents.pending(created_before=LaterClock(LEASE).now(), limit=10)
                assert [i for i in left if i.status is IntentStatus.PENDING] == []
            await identity.aclose()
        finally:
            await engine.dispose()
