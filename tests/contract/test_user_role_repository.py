"""Contract of the user directory and user-role repositories."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from admin_core.kernel.transaction import Transactions
from admin_core.users.model import UserContact, UserRole

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def user(user_id: str, email: str | None = None) -> UserContact:
    return UserContact(id=user_id, email=email, name=user_id.title(), updated_at=T0)


def grant(tenant_id: str, user_id: str, role: str) -> UserRole:
    return UserRole(
        tenant_id=tenant_id, user_id=user_id, role=role, granted_by="user_boss", granted_at=T0
    )


async def seed(uow: Transactions, *grants: UserRole) -> None:
    async with uow() as tx:
        for g in grants:
            await tx.users.upsert(user(g.user_id))
            assert await tx.user_roles.add(g)
        await tx.commit()


async def test_directory_upsert_replaces_details(uow: Transactions) -> None:
    async with uow() as tx:
        await tx.users.upsert(user("user_a", "old@example.org"))
        await tx.commit()
    newer = UserContact(
        id="user_a", email="new@example.org", name="A", updated_at=T0 + timedelta(days=1)
    )
    async with uow() as tx:
        await tx.users.upsert(newer)
        await tx.commit()
    async with uow() as tx:
        assert await tx.users.get_many(["user_a", "user_missing"]) == {"user_a": newer}
        assert await tx.users.get_many([]) == {}


async def test_grants_read_back_per_tenant_in_order(uow: Transactions) -> None:
    await seed(
        uow,
        grant("t1", "user_b", "org:admin"),
        grant("t1", "user_a", "org:provider:staff"),
        grant("t1", "user_a", "org:admin"),
        grant("t2", "user_a", "org:mso:doctor"),
    )
    async with uow() as tx:
        listed = await tx.user_roles.for_tenant("t1")
        assert [(g.user_id, g.role) for g in listed] == [
            ("user_a", "org:admin"),
            ("user_a", "org:provider:staff"),
            ("user_b", "org:admin"),
        ]
        assert listed[0] == grant("t1", "user_a", "org:admin")
        assert await tx.user_roles.roles_of("t1", "user_a") == ("org:admin", "org:provider:staff")
        assert await tx.user_roles.roles_of("t2", "user_b") == ()
        assert await tx.user_roles.holders("t1", "org:admin") == ("user_a", "user_b")


async def test_granting_a_held_role_again_writes_nothing(uow: Transactions) -> None:
    await seed(uow, grant("t1", "user_a", "org:admin"))
    async with uow() as tx:
        later = UserRole(
            tenant_id="t1",
            user_id="user_a",
            role="org:admin",
            granted_by="user_other",
            granted_at=T0 + timedelta(days=1),
        )
        assert not await tx.user_roles.add(later)
        await tx.commit()
    async with uow() as tx:
        assert await tx.user_roles.for_tenant("t1") == [grant("t1", "user_a", "org:admin")]


async def test_remove_reports_whether_something_was_removed(uow: Transactions) -> None:
    await seed(uow, grant("t1", "user_a", "org:admin"))
    async with uow() as tx:
        assert await tx.user_roles.remove("t1", "user_a", "org:admin")
        assert not await tx.user_roles.remove("t1", "user_a", "org:admin")
        await tx.commit()
    async with uow() as tx:
        assert await tx.user_roles.roles_of("t1", "user_a") == ()


async def test_uncommitted_grants_roll_back(uow: Transactions) -> None:
    async with uow() as tx:
        await tx.users.upsert(user("user_a"))
        await tx.user_roles.add(grant("t1", "user_a", "org:admin"))
    async with uow() as tx:
        assert await tx.user_roles.for_tenant("t1") == []
        assert await tx.users.get_many(["user_a"]) == {}


async def test_concurrent_grants_of_one_role_leave_one(uow: Transactions) -> None:
    await seed(uow, grant("t1", "user_a", "org:provider:staff"))

    async def add() -> bool:
        async with uow() as tx:
            added = await tx.user_roles.add(grant("t1", "user_a", "org:admin"))
            await asyncio.sleep(0.02)
            await tx.commit()
            return added

    assert sorted(await asyncio.gather(add(), add())) == [False, True]


async def test_locked_holders_make_a_concurrent_revoke_count_again(
    uow: Transactions,
) -> None:
    """Two revokes of the last two holders: the second sees only one holder left."""
    await seed(uow, grant("platform", "user_a", "org:super_admin"))
    await seed(uow, grant("platform", "user_b", "org:super_admin"))
    seen: list[tuple[str, ...]] = []

    async def revoke(user_id: str) -> None:
        async with uow() as tx:
            holders = await tx.user_roles.holders("platform", "org:super_admin", lock=True)
            seen.append(holders)
            if len(holders) > 1:
                await tx.user_roles.remove("platform", user_id, "org:super_admin")
            await asyncio.sleep(0.05)
            await tx.commit()

    await asyncio.gather(revoke("user_a"), revoke("user_b"))
    assert sorted(len(h) for h in seen) == [1, 2]
    async with uow() as tx:
        assert len(await tx.user_roles.holders("platform", "org:super_admin")) == 1


async def test_one_grant_reads_back_in_full(uow: Transactions) -> None:
    granted = grant("t1", "user_a", "org:admin")
    await seed(uow, granted, grant("t2", "user_a", "org:admin"))
    async with uow() as tx:
        assert await tx.user_roles.get("t1", "user_a", "org:admin") == granted
        assert await tx.user_roles.get("t1", "user_a", "org:provider:staff") is None
        assert await tx.user_roles.get("t3", "user_a", "org:admin") is None
