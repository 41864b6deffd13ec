"""User directory and user-role repositories on SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.errors import violated_constraint
from adapters.sql.tables import user_roles, users
from admin_core.users.model import UserContact, UserRole
from admin_core.users.ports import UserContacts, UserRoleRepository


class SqlUserContacts(UserContacts):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def upsert(self, user: UserContact) -> None:
        dialect = self._connection.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(users).values(
            id=user.id, email=user.email, name=user.name, updated_at=user.updated_at
        )
        await self._connection.execute(
            statement.on_conflict_do_update(
                index_elements=["id"],
                set_={
                    "email": statement.excluded.email,
                    "name": statement.excluded.name,
                    "updated_at": statement.excluded.updated_at,
                },
            )
        )

    async def get_many(self, user_ids: Collection[str]) -> dict[str, UserContact]:
        if not user_ids:
            return {}
        rows = await self._connection.execute(
            sa.select(users).where(users.c.id.in_(list(user_ids)))
        )
        return {
            row.id: UserContact(
                id=row.id, email=row.email, name=row.name, updated_at=row.updated_at
            )
            for row in rows
        }


class SqlUserRoleRepository(UserRoleRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, grant: UserRole) -> bool:
        """A concurrent grant of the same role waits on the key, then finds it taken."""
        try:
            async with self._connection.begin_nested():
                await self._connection.execute(
                    user_roles.insert().values(
                        tenant_id=grant.tenant_id,
                        user_id=grant.user_id,
                        role=grant.role,
                        granted_by=grant.granted_by,
                        granted_at=grant.granted_at,
                    )
                )
        except sqlalchemy.exc.IntegrityError as error:
            if violated_constraint(error) == "pk_user_roles":
                return False
            raise
        return True

    async def remove(self, tenant_id: str, user_id: str, role: str) -> bool:
        result = await self._connection.execute(
            user_roles.delete().where(
                user_roles.c.tenant_id == tenant_id,
                user_roles.c.user_id == user_id,
                user_roles.c.role == role,
            )
        )
        return bool(result.rowcount)

    async def roles_of(
        self, tenant_id: str, user_id: str, *, lock: bool = False
    ) -> tuple[str, ...]:
        if lock:
            await self._connection.execute(
                sa.select(users.c.id).where(users.c.id == user_id).with_for_update()
            )
        roles = await self._connection.scalars(
            sa.select(user_roles.c.role)
            .where(user_roles.c.tenant_id == tenant_id, user_roles.c.user_id == user_id)
            .order_by(user_roles.c.role)
        )
        return tuple(roles)

    async def get(self, tenant_id: str, user_id: str, role: str) -> UserRole | None:
        found = await self._connection.execute(
            sa.select(user_roles).where(
                user_roles.c.tenant_id == tenant_id,
                user_roles.c.user_id == user_id,
                user_roles.c.role == role,
            )
        )
        row = found.first()
        return _grant(row) if row is not None else None

    async def for_tenant(self, tenant_id: str) -> Sequence[UserRole]:
        rows = await self._connection.execute(
            sa.select(user_roles)
            .where(user_roles.c.tenant_id == tenant_id)
            .order_by(user_roles.c.user_id, user_roles.c.role)
        )
        return [_grant(row) for row in rows]

    async def holders(self, tenant_id: str, role: str, *, lock: bool = False) -> tuple[str, ...]:
        statement = (
            sa.select(user_roles.c.user_id)
            .where(user_roles.c.tenant_id == tenant_id, user_roles.c.role == role)
            .order_by(user_roles.c.user_id)
        )
        if lock:
            statement = statement.with_for_update()
        return tuple(await self._connection.scalars(statement))


def _grant(row: sa.Row[Any]) -> UserRole:
    return UserRole(
        tenant_id=row.tenant_id,
        user_id=row.user_id,
        role=row.role,
        granted_by=row.granted_by,
        granted_at=row.granted_at,
    )
