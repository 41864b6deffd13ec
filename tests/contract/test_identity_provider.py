"""Contract of the identity provider port, on the in-memory twin, on the embedded mode's
database (SQLite, PostgreSQL) and on the Clerk adapter talking to a local fake of Clerk's
Backend API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.clerk.backend import ClerkIdentityProvider
from adapters.memory.identity import InMemoryIdentityProvider
from adapters.sql.identity import SqlIdentityProvider
from adapters.system.runtime import SystemClock
from admin_core.users.errors import IdentityProviderUnavailable, UserNotFound
from admin_core.users.ports import (
    IdentityProvider,
    IdentityUser,
    MembershipAlreadyExists,
    MembershipNotFound,
    OrganizationNotFound,
    OrgMembership,
)
from tests.support.databases import database
from tests.support.fake_clerk import FakeClerk, running_fake_clerk

ORG = "org_contract"
ANA = IdentityUser(id="user_ana", email="ana@example.org", name="Ana Lima")
BEN = IdentityUser(id="user_ben", email="ben@example.org", name="Ben Okafor")


@dataclass
class Subject:
    identity: IdentityProvider
    add_user: Callable[[IdentityUser], None]


@pytest.fixture
def fake_clerk() -> Iterator[FakeClerk]:
    with running_fake_clerk() as fake:
        yield fake


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "clerk"]
)
async def subject(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Subject]:
    if request.param == "memory":
        memory = InMemoryIdentityProvider()
        yield Subject(identity=memory, add_user=memory.add_user)
        return
    if request.param in ("sqlite", "postgres"):
        async with database(request.param, tmp_path) as transactions:
            sql = SqlIdentityProvider(transactions, SystemClock())
            yield Subject(identity=sql, add_user=sql.add_user)
        return
    fake: FakeClerk = request.getfixturevalue("fake_clerk")

    def add(user: IdentityUser) -> None:
        first, _, last = (user.name or "").partition(" ")
        fake.add_user(user.id, user.email, first or None, last or None)

    clerk = ClerkIdentityProvider(base_url=fake.url, secret_key=fake.secret_key, backoff=0.01)
    try:
        yield Subject(identity=clerk, add_user=add)
    finally:
        await clerk.aclose()


async def test_get_user_returns_contact_details(subject: Subject) -> None:
    subject.add_user(ANA)
    assert await subject.identity.get_user("user_ana") == ANA


async def test_unknown_user_is_user_not_found(subject: Subject) -> None:
    with pytest.raises(UserNotFound):
        await subject.identity.get_user("user_nobody")


async def test_ids_cannot_escape_their_path_segment(subject: Subject) -> None:
    subject.add_user(ANA)
    with pytest.raises(UserNotFound):
        await subject.identity.get_user("../users/user_ana")


async def test_membership_lifecycle(subject: Subject) -> None:
    subject.add_user(ANA)
    identity = subject.identity
    created = await identity.create_membership(ORG, "user_ana", "org:admin")
    assert (created.user_id, created.role) == ("user_ana", "org:admin")
    with pytest.raises(MembershipAlreadyExists):
        await identity.create_membership(ORG, "user_ana", "org:admin")
    changed = await identity.update_membership(ORG, "user_ana", "org:provider:staff")
    assert changed.role == "org:provider:staff"
    page = await identity.list_memberships(ORG)
    assert page.total == 1
    assert page.memberships == [
        OrgMembership(
            org_id=ORG,
            user_id="user_ana",
            role="org:provider:staff",
            email="ana@example.org",
            name="Ana Lima",
        )
    ]
    await identity.delete_membership(ORG, "user_ana")
    assert (await identity.list_memberships(ORG)).total == 0
    with pytest.raises(MembershipNotFound):
        await identity.delete_membership(ORG, "user_ana")
    with pytest.raises(MembershipNotFound):
        await identity.update_membership(ORG, "user_ana", "org:admin")


async def test_membership_for_an_unknown_user_is_refused(subject: Subject) -> None:
    with pytest.raises(UserNotFound):
        await subject.identity.create_membership(ORG, "user_nobody", "org:admin")


async def test_memberships_page_oldest_first_with_a_total(subject: Subject) -> None:
    ids = [f"user_{n:02d}" for n in range(7)]
    for user_id in ids:
        subject.add_user(IdentityUser(id=user_id, email=None, name=None))
        await subject.identity.create_membership(ORG, user_id, "org:provider:staff")
    seen: list[str] = []
    for offset in (0, 3, 6):
        page = await subject.identity.list_memberships(ORG, limit=3, offset=offset)
        assert page.total == 7
        seen += [m.user_id for m in page.memberships]
    assert seen == ids
    narrowed = await subject.identity.list_memberships(ORG, user_ids=["user_05", "user_99"])
    assert ([m.user_id for m in narrowed.memberships], narrowed.total) == (["user_05"], 1)
    assert (await subject.identity.list_memberships("org_empty")).total == 0


async def test_memberships_of_two_organisations_are_separate(subject: Subject) -> None:
    subject.add_user(ANA)
    subject.add_user(BEN)
    await subject.identity.create_membership("org_a", "user_ana", "org:admin")
    await subject.identity.create_membership("org_b", "user_ben", "org:admin")
    page = await subject.identity.list_memberships("org_a")
    assert [m.user_id for m in page.memberships] == ["user_ana"]


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (501, 0), (10, -1)])
async def test_page_bounds_are_enforced(subject: Subject, limit: int, offset: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        await subject.identity.list_memberships(ORG, limit=limit, offset=offset)


# --- Clerk only: the HTTP failure modes, against the fake server ------------------------------


@pytest.fixture
async def clerk(fake_clerk: FakeClerk) -> AsyncIterator[ClerkIdentityProvider]:
    fake_clerk.add_user("user_ana", "ana@example.org", "Ana", "Lima")
    client = ClerkIdentityProvider(
        base_url=fake_clerk.url, secret_key=fake_clerk.secret_key, timeout=0.3, backoff=0.01
    )
    try:
        yield client
    finally:
        await client.aclose()


async def test_a_wrong_secret_key_is_unavailable(fake_clerk: FakeClerk) -> None:
    client = ClerkIdentityProvider(base_url=fake_clerk.url, secret_key="sk_test_wrong")
    try:
        with pytest.raises(IdentityProviderUnavailable) as caught:
            await client.get_user("user_ana")
    finally:
        await client.aclose()
    assert caught.value.details["status"] == 401


async def test_429_is_retried_after_retry_after(
    clerk: ClerkIdentityProvider, fake_clerk: FakeClerk
) -> None:
    fake_clerk.fail_next(429, retry_after=1)
    started = time.monotonic()
    assert (await clerk.get_user("user_ana")).email == "ana@example.org"
    assert time.monotonic() - started >= 0.9  # waited as told
    assert fake_clerk.calls_of("GET") == 2


async def test_429_asking_too_long_a_wait_is_unavailable(fake_clerk: FakeClerk) -> None:
    fake_clerk.add_user("user_ana")
    fake_clerk.fail_next(429, retry_after=120)
    client = ClerkIdentityProvider(
        base_url=fake_clerk.url, secret_key=fake_clerk.secret_key, max_retry_after=5
    )
    try:
        with pytest.raises(IdentityProviderUnavailable) as caught:
            await client.get_user("user_ana")
    finally:
        await client.aclose()
    assert fake_clerk.calls_of("GET") == 1
    assert caught.value.retry_after_seconds == 120  # Clerk's wait, passed on to the caller


async def test_5xx_is_retried_then_succeeds(
    clerk: ClerkIdentityProvider, fake_clerk: FakeClerk
) -> None:
    fake_clerk.fail_next(502, times=2)
    assert (await clerk.get_user("user_ana")).id == "user_ana"
    assert fake_clerk.calls_of("GET") == 3


async def test_persistent_5xx_is_unavailable_after_bounded_retries(
    clerk: ClerkIdentityProvider, fake_clerk: FakeClerk
) -> None:
    fake_clerk.fail_next(500, times=10)
    with pytest.raises(IdentityProviderUnavailable):
        await clerk.get_user("user_ana")
    assert fake_clerk.calls_of("GET") == 3


async def test_timeouts_are_unavailable(
    clerk: ClerkIdentityProvider, fake_clerk: FakeClerk
) -> None:
    fake_clerk.delay_next(1.0, times=3)
    with pytest.raises(IdentityProviderUnavailable, match="in time"):
        await clerk.get_user("user_ana")


async def test_an_organisation_clerk_deleted_is_organization_not_found(
    clerk: ClerkIdentityProvider, fake_clerk: FakeClerk
) -> None:
    """Clerk's 404 on a create names neither the user nor the organisation: the adapter tells
    them apart, so a membership change can know that it was not made."""
    await clerk.create_membership(ORG, "user_ana", "org:admin")
    fake_clerk.remove_org(ORG)
    with pytest.raises(OrganizationNotFound):
        await clerk.list_memberships(ORG)
    with pytest.raises(OrganizationNotFound):
        await clerk.create_membership(ORG, "user_ana", "org:admin")
    with pytest.raises(MembershipNotFound):
        await clerk.update_membership(ORG, "user_ana", "org:admin")


async def test_a_create_for_a_user_clerk_deleted_is_user_not_found(
    clerk: ClerkIdentityProvider, fake_clerk: FakeClerk
) -> None:
    fake_clerk.remove_user("user_ana")
    with pytest.raises(UserNotFound):
        await clerk.create_membership(ORG, "user_ana", "org:admin")


async def test_an_unreachable_server_is_unavailable() -> None:
    client = ClerkIdentityProvider(
        base_url="http://127.0.0.1:9/v1", secret_key="sk_test_x", timeout=0.5, backoff=0.01
    )
    try:
        with pytest.raises(IdentityProviderUnavailable):
            await client.get_user("user_ana")
    finally:
        await client.aclose()
