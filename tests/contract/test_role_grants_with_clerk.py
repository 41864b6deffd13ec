"""Granting and revoking roles with the Clerk adapter against the local fake of Clerk's Backend
API, through the real app: Clerk's failures map to the right codes and leave nothing half-done
(no local role without its membership, no membership without its local role, no audit entry
for what did not happen)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

from adapters.clerk.backend import ClerkIdentityProvider
from adapters.system.runtime import SystemClock
from admin_core.kernel.principal import Principal
from admin_core.side_effects.model import IntentStatus
from admin_core.side_effects.runner import LEASE
from admin_core.users.ports import OrgMembership
from admin_core.users.use_cases import (
    GrantRole,
    GrantRoleCommand,
    RevokeRole,
    RevokeRoleCommand,
)
from entrypoints.settings import Settings
from tests.support.admin_api import audit, errors, mark_audit_baseline
from tests.support.clock import LaterClock
from tests.support.fake_clerk import FakeClerk, running_fake_clerk
from tests.support.faults import FaultyTransactions, InjectedFailure
from tests.support.http import ApiClient, api
from tests.support.use_cases import role_changes

APOLLO, APOLLO_ORG = "apollo-chennai", "org_apollo_chennai"
GRANT = f"/api/v1/admin/tenants/{APOLLO}/users/user_new_hire/roles"
UNAVAILABLE = [("IDENTITY_PROVIDER_UNAVAILABLE", None)]


@pytest.fixture
def fake() -> Iterator[FakeClerk]:
    with running_fake_clerk() as clerk:
        clerk.add_user("user_new_hire", "sam.carter@admin-core.example", "Sam", "Carter")
        clerk.add_user("user_apollo_staff", "intl-desk@apollo.example", "Arjun", "Menon")
        yield clerk


@pytest.fixture
async def http(tmp_path: Path, fake: FakeClerk) -> AsyncIterator[ApiClient]:
    settings = Settings(
        database_url="memory://", clerk_secret_key=fake.secret_key, clerk_api_url=fake.url
    )
    async with api(tmp_path, settings) as client:
        client.container.users.identity.override(
            providers.Object(
                ClerkIdentityProvider(
                    base_url=fake.url, secret_key=fake.secret_key, timeout=0.3, backoff=0.01
                )
            )
        )
        mark_audit_baseline(client)
        yield client


def local_roles(http: ApiClient, user_id: str = "user_new_hire") -> set[tuple[str, str]]:
    return {(t, r) for (t, u, r) in http.container.database.store().user_roles if u == user_id}


async def grant(http: ApiClient, role: str = "org:provider:staff") -> Any:
    return await http.client.post(GRANT, json={"role": role}, headers=http.auth())


async def test_a_grant_writes_the_membership_and_the_local_role(
    http: ApiClient, fake: FakeClerk
) -> None:
    response = await grant(http)
    assert response.status_code == 201
    assert fake.role_of(APOLLO_ORG, "user_new_hire") == "org:provider:staff"
    assert local_roles(http) == {(APOLLO, "org:provider:staff")}
    assert len(audit(http, "user_role.assign")) == 1


async def test_a_user_clerk_does_not_know_is_404_and_nothing_is_written(
    http: ApiClient, fake: FakeClerk
) -> None:
    response = await http.client.post(
        f"/api/v1/admin/tenants/{APOLLO}/users/user_ghost/roles",
        json={"role": "org:admin"},
        headers=http.auth(),
    )
    assert (response.status_code, errors(response)) == (404, [("USER_NOT_FOUND", None)])
    assert fake.calls_of("POST") == fake.calls_of("PATCH") == fake.calls_of("DELETE") == 0
    assert local_roles(http, "user_ghost") == set()
    assert audit(http) == []


class DeletedInClerkMeanwhile(ClerkIdentityProvider):
    """Clerk's adapter; right before the membership is written, `vanish` deletes something in
    Clerk (the organisation, the user), as an operator of Clerk's dashboard may."""

    def __init__(self, vanish: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._vanish = vanish

    async def create_membership(self, org_id: str, user_id: str, role: str) -> OrgMembership:
        self._vanish()
        return await super().create_membership(org_id, user_id, role)


@pytest.mark.parametrize(
    ("gone", "status", "code"),
    [("organisation", 503, "IDENTITY_PROVIDER_UNAVAILABLE"), ("user", 404, "USER_NOT_FOUND")],
)
async def test_a_grant_whose_user_or_organisation_clerk_deleted_meanwhile_is_undone(
    http: ApiClient, fake: FakeClerk, gone: str, status: int, code: str
) -> None:
    """Clerk answers the membership's create 404: the grant is undone and its intent failed,
    never left pending for reconcile to meet again and again, nor blocking the user's next
    change; the caller is told which of the two Clerk no longer knows."""
    vanish = {
        "organisation": lambda: fake.remove_org(APOLLO_ORG),
        "user": lambda: fake.remove_user("user_new_hire"),
    }[gone]
    http.container.users.identity.override(
        providers.Object(
            DeletedInClerkMeanwhile(
                vanish, base_url=fake.url, secret_key=fake.secret_key, timeout=0.3, backoff=0.01
            )
        )
    )
    response = await grant(http)
    assert (response.status_code, errors(response)) == (status, [(code, None)])
    if gone == "organisation":
        assert response.json()["errors"][0]["details"] == {"clerk_org_id": APOLLO_ORG}
    assert local_roles(http) == set()
    assert audit(http) == []
    assert pending_intents(http) == []
    intents = http.container.database.store().intents.values()
    subject = f"membership:{APOLLO_ORG}:user_new_hire"
    assert [i.status for i in intents if i.subject == subject] == [IntentStatus.FAILED]


async def test_a_change_in_an_organisation_clerk_deleted_is_503_and_writes_nothing(
    http: ApiClient, fake: FakeClerk
) -> None:
    assert (await grant(http)).status_code == 201
    mark_audit_baseline(http)
    fake.remove_org(APOLLO_ORG)
    for response in (
        await grant(http, "org:provider:admin"),
        await http.client.delete(f"{GRANT}/org:provider:staff", headers=http.auth()),
    ):
        assert (response.status_code, errors(response)) == (503, UNAVAILABLE)
        assert response.json()["errors"][0]["details"] == {"clerk_org_id": APOLLO_ORG}
    assert local_roles(http) == {(APOLLO, "org:provider:staff")}
    assert audit(http) == []
    assert pending_intents(http) == []


async def test_a_grant_past_the_organisations_membership_quota_is_undone_saying_why(
    http: ApiClient, fake: FakeClerk
) -> None:
    """Clerk refuses the membership (403: the organisation holds as many members as its plan
    allows). The grant is undone, and the caller is told Clerk refused the request in Clerk's
    words — not that our key was refused, which would send an operator to the wrong place."""
    fake.membership_limit = 0
    response = await grant(http)
    assert (response.status_code, errors(response)) == (503, UNAVAILABLE)
    [error] = response.json()["errors"]
    assert "key" not in error["message"]
    assert error["details"]["provider_code"] == "organization_membership_quota_exceeded"
    assert "limit of 0 organization memberships" in error["details"]["provider_message"]
    assert fake.calls_of("POST") == 1
    assert local_roles(http) == set()
    assert audit(http) == []
    assert pending_intents(http) == []


async def test_the_roles_of_a_user_clerk_deleted_are_revoked_one_by_one(
    http: ApiClient, fake: FakeClerk
) -> None:
    """Clerk deleted the user (and their memberships). Revoking one of their roles here must
    not try to give them a membership for the roles left — Clerk cannot, and the revoke was
    undone with USER_NOT_FOUND, so the roles of a departed user could never be cleared. Each
    revoke is recorded with no membership before or after."""
    for role in ("org:provider:staff", "org:mso:doctor"):
        assert (await grant(http, role)).status_code == 201
    mark_audit_baseline(http)
    fake.remove_user("user_new_hire")
    posts = fake.calls_of("POST")
    for role, left in (
        ("org:provider:staff", {(APOLLO, "org:mso:doctor")}),
        ("org:mso:doctor", set()),
    ):
        response = await http.client.delete(f"{GRANT}/{role}", headers=http.auth())
        assert response.status_code == 204, response.text
        assert local_roles(http) == left
    entries = audit(http, "user_role.revoke")
    assert [(e.before or {}).get("org_role") for e in entries] == [None, None]
    assert [(e.after or {}).get("org_role") for e in entries] == [None, None]
    assert fake.calls_of("POST") == posts
    assert pending_intents(http) == []


async def test_429_then_success_waits_and_grants(http: ApiClient, fake: FakeClerk) -> None:
    fake.fail_next(429, retry_after=1, method="POST")
    started = time.monotonic()
    response = await grant(http)
    assert response.status_code == 201
    assert time.monotonic() - started >= 0.9
    assert fake.role_of(APOLLO_ORG, "user_new_hire") == "org:provider:staff"
    assert local_roles(http) == {(APOLLO, "org:provider:staff")}


async def test_clerk_down_when_verifying_is_503_and_nothing_is_written(
    http: ApiClient, fake: FakeClerk
) -> None:
    fake.fail_next(500, times=3, method="GET")
    response = await grant(http)
    assert (response.status_code, errors(response)) == (
        503,
        [("IDENTITY_PROVIDER_UNAVAILABLE", None)],
    )
    assert fake.calls_of("POST") == 0
    assert local_roles(http) == set()
    assert audit(http) == []


async def test_500_on_the_membership_write_rolls_the_grant_back(
    http: ApiClient, fake: FakeClerk
) -> None:
    fake.fail_next(500, times=3, method="POST")
    response = await grant(http)
    assert (response.status_code, errors(response)) == (
        503,
        [("IDENTITY_PROVIDER_UNAVAILABLE", None)],
    )
    assert fake.role_of(APOLLO_ORG, "user_new_hire") is None
    assert local_roles(http) == set()
    assert audit(http) == []
    assert pending_intents(http) == []


async def test_a_write_that_timed_out_every_time_but_went_through_is_one_grant(
    http: ApiClient, fake: FakeClerk
) -> None:
    """Clerk applied the membership but answered too late, every time: asked afterwards, it
    holds the membership, so the grant stands, audited once (the provider acted)."""
    fake.delay_next(1.0, times=3, method="POST")
    response = await grant(http)
    assert response.status_code == 201
    assert fake.calls_of("POST") == 3
    assert fake.role_of(APOLLO_ORG, "user_new_hire") == "org:provider:staff"
    assert local_roles(http) == {(APOLLO, "org:provider:staff")}
    assert len(audit(http, "user_role.assign")) == 1
    assert pending_intents(http) == []


async def test_a_timeout_then_success_is_one_clean_grant(http: ApiClient, fake: FakeClerk) -> None:
    """The first write went through but timed out; the retry finds the membership and the
    grant completes once."""
    fake.delay_next(1.0, times=1, method="POST")
    response = await grant(http)
    assert response.status_code == 201
    assert fake.role_of(APOLLO_ORG, "user_new_hire") == "org:provider:staff"
    assert local_roles(http) == {(APOLLO, "org:provider:staff")}
    assert len(audit(http, "user_role.assign")) == 1


async def test_a_failed_revoke_keeps_role_and_membership(http: ApiClient, fake: FakeClerk) -> None:
    assert (await grant(http)).status_code == 201
    fake.fail_next(503, times=3, method="DELETE")
    response = await http.client.delete(f"{GRANT}/org:provider:staff", headers=http.auth())
    assert (response.status_code, errors(response)) == (
        503,
        [("IDENTITY_PROVIDER_UNAVAILABLE", None)],
    )
    assert fake.role_of(APOLLO_ORG, "user_new_hire") == "org:provider:staff"
    assert local_roles(http) == {(APOLLO, "org:provider:staff")}
    assert audit(http, "user_role.revoke") == []
    retried = await http.client.delete(f"{GRANT}/org:provider:staff", headers=http.auth())
    assert retried.status_code == 204
    assert fake.role_of(APOLLO_ORG, "user_new_hire") is None


async def test_listing_users_while_clerk_is_down_is_503(http: ApiClient, fake: FakeClerk) -> None:
    fake.fail_next(500, times=3, method="GET")
    response = await http.client.get(f"/api/v1/admin/tenants/{APOLLO}/users", headers=http.auth())
    assert (response.status_code, errors(response)) == (
        503,
        [("IDENTITY_PROVIDER_UNAVAILABLE", None)],
    )


class FailingAfterWrites(ClerkIdentityProvider):
    """Clerk's adapter; every membership write that Clerk took turns the database's commits
    into failures: the outcome cannot be recorded."""

    def __init__(self, failing: FaultyTransactions, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._failing = failing

    async def create_membership(self, org_id: str, user_id: str, role: str) -> OrgMembership:
        created = await super().create_membership(org_id, user_id, role)
        self._failing.fail_commit = True
        return created

    async def delete_membership(self, org_id: str, user_id: str) -> None:
        await super().delete_membership(org_id, user_id)
        self._failing.fail_commit = True


@pytest.mark.parametrize("verb", ["grant", "revoke"])
async def test_an_outcome_that_cannot_be_recorded_is_finished_by_reconcile(
    http: ApiClient, fake: FakeClerk, verb: str
) -> None:
    """The database fails after Clerk took the membership: the change stays committed with
    its pending intent, and reconcile writes its one audit entry."""
    if verb == "revoke":
        assert (await grant(http)).status_code == 201
    c = http.container
    failing = FaultyTransactions(c.database.transactions())
    identity = FailingAfterWrites(
        failing, base_url=fake.url, secret_key=fake.secret_key, timeout=0.3, backoff=0.01
    )
    changes = role_changes(failing, identity, clock=SystemClock(), platform_org="org_platform")
    actor = Principal.operator("tester", request_id="t-1")
    role = {"tenant_id": APOLLO, "user_id": "user_new_hire", "role": "org:provider:staff"}
    change = (
        GrantRole(changes).execute(actor, GrantRoleCommand(**role))
        if verb == "grant"
        else RevokeRole(changes).execute(actor, RevokeRoleCommand(**role))
    )
    with pytest.raises(InjectedFailure):
        await change
    held = "org:provider:staff" if verb == "grant" else None
    expected_local = {(APOLLO, "org:provider:staff")} if verb == "grant" else set()
    assert fake.role_of(APOLLO_ORG, "user_new_hire") == held
    assert local_roles(http) == expected_local
    action = "user_role.assign" if verb == "grant" else "user_role.revoke"
    assert audit(http, action) == []
    await identity.aclose()

    later = role_changes(
        c.database.transactions(),
        c.users.identity(),
        clock=LaterClock(LEASE),
        platform_org="org_platform",
    )
    report = await later.side_effects.reconcile(later.effects, older_than=timedelta(0))
    assert len(report.completed) == 1
    again = await later.side_effects.reconcile(later.effects, older_than=timedelta(0))
    assert list(again.completed) == []
    assert fake.role_of(APOLLO_ORG, "user_new_hire") == held
    assert local_roles(http) == expected_local
    assert len(audit(http, action)) == 1
    assert pending_intents(http) == []


def pending_intents(http: ApiClient) -> list[str]:
    intents = http.container.database.store().intents.values()
    return [i.id for i in intents if i.status is IntentStatus.PENDING]


async def test_a_large_organisations_members_are_read_in_clerks_largest_pages(
    http: ApiClient, fake: FakeClerk
) -> None:
    """1,200 members cost 3 of Clerk's rate-limited calls a page of the list, not 12, and
    every one is listed."""
    for n in range(1_200):
        user_id = f"user_member_{n:04d}"
        fake.add_user(user_id)
        with fake.lock:
            fake.memberships.setdefault(APOLLO_ORG, {})[user_id] = fake._membership_json(
                APOLLO_ORG, fake.users[user_id], "org:provider:staff"
            )
    listed: set[str] = set()
    offset = 0
    while True:
        before = fake.calls_of("GET")
        response = await http.client.get(
            f"/api/v1/admin/tenants/{APOLLO}/users",
            params={"limit": 200, "offset": offset},
            headers=http.auth(),
        )
        assert response.status_code == 200, response.text
        assert fake.calls_of("GET") - before == 3
        data = response.json()["data"]
        assert data["total_exact"] is True
        listed |= {u["user_id"] for u in data["users"]}
        offset += 200
        if offset >= data["total"]:
            break
    assert {f"user_member_{n:04d}" for n in range(1_200)} <= listed
    assert len(listed) == data["total"]
