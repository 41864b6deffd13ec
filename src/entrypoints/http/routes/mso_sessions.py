"""MSO sessions (SPEC §6.4): list them; refund one, exactly once."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, Parameter, PathParameter, QueryParameter

from admin_core.kernel.paging import MAX_OFFSET, MAX_OFFSET_LIMIT
from admin_core.kernel.principal import Permission, Principal
from admin_core.payments.errors import MsoRefundNotAllowed, MsoSessionNotFound
from admin_core.payments.model import SESSION_ID, SessionStatus
from admin_core.payments.use_cases import (
    ListMsoSessions,
    ListSessionsQuery,
    RefundSession,
    RefundSessionCommand,
)
from admin_core.tenants.errors import TenantNotFound
from entrypoints.http.dependencies import use_case
from entrypoints.http.envelope import ok
from entrypoints.http.fields import (
    TIME_PATTERN,
    PageCursor,
    Reason,
    TenantFilter,
    query_rules,
    time_range,
)
from entrypoints.http.openapi import WRITE, errors
from entrypoints.http.presenters.mso_sessions import (
    MsoSessionOut,
    MsoSessionPageOut,
    session_out,
    session_page_out,
)
from entrypoints.http.schemas import In, SuccessEnvelope
from entrypoints.http.security import requires

SessionPath = Annotated[str, PathParameter(pattern=f"^{SESSION_ID.pattern}$", max_length=64)]
Bound = Annotated[
    str | None,
    Parameter(
        min_length=10,
        max_length=32,
        pattern=TIME_PATTERN,
        description="Bounds `scheduled_at`, inclusive; a date (the whole UTC day) or an ISO"
        " date-time.",
    ),
]


class RefundIn(In, frozen=True):
    reason: Reason


_IN_PROGRESS = ResponseSpec(
    data_container=SuccessEnvelope[MsoSessionOut],
    description="The refund is not confirmed yet (the provider has not confirmed it, or "
    "another call is driving it now): the session is `refund_pending`; calling again is "
    "safe and finishes it with the same idempotency key.",
    generate_examples=False,
)


class MsoSessionController(Controller):
    path = "/api/v1/admin/mso/sessions"
    tags = ["mso"]  # noqa: RUF012 - Litestar reads it as a plain attribute
    opt = requires(Permission.TENANT_MANAGE)
    dependencies = {  # noqa: RUF012
        "list_mso_sessions": use_case(lambda c: c.payments.list_mso_sessions),
        "refund_session": use_case(lambda c: c.payments.refund_session),
    }

    @get(
        "/",
        summary="List MSO sessions",
        operation_id="listMsoSessions",
        responses=errors(TenantNotFound),
        opt=query_rules(time_range),
    )
    async def list_sessions(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        list_mso_sessions: NamedDependency[ListMsoSessions],
        status: Annotated[SessionStatus | None, QueryParameter()] = None,
        tenant_id: TenantFilter = None,
        from_date: Bound = None,
        to_date: Bound = None,
        limit: Annotated[int, Parameter(ge=1, le=MAX_OFFSET_LIMIT)] = 50,
        offset: Annotated[int, Parameter(ge=0, le=MAX_OFFSET)] = 0,
        cursor: PageCursor = None,
    ) -> Response[SuccessEnvelope[MsoSessionPageOut]]:
        """Newest `scheduled_at` first, then id; a tenant-scoped caller sees its own tenant
        only. `total` is exact up to 10,000 matching sessions; beyond, it is PostgreSQL's
        estimate and `total_exact` is false. A page with a next one gives `next_cursor`:
        sent as `cursor` (same filters, no offset), the next page starts right after this
        one's last session, so none is read twice or skipped when sessions are added or
        removed between pages."""
        page = await list_mso_sessions.execute(
            principal,
            ListSessionsQuery(
                status=None if status is None else status.value,
                tenant_id=tenant_id,
                from_date=from_date,
                to_date=to_date,
                limit=limit,
                offset=offset,
                cursor=cursor,
            ),
        )
        return ok(
            request,
            session_page_out(page),
            total=page.total,
            total_exact=page.total_exact,
            limit=page.limit,
            offset=page.offset,
            next_cursor=page.next_cursor,
        )

    @post(
        "/{session_id:str}/refund",
        summary="Refund a session in full, exactly once",
        operation_id="refundMsoSession",
        status_code=200,
        opt=requires(Permission.TENANT_MANAGE, platform=True),
        responses={
            **errors(MsoSessionNotFound, MsoRefundNotAllowed, 502, 503, base=WRITE),
            202: _IN_PROGRESS,
        },
    )
    async def refund(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        refund_session: NamedDependency[RefundSession],
        session_id: SessionPath,
        data: JSONBody[RefundIn],
    ) -> Response[SuccessEnvelope[MsoSessionOut]]:
        """Through the provider that took the payment, with an idempotency key derived from
        the session: repeated, concurrent or cross-replica calls make at most one refund and
        answer with the same session. Platform scope. 409 MSO_REFUND_NOT_ALLOWED for a status
        that cannot be refunded; 502 PAYMENT_PROVIDER_ERROR (`details.retry_safe`); 503
        PAYMENT_PROVIDER_NOT_CONFIGURED. Audited as `mso_session.refund`."""
        outcome = await refund_session.execute(
            principal, RefundSessionCommand(session_id=session_id, reason=data.reason)
        )
        return ok(
            request,
            session_out(outcome.session),
            status_code=202 if outcome.in_progress else 200,
        )
