"""MSO sessions on the wire (SPEC §6.4)."""

from __future__ import annotations

from datetime import datetime

from admin_core.kernel.paging import OffsetPage
from admin_core.payments.model import MsoSession, Refund
from entrypoints.http.schemas import Out


class RefundOut(Out, frozen=True):
    id: str
    status: str
    amount_minor: int
    provider: str
    created_at: datetime


class MsoSessionOut(Out, frozen=True):
    id: str
    tenant_id: str
    patient_id: str
    case_id: str
    mso_doctor_id: str
    scheduled_at: datetime
    status: str
    amount_minor: int
    currency: str
    payment_provider: str
    payment_ref: str
    refund: RefundOut | None
    created_at: datetime
    updated_at: datetime


class MsoSessionPageOut(Out, frozen=True):
    sessions: list[MsoSessionOut]
    total: int
    #: False when `total` is PostgreSQL's estimate: more than 10,000 sessions match, too many
    #: to count on every page.
    total_exact: bool
    limit: int
    offset: int
    #: Where the next page starts (null on the last page): send it as `cursor`.
    next_cursor: str | None


def _refund_out(refund: Refund | None) -> RefundOut | None:
    if refund is None:
        return None
    return RefundOut(
        id=refund.id,
        status=refund.status.value,
        amount_minor=refund.amount_minor,
        provider=refund.provider,
        created_at=refund.created_at,
    )


def session_out(session: MsoSession) -> MsoSessionOut:
    return MsoSessionOut(
        id=session.id,
        tenant_id=session.tenant_id,
        patient_id=session.patient_id,
        case_id=session.case_id,
        mso_doctor_id=session.mso_doctor_id,
        scheduled_at=session.scheduled_at,
        status=session.status.value,
        amount_minor=session.amount_minor,
        currency=session.currency,
        payment_provider=session.payment_provider.value,
        payment_ref=session.payment_ref,
        refund=_refund_out(session.refund),
        created_at=session.created_at,
        updated_at=session.updated_at,
    )


def session_page_out(page: OffsetPage[MsoSession]) -> MsoSessionPageOut:
    return MsoSessionPageOut(
        sessions=[session_out(s) for s in page.items],
        total=page.total,
        total_exact=page.total_exact,
        limit=page.limit,
        offset=page.offset,
        next_cursor=page.next_cursor,
    )
