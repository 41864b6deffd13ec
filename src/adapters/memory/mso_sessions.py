"""In-memory MSO sessions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from adapters.memory.store import InMemoryStore
from admin_core.kernel.paging import OffsetPage
from admin_core.payments.model import MsoSession, RefundAnswer, SessionFilter
from admin_core.payments.ports import MsoSessionRepository


class InMemoryMsoSessionRepository(MsoSessionRepository):
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    async def get(self, session_id: str, *, lock: bool = False) -> MsoSession | None:
        return self._store.mso_sessions.get(session_id)

    async def page(
        self,
        where: SessionFilter,
        *,
        limit: int,
        offset: int,
        after: tuple[datetime, str] | None = None,
    ) -> OffsetPage[MsoSession]:
        found = [s for s in self._store.mso_sessions.values() if _matches(s, where)]
        found.sort(key=lambda s: (s.scheduled_at, s.id), reverse=True)
        following = [s for s in found if after is None or (s.scheduled_at, s.id) < after]
        return OffsetPage(
            items=following[offset : offset + limit], total=len(found), limit=limit, offset=offset
        )

    async def add(self, session: MsoSession) -> None:
        self._store.mso_sessions[session.id] = session

    async def add_many(self, items: Sequence[MsoSession]) -> None:
        for session in items:
            self._store.mso_sessions[session.id] = session

    async def update(self, session: MsoSession) -> None:
        self._store.mso_sessions[session.id] = session

    async def record_refund(
        self, session_id: str, intent_id: str, answer: RefundAnswer, *, at: datetime
    ) -> None:
        session = self._store.mso_sessions.get(session_id)
        if session is None or session.refund_intent_id != intent_id:
            return
        self._store.mso_sessions[session_id] = replace(
            session,
            status=answer.status,
            refund=answer.refund,
            refund_intent_id=intent_id if answer.pending else None,
            updated_at=at,
        )


def _matches(session: MsoSession, where: SessionFilter) -> bool:
    return (
        (where.tenant_id is None or session.tenant_id == where.tenant_id)
        and (where.status is None or session.status is where.status)
        and (where.scheduled_from is None or session.scheduled_at >= where.scheduled_from)
        and (where.scheduled_to is None or session.scheduled_at <= where.scheduled_to)
    )
