"""Seed the demo data set used by the embedded mode and by `adminctl demo seed`."""

from __future__ import annotations

from dataclasses import dataclass

from admin_core.directory.model import Provider
from admin_core.kernel.runtime import Clock
from admin_core.kernel.transaction import Transactions
from admin_core.tenants.model import (
    OrgMapping,
    PaymentsProvider,
    Tenant,
    TenantSettings,
    TenantStatus,
)
from entrypoints.demo.directory import seed_demo_directory
from entrypoints.demo.history import seed_demo_audit
from entrypoints.demo.users import seed_demo_users


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoTenant:
    tenant_id: str
    org_id: str
    provider_id: str
    name: str
    country: str
    city: str
    settings: TenantSettings
    status: TenantStatus = TenantStatus.ACTIVE


DEMO_TENANTS: tuple[DemoTenant, ...] = (
    DemoTenant(
        tenant_id="apollo-chennai",
        org_id="org_apollo_chennai",
        provider_id="prv_apollo_chennai",
        name="Apollo Hospitals Chennai",
        country="IN",
        city="Chennai",
        settings=TenantSettings(
            payments_provider=PaymentsProvider.RAZORPAY,
            data_residency_region="ap-south-1",
            default_currency="INR",
            timezone="Asia/Kolkata",
        ),
    ),
    DemoTenant(
        tenant_id="bumrungrad-bangkok",
        org_id="org_bumrungrad",
        provider_id="prv_bumrungrad",
        name="Bumrungrad International Hospital",
        country="TH",
        city="Bangkok",
        settings=TenantSettings(
            payments_provider=PaymentsProvider.STRIPE,
            data_residency_region="ap-southeast-1",
            default_currency="THB",
            timezone="Asia/Bangkok",
        ),
    ),
    DemoTenant(
        tenant_id="acibadem-istanbul",
        org_id="org_acibadem",
        provider_id="prv_acibadem",
        name="Acibadem Maslak Hospital",
        country="TR",
        city="Istanbul",
        settings=TenantSettings(
            payments_provider=PaymentsProvider.STRIPE,
            data_residency_region="eu-central-1",
            default_currency="EUR",
            timezone="Europe/Istanbul",
        ),
    ),
    DemoTenant(
        tenant_id="medanta-gurugram",
        org_id="org_medanta",
        provider_id="prv_medanta",
        name="Medanta The Medicity",
        country="IN",
        city="Gurugram",
        settings=TenantSettings(default_currency="INR", timezone="Asia/Kolkata"),
        status=TenantStatus.SUSPENDED,
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SeedReport:
    tenants_created: int
    tenants_existing: int


class SeedDemoData:
    """Create the demo providers, tenants and org mappings. Idempotent: what exists is kept."""

    def __init__(self, uow: Transactions, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def execute(self) -> SeedReport:
        created = existing = 0
        async with self._uow() as uow:
            for demo in DEMO_TENANTS:
                if await uow.tenants.get(demo.tenant_id) is not None:
                    existing += 1
                    continue
                now = self._clock.now()
                await uow.providers.add(
                    Provider(
                        id=demo.provider_id,
                        name=demo.name,
                        country=demo.country,
                        city=demo.city,
                        created_at=now,
                        updated_at=now,
                    )
                )
                await uow.tenants.add(
                    Tenant(
                        id=demo.tenant_id,
                        name=demo.name,
                        status=demo.status,
                        provider_id=demo.provider_id,
                        settings=demo.settings,
                        created_at=now,
                        updated_at=now,
                    )
                )
                await uow.org_mappings.add(
                    OrgMapping(org_id=demo.org_id, tenant_id=demo.tenant_id, created_at=now)
                )
                created += 1
            await seed_demo_directory(uow, self._clock)
            await seed_demo_audit(uow)
            await seed_demo_users(uow, self._clock)
            await uow.commit()
        return SeedReport(tenants_created=created, tenants_existing=existing)
