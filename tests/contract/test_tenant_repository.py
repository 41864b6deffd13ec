"""Contract of the provider, tenant and org-mapping repositories and of the unit of work."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from admin_core.directory.model import Provider
from admin_core.kernel.transaction import Transactions
from admin_core.tenants.errors import TenantAlreadyExists
from admin_core.tenants.model import (
    OrgMapping,
    PaymentsProvider,
    Tenant,
    TenantSettings,
    TenantStatus,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def tenant(n: int, *, status: TenantStatus = TenantStatus.ACTIVE, provider: bool = True) -> Tenant:
    return Tenant(
        id=f"tenant-{n:03d}",
        name=f"Tenant {n}",
        status=status,
        provider_id=f"prv_{n:03d}" if provider else None,
        settings=TenantSettings(
            payments_provider=PaymentsProvider.STRIPE if n % 2 else None,
            default_currency="EUR",
            timezone="Europe/Berlin",
        ),
        created_at=T0 + timedelta(minutes=n),
        updated_at=T0 + timedelta(minutes=n),
    )


def provider(n: int) -> Provider:
    return Provider(
        id=f"prv_{n:03d}",
        name=f"Hospital {n}",
        country="DE",
        city="Berlin",
        created_at=T0,
        updated_at=T0,
    )


async def add_tenants(uow: Transactions, *numbers: int) -> None:
    async with uow() as tx:
        for n in numbers:
            await tx.providers.add(provider(n))
            await tx.tenants.add(tenant(n))
        await tx.commit()


async def test_added_tenant_reads_back_equal(uow: Transactions) -> None:
    await add_tenants(uow, 1)
    async with uow() as tx:
        assert await tx.tenants.get("tenant-001") == tenant(1)
        assert await tx.tenants.get_by_provider("prv_001") == tenant(1)
        assert await tx.providers.get("prv_001") == provider(1)
        assert await tx.tenants.get("missing") is None


async def test_provider_directory_fields_read_back(uow: Transactions) -> None:
    first = Provider(
        id="prv_cat_1",
        name="Directory Hospital",
        country="IN",
        city="Chennai",
        specialties=("cardiology", "oncology"),
        languages=("en", "ta", "hi"),
        accreditations=("JCI", "NABH"),
        created_at=T0,
        updated_at=T0,
    )
    second = Provider(
        id="prv_cat_2",
        name="Second Hospital",
        country="TH",
        city=None,
        accreditations=("JCI",),  # an accreditation body shared with the first provider
        created_at=T0,
        updated_at=T0,
    )
    async with uow() as tx:
        await tx.providers.add(first)
        await tx.providers.add(second)
        await tx.commit()
    async with uow() as tx:
        assert await tx.providers.get("prv_cat_1") == first
        assert await tx.providers.get("prv_cat_2") == second


async def test_leaving_without_commit_rolls_back(uow: Transactions) -> None:
    async with uow() as tx:
        await tx.providers.add(provider(1))
        await tx.tenants.add(tenant(1))
    async with uow() as tx:
        assert await tx.tenants.get("tenant-001") is None
        assert await tx.providers.get("prv_001") is None


async def test_an_error_inside_the_block_rolls_back(uow: Transactions) -> None:
    with pytest.raises(RuntimeError):  # noqa: PT012 - the whole block is under test
        async with uow() as tx:
            await tx.providers.add(provider(1))
            await tx.tenants.add(tenant(1))
            raise RuntimeError("boom")
    async with uow() as tx:
        assert await tx.tenants.get("tenant-001") is None


async def test_duplicate_tenant_id_is_refused_as_a_taken_id(uow: Transactions) -> None:
    await add_tenants(uow, 1)
    async with uow() as tx:
        with pytest.raises(TenantAlreadyExists) as refused:
            await tx.tenants.add(tenant(1, provider=False))
    assert refused.value.details == {"tenant_id": "tenant-001"}


async def test_a_provider_has_at_most_one_tenant(uow: Transactions) -> None:
    await add_tenants(uow, 1)
    second = Tenant(
        id="tenant-other",
        name="Other",
        status=TenantStatus.ACTIVE,
        provider_id="prv_001",
        created_at=T0,
        updated_at=T0,
    )
    async with uow() as tx:
        with pytest.raises(TenantAlreadyExists) as refused:
            await tx.tenants.add(second)
    # The provider's clash, not a taken tenant id: `tenant-other` is free.
    assert refused.value.details == {"provider_id": "prv_001"}
    assert refused.value.message == "The provider already has a tenant."


async def test_list_filters_orders_and_paginates(uow: Transactions) -> None:
    await add_tenants(uow, 3, 1, 2, 4)
    async with uow() as tx:
        await tx.tenants.update(tenant(2, status=TenantStatus.SUSPENDED))
        await tx.commit()
    async with uow() as tx:
        page = await tx.tenants.list(limit=2, offset=1)
        assert [t.id for t in page.items] == ["tenant-002", "tenant-003"]
        assert page.total == 4
        suspended = await tx.tenants.list(status=TenantStatus.SUSPENDED, limit=50, offset=0)
        assert [t.id for t in suspended.items] == ["tenant-002"]
        assert suspended.total == 1
        one = await tx.tenants.list(tenant_id="tenant-004", limit=50, offset=0)
        assert [t.id for t in one.items] == ["tenant-004"]


async def test_update_changes_name_status_and_settings(uow: Transactions) -> None:
    await add_tenants(uow, 1)
    changed = Tenant(
        id="tenant-001",
        name="Renamed",
        status=TenantStatus.SUSPENDED,
        provider_id="prv_001",
        settings=TenantSettings(payments_provider=PaymentsProvider.RAZORPAY, timezone="UTC"),
        created_at=T0 + timedelta(minutes=1),
        updated_at=T0 + timedelta(days=1),
    )
    async with uow() as tx:
        await tx.tenants.update(changed)
        await tx.commit()
    async with uow() as tx:
        assert await tx.tenants.get("tenant-001") == changed


async def test_org_mapping_resolves_both_ways(uow: Transactions) -> None:
    await add_tenants(uow, 1)
    mapping = OrgMapping(org_id="org_1", tenant_id="tenant-001", created_at=T0)
    async with uow() as tx:
        await tx.org_mappings.add(mapping)
        await tx.commit()
    async with uow() as tx:
        assert await tx.org_mappings.tenant_for_org("org_1") == "tenant-001"
        assert await tx.org_mappings.tenant_for_org("org_2") is None
        assert await tx.org_mappings.for_tenant("tenant-001") == mapping


async def test_concurrent_creates_of_one_tenant_id_leave_one(uow: Transactions) -> None:
    async def create() -> str:
        try:
            async with uow() as tx:
                await tx.tenants.add(tenant(7, provider=False))
                await asyncio.sleep(0.01)
                await tx.commit()
        except TenantAlreadyExists:
            return "conflict"
        return "created"

    results = sorted(await asyncio.gather(create(), create()))
    assert results == ["conflict", "created"]


async def test_org_mapping_can_move_and_is_exclusive(uow: Transactions) -> None:
    await add_tenants(uow, 1, 2)
    async with uow() as tx:
        await tx.org_mappings.add(OrgMapping(org_id="org_1", tenant_id="tenant-001", created_at=T0))
        await tx.commit()
    async with uow() as tx:
        with pytest.raises(TenantAlreadyExists):
            await tx.org_mappings.add(
                OrgMapping(org_id="org_1", tenant_id="tenant-002", created_at=T0)
            )
    async with uow() as tx:
        with pytest.raises(TenantAlreadyExists):
            await tx.org_mappings.add(
                OrgMapping(org_id="org_9", tenant_id="tenant-001", created_at=T0)
            )
    async with uow() as tx:
        await tx.org_mappings.remove("org_1")
        await tx.org_mappings.add(OrgMapping(org_id="org_1", tenant_id="tenant-002", created_at=T0))
        await tx.commit()
    async with uow() as tx:
        assert await tx.org_mappings.tenant_for_org("org_1") == "tenant-002"
        assert await tx.org_mappings.for_tenant("tenant-001") is None
