"""The embedded mode's flag provider: overrides in SQL (`flag_overrides`), the catalogue's
defaults as the environment. It survives a restart; with no Flagsmith configured, it is what
the flags of an embedded installation are. Statements run in the adapter's own short
transactions (through the SQLite writer gate like every other write)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.tables import flag_overrides as overrides
from admin_core.flags.model import FlagState
from admin_core.flags.ports import FeatureFlags
from admin_core.kernel.json_text import read_json

if TYPE_CHECKING:
    from adapters.sql.transaction import SqlTransactions


class SqlFlagOverrides:
    """The `flag_overrides` table on a transaction's connection."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def of(self, identity: str) -> dict[str, Any]:
        rows = await self._connection.execute(
            sa.select(overrides.c.flag, overrides.c.value).where(overrides.c.identity == identity)
        )
        return {row.flag: read_json(row.value) for row in rows}

    async def set(self, identity: str, flag: str, value: Any, *, at: datetime) -> None:
        postgres = self._connection.dialect.name == "postgresql"
        insert = postgresql.insert if postgres else sqlite.insert
        statement = insert(overrides).values(
            identity=identity, flag=flag, value=json.dumps(value), updated_at=at
        )
        await self._connection.execute(
            statement.on_conflict_do_update(
                index_elements=["identity", "flag"],
                set_={
                    "value": statement.excluded.value,
                    "updated_at": statement.excluded.updated_at,
                },
            )
        )

    async def clear(self, identity: str, flag: str) -> None:
        await self._connection.execute(
            overrides.delete().where(overrides.c.identity == identity, overrides.c.flag == flag)
        )


class SqlFeatureFlags(FeatureFlags):
    def __init__(
        self,
        transactions: SqlTransactions,
        environment: Mapping[str, Any],
        now: Callable[[], datetime],
    ) -> None:
        self._transactions = transactions
        self._environment = dict(environment)
        self._now = now

    async def state(self, identity: str) -> FlagState:
        return FlagState(environment=self._environment, overrides=await self.overrides(identity))

    async def overrides(self, identity: str) -> Mapping[str, Any]:
        async with self._transactions() as tx:
            return await tx.flag_overrides.of(identity)

    async def set_override(self, identity: str, flag: str, value: Any) -> None:
        async with self._transactions() as tx:
            await tx.flag_overrides.set(identity, flag, value, at=self._now())
            await tx.commit()

    async def clear_override(self, identity: str, flag: str) -> None:
        async with self._transactions() as tx:
            await tx.flag_overrides.clear(identity, flag)
            await tx.commit()
