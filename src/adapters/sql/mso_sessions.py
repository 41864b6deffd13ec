"""MSO sessions on SQLAlchemy Core; their lists run as `Read`s, one statement per filter shape."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.pages import page_and_total, with_total
from adapters.sql.reads import Read
from adapters.sql.tables import mso_sessions as sessions
from adapters.sql.types import UtcDateTime
from admin_core.kernel.paging import OffsetPage
from admin_core.payments.model import (
    MsoSession,
    PaymentProvider,
    Refund,
    RefundAnswer,
    RefundStatus,
    SessionFilter,
    SessionStatus,
)
from admin_core.payments.ports import MsoSessionRepository

_COLUMNS = tuple(sessions.c)
_GET = sa.select(*_COLUMNS).where(sessions.c.id == sa.bindparam("session_id"))
_LOCK = _GET.with_for_update()
_ORDER = (sessions.c.scheduled_at.desc(), sessions.c.id.desc())
#: Built once: building a statement costs more than running it.
_INSERT = sessions.insert()
_RECORD_REFUND = (
    sessions.update()
    .where(
        sessions.c.id == sa.bindparam("session_id"),
        sessions.c.refund_intent_id == sa.bindparam("intent_id"),
    )
    .values(
        status=sa.bindparam("new_status"),
        refund_id=sa.bindparam("new_refund_id"),
        refund_status=sa.bindparam("new_refund_status"),
        refund_amount_minor=sa.bindparam("new_refund_amount_minor"),
        refund_provider=sa.bindparam("new_refund_provider"),
        refund_created_at=sa.bindparam("new_refund_created_at"),
        refund_intent_id=sa.bindparam("new_refund_intent_id"),
        updated_at=sa.bindparam("new_updated_at"),
    )
)
_UPDATE = (
    sessions.update()
    .where(sessions.c.id == sa.bindparam("session_id"))
    .values({c.name: sa.bindparam(f"new_{c.name}") for c in sessions.c if c.name != "id"})
)


def _conditions(where: SessionFilter) -> tuple[tuple[bool, ...], dict[str, Any]]:
    values: dict[str, Any] = {}
    if where.tenant_id is not None:
        values["tenant_id"] = where.tenant_id
    if where.status is not None:
        values["status"] = where.status.value
    if where.scheduled_from is not None:
        values["scheduled_from"] = where.scheduled_from
    if where.scheduled_to is not None:
        values["scheduled_to"] = where.scheduled_to
    shape = tuple(name in values for name in _FILTERS)
    return shape, values


_FILTERS = ("tenant_id", "status", "scheduled_from", "scheduled_to")


def _where(shape: tuple[bool, ...]) -> list[Any]:
    by_tenant, by_status, by_from, by_to = shape
    conditions = []
    if by_tenant:
        conditions.append(sessions.c.tenant_id == sa.bindparam("tenant_id"))
    if by_status:  # a range of one value: see `_page`
        conditions.append(sessions.c.status.between(sa.bindparam("status"), sa.bindparam("status")))
    if by_from:
        conditions.append(sessions.c.scheduled_at >= sa.bindparam("scheduled_from"))
    if by_to:
        conditions.append(sessions.c.scheduled_at <= sa.bindparam("scheduled_to"))
    return conditions


#: Right after a session (`after_at`, `after_id`) in the list's order: a row comparison, which
#: both databases read as one range of the `(…, scheduled_at, id)` indexes.
_AFTER = sa.tuple_(sessions.c.scheduled_at, sessions.c.id) < sa.tuple_(
    sa.bindparam("after_at", type_=UtcDateTime), sa.bindparam("after_id", type_=sa.Text)
)


#: Up to this many matching sessions are counted exactly on every page; beyond it PostgreSQL's
#: planner estimates the total (flagged `total_exact=False`): counting a million rows costs
#: 30-90 ms, far over a first page's budget (docs/adr/0051).
EXACT_TOTAL_UP_TO = 10_000


def _rows(shape: tuple[bool, ...], after: bool) -> Any:
    """Newest first. With a status filter the page is ordered by the status index's columns
    too (the same order: the status is one value) and the status is written as a range:
    PostgreSQL otherwise walks `scheduled_at` backwards and filters, skipping every newer
    session of another status — the future bookings first (docs/adr/0051)."""
    by_tenant, by_status = shape[0], shape[1]
    leading = []
    if by_status:
        leading = [sessions.c.status.desc()]
        if by_tenant:
            leading = [sessions.c.tenant_id.desc(), *leading]
    return (
        sa.select(*_COLUMNS)
        .where(*_where(shape), *([_AFTER] if after else []))
        .order_by(*leading, *_ORDER)
        .limit(sa.bindparam("limit"))
        .offset(sa.bindparam("offset"))
    )


def _count(shape: tuple[bool, ...]) -> Any:
    return sa.select(sa.func.count()).select_from(sessions).where(*_where(shape))


def _capped_count(shape: tuple[bool, ...]) -> Any:
    """The matching sessions counted up to `EXACT_TOTAL_UP_TO + 1`."""
    matching = (
        sa.select(sa.literal(1))
        .select_from(sessions)
        .where(*_where(shape))
        .limit(EXACT_TOTAL_UP_TO + 1)
    ).subquery()
    return sa.select(sa.func.count()).select_from(matching)


@functools.cache
def _page(shape: tuple[bool, ...], after: bool = False) -> Read:
    """A page of sessions with the count of every matching one, in one statement (one
    snapshot): exact on SQLite (the embedded mode's small database), capped on PostgreSQL."""
    order = ((sessions.c.scheduled_at, True), (sessions.c.id, True))
    rows = _rows(shape, after)
    return Read(
        with_total(rows, _count(shape), order),
        per_dialect={"postgresql": with_total(rows, _capped_count(shape), order)},
    )


@functools.cache
def _estimate(shape: tuple[bool, ...]) -> Read:
    """The planner's row estimate of the filter (no rows are read)."""
    return Read(sa.select(sa.literal(1)).select_from(sessions).where(*_where(shape)))


def _session(row: Sequence[Any]) -> MsoSession:
    v = dict(zip((c.name for c in _COLUMNS), row, strict=True))
    refund = None
    if v["refund_id"] is not None:
        refund = Refund(
            id=v["refund_id"],
            status=RefundStatus(v["refund_status"]),
            amount_minor=int(v["refund_amount_minor"]),
            currency=v["currency"],
            provider=v["refund_provider"],
            created_at=v["refund_created_at"],
        )
    return MsoSession(
        id=v["id"],
        tenant_id=v["tenant_id"],
        patient_id=v["patient_id"],
        case_id=v["case_id"],
        mso_doctor_id=v["mso_doctor_id"],
        scheduled_at=v["scheduled_at"],
        status=SessionStatus(v["status"]),
        amount_minor=int(v["amount_minor"]),
        currency=v["currency"],
        payment_provider=PaymentProvider(v["payment_provider"]),
        payment_ref=v["payment_ref"],
        refund=refund,
        created_at=v["created_at"],
        updated_at=v["updated_at"],
        refund_attempts=int(v["refund_attempts"]),
        refund_intent_id=v["refund_intent_id"],
    )


def session_values(session: MsoSession) -> dict[str, Any]:
    refund = session.refund
    return {
        "id": session.id,
        "tenant_id": session.tenant_id,
        "patient_id": session.patient_id,
        "case_id": session.case_id,
        "mso_doctor_id": session.mso_doctor_id,
        "scheduled_at": session.scheduled_at,
        "status": session.status.value,
        "amount_minor": session.amount_minor,
        "currency": session.currency,
        "payment_provider": session.payment_provider.value,
        "payment_ref": session.payment_ref,
        "refund_id": refund.id if refund else None,
        "refund_status": refund.status.value if refund else None,
        "refund_amount_minor": refund.amount_minor if refund else None,
        "refund_provider": refund.provider if refund else None,
        "refund_created_at": refund.created_at if refund else None,
        "refund_attempts": session.refund_attempts,
        "refund_intent_id": session.refund_intent_id,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
    }


class SqlMsoSessionRepository(MsoSessionRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def get(self, session_id: str, *, lock: bool = False) -> MsoSession | None:
        row = (
            await self._connection.execute(_LOCK if lock else _GET, {"session_id": session_id})
        ).first()
        return _session(row) if row is not None else None

    async def page(
        self,
        where: SessionFilter,
        *,
        limit: int,
        offset: int,
        after: tuple[datetime, str] | None = None,
    ) -> OffsetPage[MsoSession]:
        shape, values = _conditions(where)
        bounds: dict[str, Any] = {"limit": limit, "offset": offset}
        if after is not None:
            bounds["after_at"], bounds["after_id"] = after
        found = await _page(shape, after is not None).rows(self._connection, {**values, **bounds})
        rows, total = page_and_total(found)
        exact = total <= EXACT_TOTAL_UP_TO or self._connection.dialect.name != "postgresql"
        if not exact:
            # Many: PostgreSQL's estimate, never below what the page shows there is.
            estimate = await _estimate(shape).estimate(self._connection, values)
            total = max(estimate, EXACT_TOTAL_UP_TO + 1, offset + len(rows))
        return OffsetPage(
            items=[_session(r) for r in rows],
            total=total,
            limit=limit,
            offset=offset,
            total_exact=exact,
        )

    async def add(self, session: MsoSession) -> None:
        await self._connection.execute(_INSERT, session_values(session))

    async def add_many(self, items: Sequence[MsoSession]) -> None:
        if items:
            await self._connection.execute(_INSERT, [session_values(s) for s in items])

    async def update(self, session: MsoSession) -> None:
        values = {f"new_{name}": value for name, value in session_values(session).items()}
        values["session_id"] = values.pop("new_id")
        await self._connection.execute(_UPDATE, values)

    async def record_refund(
        self, session_id: str, intent_id: str, answer: RefundAnswer, *, at: datetime
    ) -> None:
        refund = answer.refund
        await self._connection.execute(
            _RECORD_REFUND,
            {
                "session_id": session_id,
                "intent_id": intent_id,
                "new_status": answer.status.value,
                "new_refund_id": refund.id if refund else None,
                "new_refund_status": refund.status.value if refund else None,
                "new_refund_amount_minor": refund.amount_minor if refund else None,
                "new_refund_provider": refund.provider if refund else None,
                "new_refund_created_at": refund.created_at if refund else None,
                "new_refund_intent_id": intent_id if answer.pending else None,
                "new_updated_at": at,
            },
        )
