"""Every list in the same order on every database, whatever collation a PostgreSQL cluster
was made with: memory and SQLite compare text code point by code point, and so must a
cluster made for a language (ICU's root locale; one that ignores punctuation, as glibc's
`en_US.UTF-8` does), down to the ids that break ties in a list's sort key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryTransactions
from adapters.sql.engine import create_engine
from adapters.sql.migrate import upgrade
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.kernel.paging import OffsetPage
from admin_core.kernel.principal import Principal
from admin_core.kernel.transaction import Transactions
from admin_core.mso_doctors.model import DoctorFilter, MsoDoctor
from admin_core.mso_doctors.use_cases import ListMsoDoctors, ListMsoDoctorsQuery
from admin_core.payments.model import SessionFilter
from admin_core.payments.use_cases import ListMsoSessions, ListSessionsQuery
from admin_core.tenants.model import Tenant, TenantStatus
from admin_core.tenants.use_cases import ListTenants, ListTenantsQuery
from tests.support.databases import APP_ROLE, icu_database
from tests.support.payments import payments_world, sessions

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
#: Tenant ids (SPEC: lowercase letters, digits, hyphens) that a collation ignoring
#: punctuation orders otherwise.
TENANT_IDS = ["ab", "a-c", "a-b-c", "a0", "a-0", "abc", "a9", "a1-b", "b", "a-z"]
#: Session and doctor ids (letters of both cases, digits, `_`, `-`) that a language's
#: collation orders otherwise: case second, `_` before `-`, both before digits.
IDS = ["a_b", "a-b", "aB", "ab", "A1", "a1", "Z", "_x", "-x", "a", "AB", "a_B"]

Page = Callable[[Transactions, int, int], Awaitable[OffsetPage[object]]]


def tenant(tenant_id: str) -> Tenant:
    return Tenant(
        id=tenant_id,
        name=tenant_id,
        status=TenantStatus.ACTIVE,
        provider_id=None,
        created_at=T0,  # one creation time: the id orders them
        updated_at=T0,
    )


def doctor(n: int, doctor_id: str) -> MsoDoctor:
    return MsoDoctor(
        id=doctor_id,
        tenant_id="ab",
        full_name="Dr. Same Name",  # one name: the id orders them
        email=f"doctor{n}@example.org",
        specialty="cardiology",
        languages=("en",),
        countries=("IN",),
        license_number=f"L-{n}",
        consultation_fee_minor=100,
        currency="INR",
        available_from=date(2026, 1, 1),
        timezone="UTC",
        active=True,
        clerk_user_id=None,
        created_at=T0,
        updated_at=T0,
    )


async def fill(uow: Transactions) -> None:
    async with uow() as tx:
        for tenant_id in TENANT_IDS:
            await tx.tenants.add(tenant(tenant_id))
        await tx.mso_sessions.add_many(
            [
                replace(s, id=session_id, tenant_id="ab", scheduled_at=T0)  # one time
                for session_id, s in zip(IDS, sessions(len(IDS)), strict=True)
            ]
        )
        for n, doctor_id in enumerate(IDS):
            await tx.mso_doctors.add(doctor(n, doctor_id))
        await tx.commit()


async def tenants_page(uow: Transactions, limit: int, offset: int) -> OffsetPage[object]:
    async with uow() as tx:
        return await tx.tenants.list(limit=limit, offset=offset)  # type: ignore[return-value]


async def sessions_page(uow: Transactions, limit: int, offset: int) -> OffsetPage[object]:
    async with uow() as tx:
        return await tx.mso_sessions.page(  # type: ignore[return-value]
            SessionFilter(), limit=limit, offset=offset
        )


async def doctors_page(uow: Transactions, limit: int, offset: int) -> OffsetPage[object]:
    async with uow() as tx:
        return await tx.mso_doctors.page(  # type: ignore[return-value]
            DoctorFilter(), limit=limit, offset=offset
        )


LISTS: dict[str, Page] = {
    "tenants": tenants_page,
    "sessions": sessions_page,
    "doctors": doctors_page,
}


async def walk(uow: Transactions, page: Page) -> Sequence[str]:
    """The ids of a whole list, three at a time."""
    ids: list[str] = []
    while True:
        found = await page(uow, 3, len(ids))
        if not found.items:
            return ids
        ids += [item.id for item in found.items]  # type: ignore[attr-defined]


async def walk_by_cursor(uow: Transactions, name: str) -> Sequence[str]:
    """The ids of a whole list through its use case, three at a time, following
    `next_cursor`: the database compares each page's last row with the rows after it."""
    operator = Principal.operator("collation")
    ids: list[str] = []
    cursor: str | None = None
    while True:
        found: OffsetPage[Any]
        if name == "tenants":
            found = await ListTenants(uow).execute(
                operator, ListTenantsQuery(limit=3, cursor=cursor)
            )
        elif name == "sessions":
            found = await ListMsoSessions(payments_world(uow, SystemClock()).payments).execute(
                operator, ListSessionsQuery(limit=3, cursor=cursor)
            )
        else:
            found = await ListMsoDoctors(uow).execute(
                operator, ListMsoDoctorsQuery(limit=3, cursor=cursor)
            )
        ids += [item.id for item in found.items]
        cursor = found.next_cursor
        if cursor is None:
            return ids


@pytest.mark.parametrize("icu_locale", ["und", "und-u-ka-shifted"])
async def test_every_list_pages_in_the_in_memory_order_on_a_language_collation(
    icu_locale: str,
) -> None:
    memory = InMemoryTransactions(InMemoryStore(), SystemClock(), UlidGenerator())
    await fill(memory)
    expected = {name: await walk(memory, page) for name, page in LISTS.items()}
    async with icu_database(icu_locale) as owner_url:
        await upgrade(owner_url, app_role=APP_ROLE)
        engine = create_engine(owner_url)
        try:
            uow = SqlTransactions(engine, SystemClock(), UlidGenerator())
            await fill(uow)
            found = {name: await walk(uow, page) for name, page in LISTS.items()}
            by_cursor = {name: await walk_by_cursor(uow, name) for name in LISTS}
        finally:
            await engine.dispose()
    assert found == expected
    assert by_cursor == expected
    assert expected["tenants"] == sorted(TENANT_IDS)
    assert expected["sessions"] == sorted(IDS, reverse=True)  # newest first, then id
    assert expected["doctors"] == sorted(IDS)
