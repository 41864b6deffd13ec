"""Contract of the second-opinion doctor repository: one suite over memory, SQLite and
PostgreSQL (the `uow` fixture). The memory adapter's `_matches` is the reference semantics of
`DoctorFilter`; the SQL adapter must give the same pages, totals and conflicts."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.sql.engine import create_engine
from adapters.sql.migrate import upgrade
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.kernel.transaction import Transactions
from admin_core.mso_doctors.errors import MsoDoctorAlreadyExists
from admin_core.mso_doctors.model import DoctorFilter, MsoDoctor
from admin_core.tenants.model import Tenant, TenantStatus
from tests.support.databases import APP_ROLE, icu_database

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DAY = date(2026, 3, 1)
APOLLO, BUMRUNGRAD = "apollo-chennai", "bumrungrad-bangkok"


def doctor(n: int, **overrides: object) -> MsoDoctor:
    values: dict[str, object] = {
        "id": f"msd_{n:03d}",
        "tenant_id": APOLLO,
        "full_name": f"Dr. Doctor {n:03d}",
        "email": f"doctor{n}@apollo.example",
        "specialty": "cardiology",
        "languages": ("en", "ta"),
        "countries": ("IN",),
        "license_number": f"TNMC-{n:05d}",
        "consultation_fee_minor": 300_000,
        "currency": "INR",
        "available_from": DAY,
        "timezone": "Asia/Kolkata",
        "active": True,
        "clerk_user_id": None,
        "created_at": T0 + timedelta(minutes=n),
        "updated_at": T0 + timedelta(minutes=n),
    }
    return MsoDoctor(**(values | overrides))  # type: ignore[arg-type]


@pytest.fixture
async def tenants(uow: Transactions) -> Transactions:
    async with uow() as tx:
        for tenant_id in (APOLLO, BUMRUNGRAD):
            await tx.tenants.add(
                Tenant(
                    id=tenant_id,
                    name=tenant_id,
                    status=TenantStatus.ACTIVE,
                    provider_id=None,
                    created_at=T0,
                    updated_at=T0,
                )
            )
        await tx.commit()
    return uow


async def add(uow: Transactions, *doctors: MsoDoctor) -> None:
    async with uow() as tx:
        for d in doctors:
            await tx.mso_doctors.add(d)
        await tx.commit()


async def page_ids(
    uow: Transactions, where: DoctorFilter | None = None, *, limit: int = 50, offset: int = 0
) -> tuple[list[str], int]:
    async with uow() as tx:
        page = await tx.mso_doctors.page(where or DoctorFilter(), limit=limit, offset=offset)
    assert (page.limit, page.offset) == (limit, offset)
    return [d.id for d in page.items], page.total


async def test_an_added_doctor_reads_back_equal(tenants: Transactions) -> None:
    linked = doctor(
        2,
        full_name="Dr. Elif Yılmaz",
        languages=("tr", "en", "de"),
        countries=("TR", "DE"),
        available_from=date(1999, 12, 31),
        active=False,
        clerk_user_id="user_acibadem_doctor",
        consultation_fee_minor=10**12,
    )
    await add(tenants, doctor(1), linked)
    async with tenants() as tx:
        assert await tx.mso_doctors.get("msd_001") == doctor(1)
        assert await tx.mso_doctors.get("msd_002") == linked
        assert await tx.mso_doctors.get("msd_002", lock=True) == linked
        assert await tx.mso_doctors.get("msd_missing") is None
        page = await tx.mso_doctors.page(DoctorFilter(), limit=50, offset=0)
    assert list(page.items) == [doctor(1), linked]


async def test_leaving_without_commit_rolls_back(tenants: Transactions) -> None:
    async with tenants() as tx:
        await tx.mso_doctors.add(doctor(1))
    assert await page_ids(tenants) == ([], 0)


async def test_an_email_is_unique_per_tenant(tenants: Transactions) -> None:
    await add(tenants, doctor(1))
    async with tenants() as tx:
        with pytest.raises(MsoDoctorAlreadyExists) as refused:
            await tx.mso_doctors.add(doctor(2, email="doctor1@apollo.example"))
        assert refused.value.field == "email"
        assert refused.value.details == {"tenant_id": APOLLO, "email": "doctor1@apollo.example"}
        # The transaction goes on after the refusal (the failed insert was its own savepoint).
        await tx.mso_doctors.add(doctor(3))
        await tx.mso_doctors.add(doctor(4, tenant_id=BUMRUNGRAD, email="doctor1@apollo.example"))
        await tx.commit()
    assert await page_ids(tenants) == (["msd_001", "msd_003", "msd_004"], 3)


async def test_update_writes_every_field_and_keeps_the_email_unique(tenants: Transactions) -> None:
    await add(tenants, doctor(1), doctor(2))
    changed = replace(
        doctor(1),
        full_name="Dr. Renamed",
        email="renamed@apollo.example",
        specialty="oncology",
        languages=("hi",),
        countries=("IN", "LK"),
        license_number="TNMC-99999",
        consultation_fee_minor=0,
        currency="USD",
        available_from=date(2026, 6, 1),
        timezone="Asia/Colombo",
        active=False,
        clerk_user_id="user_2x",
        updated_at=T0 + timedelta(days=1),
    )
    async with tenants() as tx:
        await tx.mso_doctors.update(changed)
        await tx.commit()
    async with tenants() as tx:
        assert await tx.mso_doctors.get("msd_001") == changed
        with pytest.raises(MsoDoctorAlreadyExists):
            await tx.mso_doctors.update(replace(doctor(2), email="renamed@apollo.example"))
        # The refused update left the row as it was, and the transaction usable.
        assert await tx.mso_doctors.get("msd_002") == doctor(2)
        await tx.mso_doctors.update(replace(doctor(2), email="free@apollo.example"))
        await tx.commit()
    async with tenants() as tx:
        stored = await tx.mso_doctors.get("msd_002")
    assert stored is not None
    assert stored.email == "free@apollo.example"


async def test_the_page_is_ordered_by_full_name_then_id_with_the_total(
    tenants: Transactions,
) -> None:
    await add(
        tenants,
        doctor(5, full_name="Dr. Bala"),
        doctor(3, full_name="Dr. Anand"),
        doctor(4, full_name="Dr. Bala", tenant_id=BUMRUNGRAD),
        doctor(1, full_name="Dr. Chitra"),
        doctor(2, full_name="Dr. Anand", tenant_id=BUMRUNGRAD),
    )
    everyone = ["msd_002", "msd_003", "msd_004", "msd_005", "msd_001"]
    assert await page_ids(tenants) == (everyone, 5)
    assert await page_ids(tenants, limit=2, offset=1) == (everyone[1:3], 5)
    assert await page_ids(tenants, limit=2, offset=4) == (everyone[4:], 5)
    # Past the last page: no rows, and still the total.
    assert await page_ids(tenants, limit=2, offset=9) == ([], 5)
    assert await page_ids(tenants, DoctorFilter(tenant_id="nobody"), offset=9) == ([], 0)


async def test_the_filters_narrow_the_page(tenants: Transactions) -> None:
    await add(
        tenants,
        doctor(1, languages=("en", "ta")),
        doctor(2, specialty="oncology", languages=("ta",)),
        doctor(3, tenant_id=BUMRUNGRAD, languages=("th", "en")),
        doctor(4, tenant_id=BUMRUNGRAD, specialty="oncology", languages=("de",)),
        doctor(5, specialty="Oncology", languages=("te",)),
    )
    assert await page_ids(tenants, DoctorFilter(tenant_id=BUMRUNGRAD)) == (
        ["msd_003", "msd_004"],
        2,
    )
    assert await page_ids(tenants, DoctorFilter(specialty="oncology")) == (
        ["msd_002", "msd_004"],
        2,
    )
    assert await page_ids(tenants, DoctorFilter(language="en")) == (["msd_001", "msd_003"], 2)
    assert await page_ids(tenants, DoctorFilter(language="ta")) == (["msd_001", "msd_002"], 2)
    # An element of the list, never a part of one, nor the list's text.
    assert await page_ids(tenants, DoctorFilter(language="e")) == ([], 0)
    assert await page_ids(tenants, DoctorFilter(language="t")) == ([], 0)
    assert await page_ids(tenants, DoctorFilter(language='"te"')) == ([], 0)
    assert await page_ids(
        tenants, DoctorFilter(tenant_id=APOLLO, specialty="oncology", language="ta")
    ) == (["msd_002"], 1)
    assert await page_ids(tenants, DoctorFilter(language="fr")) == ([], 0)


async def test_available_on_keeps_the_active_doctors_available_that_day(
    tenants: Transactions,
) -> None:
    await add(
        tenants,
        doctor(1, available_from=DAY - timedelta(days=400)),
        doctor(2, available_from=DAY),
        doctor(3, available_from=DAY + timedelta(days=1)),
        doctor(4, available_from=DAY - timedelta(days=1), active=False),
        doctor(5, available_from=date(2099, 1, 1)),
    )
    assert await page_ids(tenants, DoctorFilter(available_on=DAY)) == (["msd_001", "msd_002"], 2)
    assert await page_ids(tenants, DoctorFilter(available_on=DAY + timedelta(days=1))) == (
        ["msd_001", "msd_002", "msd_003"],
        3,
    )
    assert await page_ids(tenants, DoctorFilter(available_on=date(1, 1, 1))) == ([], 0)
    assert await page_ids(tenants, DoctorFilter(available_on=date(9999, 12, 31))) == (
        ["msd_001", "msd_002", "msd_003", "msd_005"],
        4,
    )
    # Without a day, inactive doctors are listed too.
    assert (await page_ids(tenants))[1] == 5


#: Doctors over both tenants, two specialties, some languages, days around DAY, some
#: inactive, several sharing a name (their id orders them).
VARIED = [
    doctor(
        n,
        tenant_id=(APOLLO, BUMRUNGRAD)[n % 2],
        full_name=("Dr. A", "Dr. a", "Dr. B")[n % 3],
        specialty=("cardiology", "oncology")[n % 5 % 2],
        languages=(("en",), ("ta", "en"), ("th",), ())[n % 4],
        available_from=DAY + timedelta(days=n % 7 - 3),
        active=n % 6 != 0,
    )
    for n in range(30)
]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    tenant=st.sampled_from([None, APOLLO, BUMRUNGRAD]),
    specialty=st.sampled_from([None, "cardiology", "oncology"]),
    language=st.sampled_from([None, "en", "ta", "th", "fr"]),
    day=st.none() | st.integers(-5, 5).map(lambda d: DAY + timedelta(days=d)),
    limit=st.integers(1, 12),
    offset=st.integers(0, 35),
)
async def test_every_filter_shape_pages_in_name_order_with_its_total(
    varied: Transactions,
    tenant: str | None,
    specialty: str | None,
    language: str | None,
    day: date | None,
    limit: int,
    offset: int,
) -> None:
    """Each combination of the filters, at any page: the doctors SPEC §6.5 names (a day D
    keeps the active doctors with `available_from <= D`), by name then id, and their total."""
    wanted = sorted(
        (
            d
            for d in VARIED
            if (tenant is None or d.tenant_id == tenant)
            and (specialty is None or d.specialty == specialty)
            and (language is None or language in d.languages)
            and (day is None or (d.active and d.available_from <= day))
        ),
        key=lambda d: (d.full_name, d.id),
    )
    where = DoctorFilter(tenant_id=tenant, specialty=specialty, language=language, available_on=day)
    assert await page_ids(varied, where, limit=limit, offset=offset) == (
        [d.id for d in wanted[offset : offset + limit]],
        len(wanted),
    )


@pytest.fixture
async def varied(tenants: Transactions) -> Transactions:
    await add(tenants, *VARIED)
    return tenants


async def test_concurrent_adds_of_one_email_leave_one(tenants: Transactions) -> None:
    async def onboard(n: int) -> str:
        try:
            async with tenants() as tx:
                await tx.mso_doctors.add(doctor(n, email="same@apollo.example"))
                await asyncio.sleep(0.01)
                await tx.commit()
        except MsoDoctorAlreadyExists:
            return "conflict"
        return "created"

    assert sorted(await asyncio.gather(onboard(1), onboard(2))) == ["conflict", "created"]
    assert (await page_ids(tenants))[1] == 1


async def test_a_locked_read_makes_concurrent_read_then_write_serial(tenants: Transactions) -> None:
    """Two raises of the fee, each read with `lock=True` then written: neither is lost."""
    await add(tenants, doctor(1, consultation_fee_minor=100))

    async def raise_fee() -> None:
        async with tenants() as tx:
            current = await tx.mso_doctors.get("msd_001", lock=True)
            assert current is not None
            await asyncio.sleep(0.02)
            fee = current.consultation_fee_minor + 1
            await tx.mso_doctors.update(replace(current, consultation_fee_minor=fee))
            await tx.commit()

    await asyncio.gather(raise_fee(), raise_fee())
    async with tenants() as tx:
        stored = await tx.mso_doctors.get("msd_001")
    assert stored is not None
    assert stored.consultation_fee_minor == 102


@pytest.mark.postgres
async def test_doctors_are_in_the_same_name_order_on_a_cluster_with_a_language_collation(
    tmp_path: Path,
) -> None:
    """Memory and SQLite order names code point by code point. A PostgreSQL cluster made with a
    language's collation (`en_US.UTF-8`, ICU) would sort them otherwise — `de Souza` before
    `Dr. B`, `Dr. b` beside `Dr. B` — and page them differently: the names are stored with
    the byte order of every backend."""
    names = ["Dr. b", "Dr. B", "de Souza", "Dr. Z", "Dr. Ä", "Dr. a", "Dr.-Ing. Y"]
    async with icu_database() as owner_url:
        await upgrade(owner_url, app_role=APP_ROLE)
        engine = create_engine(owner_url)
        try:
            uow = SqlTransactions(engine, SystemClock(), UlidGenerator())
            async with uow() as tx:
                await tx.tenants.add(
                    Tenant(
                        id=APOLLO,
                        name=APOLLO,
                        status=TenantStatus.ACTIVE,
                        provider_id=None,
                        created_at=T0,
                        updated_at=T0,
                    )
                )
                await tx.commit()
            await add(uow, *(doctor(n, full_name=name) for n, name in enumerate(names)))
            async with uow() as tx:
                page = await tx.mso_doctors.page(DoctorFilter(), limit=50, offset=0)
        finally:
            await engine.dispose()
    assert [d.full_name for d in page.items] == sorted(names)
