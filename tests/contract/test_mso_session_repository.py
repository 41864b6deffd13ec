"""The MSO session repository on every database (memory, SQLite, PostgreSQL): lists in
order with their totals for every filter shape, and refunds exactly once on each, concurrent
calls included."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from admin_core.kernel.transaction import Transactions
from admin_core.payments.model import (
    MsoSession,
    PaymentProvider,
    Refund,
    RefundStatus,
    SessionFilter,
    SessionStatus,
)
from admin_core.payments.use_cases import RefundSessionCommand
from tests.support.flags import add_tenants
from tests.support.payments import T0, AdvancingClock, payments_world, sessions

TENANTS = ("apollo", "bumrungrad")


def varied(count: int) -> list[MsoSession]:
    """Sessions over both tenants, every status and provider, some at the same time."""
    statuses = list(SessionStatus)
    providers = list(PaymentProvider)
    result = []
    for n, session in enumerate(sessions(count)):
        result.append(
            replace(
                session,
                tenant_id=TENANTS[n % 2],
                status=statuses[n % len(statuses)],
                payment_provider=providers[n % 3],
                scheduled_at=T0 - timedelta(hours=(n * 7) % 40),  # ties on purpose
            )
        )
    return result


def expected(items: list[MsoSession], where: SessionFilter) -> list[str]:
    found = [
        s
        for s in items
        if (where.tenant_id is None or s.tenant_id == where.tenant_id)
        and (where.status is None or s.status is where.status)
        and (where.scheduled_from is None or s.scheduled_at >= where.scheduled_from)
        and (where.scheduled_to is None or s.scheduled_at <= where.scheduled_to)
    ]
    return [s.id for s in sorted(found, key=lambda s: (s.scheduled_at, s.id), reverse=True)]


@pytest.fixture
async def stored(uow: Transactions[Any]) -> tuple[Transactions[Any], list[MsoSession]]:
    await add_tenants(uow, *TENANTS)
    items = varied(60)
    async with uow() as tx:
        await tx.mso_sessions.add_many(items)
        await tx.commit()
    return uow, items


async def test_a_session_reads_back_as_written_refund_included(
    stored: tuple[Transactions[Any], list[MsoSession]],
) -> None:
    uow, items = stored
    refund = Refund(
        id="re_1",
        status=RefundStatus.SUCCEEDED,
        amount_minor=items[0].amount_minor,
        currency=items[0].currency,
        provider="stripe",
        created_at=T0,
    )
    changed = replace(
        items[0],
        status=SessionStatus.REFUNDED,
        refund=refund,
        refund_attempts=2,
        refund_intent_id=None,
    )
    async with uow() as tx:
        await tx.mso_sessions.update(changed)
        await tx.commit()
    async with uow() as tx:
        assert await tx.mso_sessions.get(items[0].id) == changed
        assert await tx.mso_sessions.get(items[1].id) == items[1]
        assert await tx.mso_sessions.get("mso_missing") is None


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    tenant=st.sampled_from([None, *TENANTS]),
    status=st.sampled_from([None, *SessionStatus]),
    start=st.none() | st.integers(0, 40),
    end=st.none() | st.integers(0, 40),
    limit=st.integers(1, 30),
    offset=st.integers(0, 70),
)
async def test_every_filter_shape_lists_newest_first_with_its_total(
    stored: tuple[Transactions[Any], list[MsoSession]],
    tenant: str | None,
    status: SessionStatus | None,
    start: int | None,
    end: int | None,
    limit: int,
    offset: int,
) -> None:
    uow, items = stored
    where = SessionFilter(
        tenant_id=tenant,
        status=status,
        scheduled_from=None if start is None else T0 - timedelta(hours=start),
        scheduled_to=None if end is None else T0 - timedelta(hours=end),
    )
    async with uow() as tx:
        page = await tx.mso_sessions.page(where, limit=limit, offset=offset)
    wanted = expected(items, where)
    assert [s.id for s in page.items] == wanted[offset : offset + limit]
    assert page.total == len(wanted)


async def test_concurrent_refunds_make_one_refund_on_every_database(
    uow: Transactions[Any],
) -> None:
    await add_tenants(uow, *TENANTS)
    async with uow() as tx:
        await tx.mso_sessions.add_many(sessions(2, tenant_id="apollo"))
        await tx.commit()
    world = payments_world(uow, AdvancingClock())
    command = RefundSessionCommand(session_id="mso_00000", reason="patient asked")
    outcomes = await asyncio.gather(
        *(world.refund.execute(world.operator, command) for _ in range(10))
    )
    refunded = [o for o in outcomes if o.session.status is SessionStatus.REFUNDED]
    assert refunded
    assert all(o.in_progress for o in outcomes if o not in refunded)
    assert len({o.session.refund.id for o in refunded if o.session.refund}) == 1
    assert len(await world.audit_entries("mso_00000")) == 1
    assert (await world.session("mso_00001")).status is SessionStatus.COMPLETED


async def test_a_list_past_ten_thousand_flags_an_estimated_total_on_postgres(
    backend: str, uow: Transactions[Any]
) -> None:
    """PostgreSQL counts exactly up to 10,000 matching sessions and estimates beyond (flagged);
    the other databases always count."""
    from adapters.sql.mso_sessions import EXACT_TOTAL_UP_TO

    await add_tenants(uow, *TENANTS)
    many = sessions(EXACT_TOTAL_UP_TO + 500, tenant_id="apollo")
    async with uow() as tx:
        await tx.mso_sessions.add_many(many)
        await tx.commit()
    async with uow() as tx:
        everything = await tx.mso_sessions.page(SessionFilter(), limit=50, offset=0)
        few = await tx.mso_sessions.page(SessionFilter(tenant_id="bumrungrad"), limit=50, offset=0)
    assert [s.id for s in everything.items] == [s.id for s in many[:50]]
    assert (few.total, few.total_exact) == (0, True)
    if backend == "postgres":
        assert not everything.total_exact
        assert everything.total > EXACT_TOTAL_UP_TO
    else:
        assert (everything.total, everything.total_exact) == (len(many), True)


async def test_a_refund_answer_lands_only_on_the_attempt_it_answers(
    stored: tuple[Transactions[Any], list[MsoSession]],
) -> None:
    from admin_core.payments.model import RefundAnswer

    uow, items = stored
    pending = replace(
        items[0], status=SessionStatus.REFUND_PENDING, refund_attempts=1, refund_intent_id="int_1"
    )
    refund = Refund(
        id="re_9",
        status=RefundStatus.SUCCEEDED,
        amount_minor=pending.amount_minor,
        currency=pending.currency,
        provider="stripe",
        created_at=T0,
    )
    done = RefundAnswer(status=SessionStatus.REFUNDED, refund=refund, pending=False)
    async with uow() as tx:
        await tx.mso_sessions.update(pending)
        await tx.mso_sessions.record_refund(pending.id, "int_0", done, at=T0)  # an old attempt
        await tx.commit()
    async with uow() as tx:
        assert await tx.mso_sessions.get(pending.id) == pending
        await tx.mso_sessions.record_refund(pending.id, "int_1", done, at=T0)
        await tx.commit()
    async with uow() as tx:
        assert await tx.mso_sessions.get(pending.id) == replace(
            pending,
            status=SessionStatus.REFUNDED,
            refund=refund,
            refund_intent_id=None,
            updated_at=T0,
        )
