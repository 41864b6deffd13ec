"""The demo data set of the embedded mode: four hospital tenants, the users who work on them,
and (in `directory.py`) the provider directory the graph is projected from.

The same users seed the local role table (through `GrantRole`) and the in-memory identity
provider of the embedded mode (`demo_identity`), so the two agree from the first start.
"""

from __future__ import annotations

from dataclasses import dataclass

from admin_core.kernel.principal import PLATFORM_TENANT_ID
from admin_core.tenants.model import PaymentsProvider, TenantSettings, TenantStatus
from admin_core.users.ports import IdentityUser


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
class DemoUser:
    id: str
    email: str
    name: str
    grants: tuple[tuple[str, str], ...] = ()  # (tenant id or "platform", role)


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser(
        id="user_platform_owner",
        email="owner@admin-core.example",
        name="Priya Raman",
        grants=((PLATFORM_TENANT_ID, "org:super_admin"),),
    ),
    DemoUser(
        id="user_local_admin",
        email="admin@admin-core.example",
        name="Local Admin",
        grants=((PLATFORM_TENANT_ID, "org:admin"),),
    ),
    DemoUser(
        id="user_platform_coordinator",
        email="coordinator@admin-core.example",
        name="Tomás Ortega",
        grants=((PLATFORM_TENANT_ID, "org:coordinator"),),
    ),
    DemoUser(
        id="user_apollo_admin",
        email="it-admin@apollo.example",
        name="Kavya Iyer",
        grants=(("apollo-chennai", "org:admin"),),
    ),
    DemoUser(
        id="user_apollo_staff",
        email="intl-desk@apollo.example",
        name="Arjun Menon",
        grants=(("apollo-chennai", "org:provider:staff"),),
    ),
    DemoUser(
        id="user_bumrungrad_admin",
        email="admin@bumrungrad.example",
        name="Somchai Wongsa",
        grants=(("bumrungrad-bangkok", "org:provider:admin"),),
    ),
    DemoUser(
        id="user_acibadem_doctor",
        email="dr.yilmaz@acibadem.example",
        name="Dr. Elif Yılmaz",
        grants=(("acibadem-istanbul", "org:mso:doctor"),),
    ),
    DemoUser(id="user_new_hire", email="sam.carter@admin-core.example", name="Sam Carter"),
)


def demo_identity() -> list[IdentityUser]:
    """The demo users, for the embedded identity providers; their memberships are made by the
    demo seed's role grants."""
    return [IdentityUser(id=u.id, email=u.email, name=u.name) for u in DEMO_USERS]
