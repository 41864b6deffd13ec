"""Intents of external side effects in SQL (`side_effect_intents`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.errors import violated_constraint
from adapters.sql.tables import side_effect_intents as intents
from admin_core.audit.model import AuditRecord
from admin_core.side_effects.model import Intent, IntentStatus
from admin_core.side_effects.ports import IntentLog, IntentSubjectBusy

#: Built once: building a statement costs more than running it.
_INSERT = intents.insert()
_GET = sa.select(intents).where(intents.c.id == sa.bindparam("intent_id"))
_LOCK = _GET.with_for_update()
_SETTLE = (
    intents.update()
    .where(
        intents.c.id == sa.bindparam("intent_id"),
        intents.c.status == IntentStatus.PENDING.value,
    )
    .values(
        status=sa.bindparam("new_status"),
        updated_at=sa.bindparam("at"),
        attempts=intents.c.attempts + 1,
        error=sa.bindparam("new_error"),
        lease_until=None,
    )
)
#: The same, also replacing the provider's last answer.
_SETTLE_WITH_RESULT = _SETTLE.values(result=sa.bindparam("new_result"))
_LEASE = (
    intents.update()
    .where(intents.c.id == sa.bindparam("intent_id"))
    .values(lease_until=sa.bindparam("until"), updated_at=sa.bindparam("at"))
)
_RENEW = (
    intents.update()
    .where(
        intents.c.id == sa.bindparam("intent_id"),
        intents.c.status == IntentStatus.PENDING.value,
        intents.c.lease_until == sa.bindparam("held_until"),
    )
    .values(lease_until=sa.bindparam("until"), updated_at=sa.bindparam("at"))
)
_REASSIGN = (
    intents.update()
    .where(intents.c.id == sa.bindparam("intent_id"))
    .values(audit=sa.bindparam("new_audit", type_=intents.c.audit.type))
)
_PENDING = (
    sa.select(intents)
    .where(
        intents.c.status == IntentStatus.PENDING.value,
        intents.c.created_at < sa.bindparam("created_before"),
    )
    .order_by(intents.c.created_at, intents.c.id)
    .limit(sa.bindparam("limit"))
)
_PENDING_OF = sa.select(intents).where(
    intents.c.subject == sa.bindparam("subject"),
    intents.c.status == IntentStatus.PENDING.value,
)


class SqlIntentLog(IntentLog):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, intent: Intent) -> None:
        if intent.subject is None:
            await self._insert(intent)
            return
        try:
            async with self._connection.begin_nested():  # the caller's transaction survives
                await self._insert(intent)
        except sqlalchemy.exc.IntegrityError as error:
            if violated_constraint(error) == "uq_side_effect_intents_subject":
                raise IntentSubjectBusy(intent.subject) from error
            raise

    async def _insert(self, intent: Intent) -> None:
        await self._connection.execute(_INSERT, _values(intent))

    async def await_add(self, intent: Intent) -> None:
        # Adding the same id again waits for a transaction that added it and has not ended
        # (it holds the key), then adds nothing if that one committed. The caller rolls back.
        postgres = self._connection.dialect.name == "postgresql"
        insert = postgresql.insert if postgres else sqlite.insert
        await self._connection.execute(insert(intents).on_conflict_do_nothing(), _values(intent))

    async def get(self, intent_id: str, *, lock: bool = False) -> Intent | None:
        found = await self._connection.execute(_LOCK if lock else _GET, {"intent_id": intent_id})
        row = found.first()
        return _intent(row) if row is not None else None

    async def settle(
        self,
        intent_id: str,
        status: IntentStatus,
        *,
        at: datetime,
        error: str | None = None,
        result: Mapping[str, Any] | None = None,
    ) -> bool:
        values: dict[str, Any] = {
            "intent_id": intent_id,
            "new_status": status.value,
            "at": at,
            "new_error": error,
        }
        statement = _SETTLE
        if result is not None:
            statement = _SETTLE_WITH_RESULT
            values["new_result"] = dict(result)
        settled = await self._connection.execute(statement, values)
        return bool(settled.rowcount == 1)

    async def lease(self, intent_id: str, *, until: datetime, at: datetime) -> None:
        await self._connection.execute(_LEASE, {"intent_id": intent_id, "until": until, "at": at})

    async def renew(
        self, intent_id: str, *, held_until: datetime, until: datetime | None, at: datetime
    ) -> bool:
        renewed = await self._connection.execute(
            _RENEW, {"intent_id": intent_id, "held_until": held_until, "until": until, "at": at}
        )
        return renewed.rowcount == 1

    async def reassign(self, intent_id: str, audit: Sequence[AuditRecord]) -> None:
        await self._connection.execute(
            _REASSIGN, {"intent_id": intent_id, "new_audit": [_record_values(r) for r in audit]}
        )

    async def pending(
        self,
        *,
        created_before: datetime,
        limit: int,
        kinds: Collection[str] | None = None,
        after: Intent | None = None,
    ) -> Sequence[Intent]:
        statement = _PENDING
        if kinds is not None:
            statement = statement.where(intents.c.kind.in_(list(kinds)))
        if after is not None:
            statement = statement.where(
                sa.or_(
                    intents.c.created_at > after.created_at,
                    sa.and_(intents.c.created_at == after.created_at, intents.c.id > after.id),
                )
            )
        rows = await self._connection.execute(
            statement, {"created_before": created_before, "limit": limit}
        )
        return [_intent(row) for row in rows]

    async def pending_of(self, subject: str) -> Intent | None:
        found = await self._connection.execute(_PENDING_OF, {"subject": subject})
        row = found.first()
        return _intent(row) if row is not None else None


def _record_values(record: AuditRecord) -> dict[str, Any]:
    values = asdict(record)
    for name in ("before", "after"):
        if values[name] is not None:
            values[name] = dict(values[name])
    return values


def _intent(row: Any) -> Intent:
    return Intent(
        id=row.id,
        kind=row.kind,
        key=row.key,
        tenant_id=row.tenant_id,
        payload=row.payload,
        audit=tuple(AuditRecord(**values) for values in row.audit),
        status=IntentStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        attempts=row.attempts,
        error=row.error,
        result=row.result,
        lease_until=row.lease_until,
        subject=row.subject,
    )


def _values(intent: Intent) -> dict[str, Any]:
    return {
        "id": intent.id,
        "kind": intent.kind,
        "key": intent.key,
        "tenant_id": intent.tenant_id,
        "payload": dict(intent.payload),
        "audit": [_record_values(r) for r in intent.audit],
        "status": intent.status.value,
        "created_at": intent.created_at,
        "updated_at": intent.updated_at,
        "attempts": intent.attempts,
        "error": intent.error,
        "result": None if intent.result is None else dict(intent.result),
        "lease_until": intent.lease_until,
        "subject": intent.subject,
    }
