"""The embedded mode's identity provider on its database (`embedded_memberships`).

The demo users are fixed; their memberships of organisations are rows, so every process on
the database — the server, the CLI, another replica — sees the same ones (the in-memory twin
keeps them per process). Writes go through the app's transactions, behind SQLite's writer
gate like every other write (docs/adr/0045)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.tables import embedded_memberships as memberships
from admin_core.kernel.runtime import Clock
from admin_core.kernel.transaction import Transactions
from admin_core.users.errors import UserNotFound
from admin_core.users.ports import (
    IdentityProvider,
    IdentityUser,
    MembershipAlreadyExists,
    MembershipNotFound,
    MembershipPage,
    OrgMembership,
)

MAX_LIMIT = 500


class SqlEmbeddedMemberships:
    """The rows of `embedded_memberships`, on a transaction's connection."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def page(
        self, org_id: str, user_ids: Collection[str], *, limit: int, offset: int
    ) -> tuple[list[tuple[str, str]], int]:
        """(user id, role) of the org's members, oldest first, and how many there are."""
        where = [memberships.c.org_id == org_id]
        if user_ids:
            where.append(memberships.c.user_id.in_(sorted(user_ids)))
        rows = await self._connection.execute(
            sa.select(memberships.c.user_id, memberships.c.role, sa.func.count().over())
            .where(*where)
            .order_by(memberships.c.seq)
            .limit(limit)
            .offset(offset)
        )
        found = rows.all()
        if found:
            return [(r[0], r[1]) for r in found], int(found[0][2])
        total = await self._connection.scalar(
            sa.select(sa.func.count()).select_from(memberships).where(*where)
        )
        return [], int(total or 0)

    async def add(self, org_id: str, user_id: str, role: str, at: datetime) -> bool:
        """False when the user is a member already."""
        dialect = self._connection.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        result = await self._connection.execute(
            insert(memberships)
            .values(org_id=org_id, user_id=user_id, role=role, created_at=at)
            .on_conflict_do_nothing(index_elements=["org_id", "user_id"])
        )
        return bool(result.rowcount)

    async def set_role(self, org_id: str, user_id: str, role: str) -> bool:
        result = await self._connection.execute(
            memberships.update()
            .where(memberships.c.org_id == org_id, memberships.c.user_id == user_id)
            .values(role=role)
        )
        return bool(result.rowcount)

    async def remove(self, org_id: str, user_id: str) -> bool:
        result = await self._connection.execute(
            memberships.delete().where(
                memberships.c.org_id == org_id, memberships.c.user_id == user_id
            )
        )
        return bool(result.rowcount)


class SqlIdentityProvider(IdentityProvider):
    """The demo users, and their memberships in `embedded_memberships`. Organisations exist
    implicitly: any org id can hold memberships. Memberships list in the order they were
    created."""

    def __init__(
        self, transactions: Transactions[Any], clock: Clock, users: Iterable[IdentityUser] = ()
    ) -> None:
        self._transactions = transactions
        self._clock = clock
        self._users = {u.id: u for u in users}

    def add_user(self, user: IdentityUser) -> None:
        self._users[user.id] = user

    async def aclose(self) -> None:
        return None

    async def get_user(self, user_id: str) -> IdentityUser:
        user = self._users.get(user_id)
        if user is None:
            raise UserNotFound(details={"user_id": user_id})
        return user

    async def list_memberships(
        self,
        org_id: str,
        *,
        limit: int = 100,
        offset: int = 0,
        user_ids: Collection[str] = (),
    ) -> MembershipPage:
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            raise ValueError("limit must be 1..500 and offset 0 or more")
        async with self._transactions() as tx:
            rows, total = await tx.embedded_memberships.page(
                org_id, user_ids, limit=limit, offset=offset
            )
        return MembershipPage(
            memberships=[self._membership(org_id, user_id, role) for user_id, role in rows],
            total=total,
        )

    async def create_membership(self, org_id: str, user_id: str, role: str) -> OrgMembership:
        await self.get_user(user_id)
        async with self._transactions() as tx:
            added = await tx.embedded_memberships.add(org_id, user_id, role, self._clock.now())
            await tx.commit()
        if not added:
            raise MembershipAlreadyExists(f"{user_id} is already a member of {org_id}")
        return self._membership(org_id, user_id, role)

    async def update_membership(self, org_id: str, user_id: str, role: str) -> OrgMembership:
        async with self._transactions() as tx:
            updated = await tx.embedded_memberships.set_role(org_id, user_id, role)
            await tx.commit()
        if not updated:
            raise MembershipNotFound(f"{user_id} is not a member of {org_id}")
        return self._membership(org_id, user_id, role)

    async def delete_membership(self, org_id: str, user_id: str) -> None:
        async with self._transactions() as tx:
            removed = await tx.embedded_memberships.remove(org_id, user_id)
            await tx.commit()
        if not removed:
            raise MembershipNotFound(f"{user_id} is not a member of {org_id}")

    def _membership(self, org_id: str, user_id: str, role: str) -> OrgMembership:
        user = self._users.get(user_id)
        return OrgMembership(
            org_id=org_id,
            user_id=user_id,
            role=role,
            email=user.email if user else None,
            name=user.name if user else None,
        )
