"""Granting and revoking roles with the Clerk adapter against the local fake of Clerk's Backend
API, through the real app: Clerk's failures map to the right codes and leave nothing half-done
(no local role without its membership, no membership without its local role, no audit entry
for what did not happen)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

from adapters.clerk.backend import ClerkIdentityProvider
from admin_core.kernel.principal import Principal
from admin_core.users.use_cases import GrantRole, GrantRoleCommand, RevokeRole, RevokeRoleCommand
from entrypoints.settings import Settings
from tests.support.admin_api import audit, errors, mark_audit_baseline
from tests.support.fake_clerk import FakeClerk, running_fake_clerk
from tests.support.faults import FaultyTransactions, InjectedFailure
from tests.support.http import ApiClient, api

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
    assert "user_new_hire" not in http.container.database.store().users


async def test_a_timed_out_write_that_went_through_is_undone(
    http: ApiClient, fake: FakeClerk
) -> None:
    """Clerk applied the membership but answered too late, every time: the grant is refused
    and the membership Clerk did create is removed again."""
    fake.delay_next(1.0, times=3, method="POST")
    response = await grant(http)
    assert (response.status_code, errors(response)) == (
        503,
        [("IDENTITY_PROVIDER_UNAVAILABLE", None)],
    )
    assert fake.calls_of("POST") == 3
    assert fake.role_of(APOLLO_ORG, "user_new_hire") is None
    assert local_roles(http) == set()
    assert audit(http) == []


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


async def test_a_commit_that_fails_after_clerk_succeeded_is_compensated(
    http: ApiClient, fake: FakeClerk
) -> None:
    """The local transaction fails after the membership was written: the membership goes back
    to what it was (here: the staff role the user already had)."""
    assert (await grant(http)).status_code == 201
    c = http.container
    actor = Principal.operator("tester", request_id="t-1")
    failing = FaultyTransactions(c.database.transactions(), fail_commit=True)
    grant_role = GrantRole(
        failing, c.users.identity(), c.auth.role_policy(), c.runtime.clock(), "org_platform"
    )
    with pytest.raises(InjectedFailure):
        await grant_role.execute(
            actor, GrantRoleCommand(tenant_id=APOLLO, user_id="user_new_hire", role="org:admin")
        )
    assert fake.role_of(APOLLO_ORG, "user_new_hire") == "org:provider:staff"
    assert local_roles(http) == {(APOLLO, "org:provider:staff")}

    revoke_role = RevokeRole(failing, c.users.identity(), c.auth.role_policy(), "org_platform")
    with pytest.raises(InjectedFailure):
        await revoke_role.execute(
            actor,
            RevokeRoleCommand(tenant_id=APOLLO, user_id="user_new_hire", role="org:provider:staff"),
        )
    assert fake.role_of(APOLLO_ORG, "user_new_hire") == "org:provider:staff"
    assert local_roles(http) == {(APOLLO, "org:provider:staff")}
    assert len(audit(http)) == 1  # the first, successful grant only
