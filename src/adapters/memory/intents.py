"""In-memory intents of external side effects."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from adapters.memory.store import InMemoryStore
from admin_core.audit.model import AuditRecord
from admin_core.side_effects.model import Intent, IntentStatus
from admin_core.side_effects.ports import IntentLog, IntentSubjectBusy


class InMemoryIntentLog(IntentLog):
    """The store's single lock serialises transactions: `get(lock=True)` needs nothing more."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    async def add(self, intent: Intent) -> None:
        if intent.subject is not None and await self.pending_of(intent.subject) is not None:
            raise IntentSubjectBusy(intent.subject)
        self._store.intents[intent.id] = intent

    async def await_add(self, intent: Intent) -> None:
        """Nothing to wait for: the store's lock let this transaction begin only once every
        other had ended."""

    async def get(self, intent_id: str, *, lock: bool = False) -> Intent | None:
        return self._store.intents.get(intent_id)

    async def settle(
        self,
        intent_id: str,
        status: IntentStatus,
        *,
        at: datetime,
        error: str | None = None,
        result: Mapping[str, Any] | None = None,
    ) -> bool:
        intent = self._store.intents.get(intent_id)
        if intent is None or intent.status is not IntentStatus.PENDING:
            return False
        self._store.intents[intent_id] = replace(
            intent,
            status=status,
            updated_at=at,
            attempts=intent.attempts + 1,
            error=error,
            result=intent.result if result is None else dict(result),
            lease_until=None,
        )
        return True

    async def lease(self, intent_id: str, *, until: datetime, at: datetime) -> None:
        intent = self._store.intents[intent_id]
        self._store.intents[intent_id] = replace(intent, lease_until=until, updated_at=at)

    async def renew(
        self, intent_id: str, *, held_until: datetime, until: datetime | None, at: datetime
    ) -> bool:
        intent = self._store.intents.get(intent_id)
        if intent is None or intent.status is not IntentStatus.PENDING:
            return False
        if intent.lease_until != held_until:
            return False
        self._store.intents[intent_id] = replace(intent, lease_until=until, updated_at=at)
        return True

    async def reassign(self, intent_id: str, audit: Sequence[AuditRecord]) -> None:
        intent = self._store.intents[intent_id]
        self._store.intents[intent_id] = replace(intent, audit=tuple(audit))

    async def pending(
        self,
        *,
        created_before: datetime,
        limit: int,
        kinds: Collection[str] | None = None,
        after: Intent | None = None,
    ) -> Sequence[Intent]:
        start = (after.created_at, after.id) if after is not None else None
        found = [
            i
            for i in self._store.intents.values()
            if i.status is IntentStatus.PENDING
            and i.created_at < created_before
            and (kinds is None or i.kind in kinds)
            and (start is None or (i.created_at, i.id) > start)
        ]
        return sorted(found, key=lambda i: (i.created_at, i.id))[:limit]

    async def pending_of(self, subject: str) -> Intent | None:
        return next(
            (
                i
                for i in self._store.intents.values()
                if i.subject == subject and i.status is IntentStatus.PENDING
            ),
            None,
        )
