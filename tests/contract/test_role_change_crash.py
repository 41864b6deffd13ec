"""A role change whose process dies (SIGKILL) after Clerk took the membership write and before
the outcome was recorded: the change was committed with its intent, so the next change of
that membership, or reconcile, finds the intent, asks Clerk, and writes the one audit entry
— never two, never none — for every kind of write a role change makes: a membership
created (a first grant), changed (a stronger grant, or a revoke that falls back to the next
role) or deleted (the last role revoked)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.sql.engine import create_engine
from adapters.sql.migrate import upgrade
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.audit.model import AuditEntry, AuditFilter
from admin_core.kernel.principal import Principal
from admin_core.side_effects.model import IntentStatus
from admin_core.side_effects.runner import LEASE
from admin_core.users.use_cases import GrantRole, GrantRoleCommand
from tests.support.clock import LaterClock
from tests.support.fake_clerk import FakeClerk, running_fake_clerk
from tests.support.killed import run_until_killed
from tests.support.killed_role_grant import (
    ORG,
    TENANT,
    USER,
    VERBS,
    clerk,
    killed_request_id,
    prepare,
    seed_request_id,
)
from tests.support.use_cases import role_changes

ADMIN, STAFF, DOCTOR = "org:admin", "org:provider:staff", "org:mso:doctor"
WRITES = ("POST", "PATCH", "DELETE")


@dataclass(frozen=True, slots=True)
class Expected:
    """What the killed change of a verb did: Clerk's one write (`POST` create, `PATCH`
    update, `DELETE` delete), the membership before and after it (None: none), and the
    user's local roles after it. Then what the next change — a grant of the weakest role,
    `org:mso:doctor` — leaves: the local roles, the membership, and Clerk's writes for it."""

    write: str
    before: str | None
    after: str | None
    roles: tuple[str, ...]
    next_roles: tuple[str, ...]
    next_role: str
    next_writes: dict[str, int]


EXPECTED = {
    "grant-new": Expected(
        write="POST",
        before=None,
        after=ADMIN,
        roles=(ADMIN,),
        next_roles=(ADMIN, DOCTOR),
        next_role=ADMIN,
        next_writes={},
    ),
    "grant-upgrade": Expected(
        write="PATCH",
        before=STAFF,
        after=ADMIN,
        roles=(ADMIN, STAFF),
        next_roles=(ADMIN, DOCTOR, STAFF),
        next_role=ADMIN,
        next_writes={},
    ),
    "revoke-last": Expected(
        write="DELETE",
        before=ADMIN,
        after=None,
        roles=(),
        next_roles=(DOCTOR,),
        next_role=DOCTOR,
        next_writes={"POST": 1},  # the membership the revoke removed is created again
    ),
    "revoke-downgrade": Expected(
        write="PATCH",
        before=ADMIN,
        after=STAFF,
        roles=(STAFF,),
        next_roles=(DOCTOR, STAFF),
        next_role=STAFF,
        next_writes={},
    ),
}


def writes(fake: FakeClerk) -> Counter[str]:
    """Clerk's membership writes so far, by method."""
    return Counter({method: fake.calls_of(method) for method in WRITES})


@pytest.mark.parametrize("finisher", ["next_change", "reconcile"])
@pytest.mark.parametrize("verb", list(VERBS))
async def test_a_process_killed_after_clerk_took_the_membership_write_is_finished_once(
    verb: str, finisher: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = EXPECTED[verb]
    action = "user_role.assign" if VERBS[verb].action == "grant" else "user_role.revoke"
    database = f"sqlite+aiosqlite:///{tmp_path / 'admin_core.db'}"
    await upgrade(database)
    with running_fake_clerk() as fake:
        fake.add_user(USER, "sam.carter@admin-core.example", "Sam", "Carter")
        env = {"ADMIN_TEST_CLERK_URL": fake.url, "ADMIN_TEST_CLERK_SECRET_KEY": fake.secret_key}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        engine = create_engine(database)
        identity = clerk()
        try:
            transactions = SqlTransactions(engine, SystemClock(), UlidGenerator())
            await prepare(transactions, identity, verb)
            seeded = [seed_request_id(role) for role in VERBS[verb].held]
            assert fake.role_of(ORG, USER) == expected.before
            start = writes(fake)

            await run_until_killed("tests.support.killed_role_grant", database, verb, env=env)
            assert fake.role_of(ORG, USER) == expected.after
            killed = writes(fake)
            # Clerk took exactly the one write of this verb.
            assert killed - start == Counter({expected.write: 1})

            async def roles_and_entries() -> tuple[tuple[str, ...], list[AuditEntry]]:
                async with transactions() as tx:
                    roles = await tx.user_roles.roles_of(TENANT, USER)
                    entries = await tx.audit.query(
                        AuditFilter(tenant_id=TENANT), before=None, limit=50
                    )
                return roles, list(reversed(entries))

            async def pending() -> list[str]:
                async with transactions() as tx:
                    left = await tx.intents.pending(
                        created_before=LaterClock(LEASE).now(), limit=10
                    )
                return [i.id for i in left if i.status is IntentStatus.PENDING]

            # The change committed with its intent; nothing records it yet.
            roles, entries = await roles_and_entries()
            assert roles == expected.roles
            assert [e.request_id for e in entries] == seeded
            assert len(await pending()) == 1

            # A process that runs later than the dead one's lease.
            changes = role_changes(
                transactions, identity, clock=LaterClock(LEASE), platform_org="org_platform"
            )
            if finisher == "next_change":
                change = await GrantRole(changes).execute(
                    Principal.operator("next", request_id="req-next"),
                    GrantRoleCommand(tenant_id=TENANT, user_id=USER, role=DOCTOR),
                )
                assert change.org_role == expected.next_role
                roles, entries = await roles_and_entries()
                assert roles == expected.next_roles
                assert [e.request_id for e in entries] == [
                    *seeded,
                    killed_request_id(verb),
                    "req-next",
                ]
                assert fake.role_of(ORG, USER) == expected.next_role
                assert writes(fake) - killed == Counter(expected.next_writes)
            else:
                report = await changes.side_effects.reconcile(
                    changes.effects, older_than=timedelta(0)
                )
                assert (len(report.completed), report.abandoned, report.unresolved) == (1, [], [])
                roles, entries = await roles_and_entries()
                assert roles == expected.roles
                assert [e.request_id for e in entries] == [*seeded, killed_request_id(verb)]
                assert fake.role_of(ORG, USER) == expected.after
                assert writes(fake) == killed  # settled by reading Clerk, not by writing again

            # The one entry of the killed change records the membership it changed.
            (entry,) = [e for e in entries if e.request_id == killed_request_id(verb)]
            assert entry.action == action
            assert entry.before is not None
            assert entry.after is not None
            assert entry.before["org_role"] == expected.before
            assert entry.after["org_role"] == expected.after
            assert tuple(entry.after["roles"]) == expected.roles

            # Nothing is left to finish: a second reconcile writes nothing.
            assert await pending() == []
            again = await changes.side_effects.reconcile(changes.effects, older_than=timedelta(0))
            assert list(again.completed) == []
            assert (await roles_and_entries())[1] == entries
        finally:
            await identity.aclose()
            await engine.dispose()
