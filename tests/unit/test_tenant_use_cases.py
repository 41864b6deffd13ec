"""Tenants and providers (SPEC §5, §6.8), one use case at a time, on the in-memory adapters.

No web app here: these tests hold the rules (who may do what, validation, ids, conflicts,
audit, the org cache), so the HTTP tests only need to prove the mapping and the auth guard.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from admin_core.directory.errors import ProviderNotFound
from admin_core.kernel.errors import InsufficientPermission, ValidationFailed
from admin_core.kernel.paging import OffsetPage
from admin_core.kernel.principal import Principal
from admin_core.kernel.validation import has_control_characters
from admin_core.tenants.errors import TenantAlreadyExists, TenantNotFound
from admin_core.tenants.model import PaymentsProvider, Tenant, TenantSettings, TenantStatus
from admin_core.tenants.use_cases import (
    CreateProviderCommand,
    CreateTenantCommand,
    ListTenantsQuery,
    MapOrganizationCommand,
    NewProvider,
    NewTenant,
    UpdateTenantCommand,
)
from tests.support.use_cases import (
    PLATFORM_ORG,
    REQUEST_ID,
    T0,
    World,
    caller_without_org,
    fields_of,
    org_of,
    platform_caller,
    tenant_caller,
)

#: SPEC §6.8 / ADR 0032, in its own words: lowercase letters, digits and inner dashes, at
#: most 64 characters, never `platform`.
VALID_TENANT_ID = re.compile(r"[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?")
GENERATED_TENANT_ID = re.compile(r"tnt-[0-9a-z]+")

SUPER = platform_caller("org:super_admin", user_id="user_owner")
PLATFORM_ADMIN = platform_caller("org:admin", user_id="user_ops")
COORDINATOR = platform_caller("org:coordinator", user_id="user_coordinator")
APOLLO, BUMRUNGRAD, MEDANTA = "apollo-chennai", "bumrungrad-bangkok", "medanta-gurugram"
APOLLO_ADMIN = tenant_caller("org:admin", APOLLO, user_id="user_apollo_admin")
APOLLO_PROVIDER_ADMIN = tenant_caller("org:provider:admin", APOLLO, user_id="user_apollo_pa")
APOLLO_STAFF = tenant_caller("org:provider:staff", APOLLO, user_id="user_apollo_staff")
NO_ORG = caller_without_org()

FORTIS = NewProvider(
    name="Fortis Hospital Mohali",
    country="IN",
    city="Mohali",
    specialties=["cardiology", "orthopaedics", "cardiology"],
    languages=["en", "hi", "pa"],
    accreditations=["NABH", "JCI", "NABH"],
)


@pytest.fixture
async def world() -> World:
    """Three tenants, Apollo and Bumrungrad with an organisation, Medanta suspended."""
    w = World()
    await w.add_tenant(APOLLO, name="Apollo Chennai", created_at=T0)
    await w.add_tenant(BUMRUNGRAD, name="Bumrungrad", created_at=T0 + timedelta(days=1))
    await w.add_tenant(
        MEDANTA,
        name="Medanta",
        org=False,
        status=TenantStatus.SUSPENDED,
        created_at=T0 + timedelta(days=2),
    )
    return w


def ids(page: OffsetPage[Tenant]) -> list[str]:
    return [t.id for t in page.items]


# --- permission and reach -----------------------------------------------------------------------


async def test_platform_callers_list_every_tenant_oldest_first_suspended_too(
    world: World,
) -> None:
    page = await world.list_tenants.execute(PLATFORM_ADMIN, ListTenantsQuery())
    assert ids(page) == [APOLLO, BUMRUNGRAD, MEDANTA]
    assert (page.total, page.total_exact) == (3, True)  # counted, not estimated
    suspended = await world.list_tenants.execute(
        SUPER, ListTenantsQuery(status=TenantStatus.SUSPENDED)
    )
    assert ids(suspended) == [MEDANTA]
    second = await world.list_tenants.execute(SUPER, ListTenantsQuery(limit=1, offset=1))
    assert (ids(second), second.total) == ([BUMRUNGRAD], 3)


@pytest.mark.parametrize("caller", [APOLLO_ADMIN, APOLLO_PROVIDER_ADMIN], ids=lambda p: p.role)
async def test_a_tenant_scoped_caller_sees_only_its_own_tenant(
    world: World, caller: Principal
) -> None:
    assert ids(await world.list_tenants.execute(caller, ListTenantsQuery())) == [APOLLO]
    own = await world.list_tenants.execute(caller, ListTenantsQuery(tenant_id=APOLLO))
    assert ids(own) == [APOLLO]
    with pytest.raises(InsufficientPermission):
        await world.list_tenants.execute(caller, ListTenantsQuery(tenant_id=BUMRUNGRAD))


@pytest.mark.parametrize(
    "caller", [COORDINATOR, APOLLO_STAFF, NO_ORG], ids=["coordinator", "staff", "no org"]
)
async def test_listing_tenants_needs_tenant_manage(world: World, caller: Principal) -> None:
    with pytest.raises(InsufficientPermission):
        await world.list_tenants.execute(caller, ListTenantsQuery())


async def test_bad_paging_names_both_fields(world: World) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await world.list_tenants.execute(SUPER, ListTenantsQuery(limit=0, offset=-1))
    assert fields_of(caught.value.errors) == ["limit", "offset"]


async def test_a_page_holds_50_tenants_unless_asked_and_from_1_to_200_when_asked(
    world: World,
) -> None:
    default = await world.list_tenants.execute(SUPER, ListTenantsQuery())
    assert (default.limit, default.offset) == (50, 0)
    for limit in (1, 200):
        page = await world.list_tenants.execute(SUPER, ListTenantsQuery(limit=limit))
        assert (page.limit, len(page.items)) == (limit, min(limit, 3))
    with pytest.raises(ValidationFailed) as caught:
        await world.list_tenants.execute(SUPER, ListTenantsQuery(limit=201))
    assert fields_of(caught.value.errors) == ["limit"]


@pytest.mark.parametrize(
    "caller",
    [APOLLO_ADMIN, APOLLO_PROVIDER_ADMIN, COORDINATOR, NO_ORG],
    ids=["tenant admin", "provider admin", "coordinator", "no org"],
)
async def test_creating_and_mapping_need_platform_scope(world: World, caller: Principal) -> None:
    """Tenant admins hold tenant:manage, but only for their own tenant: creating tenants and
    providers and mapping organisations are platform work, even for their own tenant."""
    await world.add_provider("prv_pending", "Pending Clinic")
    before = await world.state()
    attempts = [
        world.create_tenant.execute(caller, CreateTenantCommand(provider_id="prv_pending")),
        world.create_provider.execute(caller, CreateProviderCommand(provider=FORTIS)),
        world.map_org.execute(
            caller, MapOrganizationCommand(tenant_id=APOLLO, clerk_org_id="org_apollo_new")
        ),
    ]
    for attempt in attempts:
        with pytest.raises(InsufficientPermission):
            await attempt
    assert await world.state() == before
    assert world.org_cache.forgotten == []


async def test_a_platform_admin_creates_and_is_named_in_the_audit_log(world: World) -> None:
    created = await world.create_provider.execute(
        PLATFORM_ADMIN, CreateProviderCommand(provider=FORTIS)
    )
    assert created.tenant.tenant.id == "fortis-hospital-mohali"
    assert {(e.actor_id, e.actor_role, e.request_id) for e in world.audit()} == {
        ("user_ops", "org:admin", REQUEST_ID)
    }


# --- creating a provider and its tenant ---------------------------------------------------------


async def test_provider_and_tenant_are_created_together_from_the_name(world: World) -> None:
    created = await world.create_provider.execute(SUPER, CreateProviderCommand(provider=FORTIS))
    provider, view = created.provider, created.tenant
    assert provider.id.startswith("prv_")
    assert provider.specialties == ("cardiology", "orthopaedics")  # order kept, once each
    assert provider.accreditations == ("JCI", "NABH")  # a set, sorted
    assert provider.languages == ("en", "hi", "pa")
    tenant = view.tenant
    assert (tenant.id, tenant.name, tenant.status, tenant.provider_id) == (
        "fortis-hospital-mohali",
        "Fortis Hospital Mohali",
        TenantStatus.ACTIVE,
        provider.id,
    )
    assert (tenant.created_at, tenant.updated_at, view.clerk_org_id) == (T0, T0, None)
    assert await world.tenant("fortis-hospital-mohali") == tenant
    assert await world.provider(provider.id) == provider
    assert world.org_cache.forgotten == []  # no organisation, nothing to forget


async def test_the_tenant_takes_its_own_name_and_id_when_given(world: World) -> None:
    by_name = await world.create_provider.execute(
        SUPER,
        CreateProviderCommand(
            provider=FORTIS,
            tenant=NewTenant(name="Fortis Mohali", settings={"default_currency": "INR"}),
        ),
    )
    assert (by_name.tenant.tenant.id, by_name.tenant.tenant.name) == (
        "fortis-mohali",
        "Fortis Mohali",
    )
    assert by_name.tenant.tenant.settings == TenantSettings(default_currency="INR")
    by_id = await world.create_provider.execute(
        SUPER,
        CreateProviderCommand(
            provider=NewProvider(name="Fortis Hospital Noida"), tenant=NewTenant(id=" fortis-2 ")
        ),
    )
    assert (by_id.tenant.tenant.id, by_id.tenant.tenant.name) == (
        "fortis-2",
        "Fortis Hospital Noida",
    )


@pytest.mark.parametrize(
    ("name", "tenant_id"),
    [
        ("Acıbadem Maslak Hospital", "acibadem-maslak-hospital"),
        ("  St. Mary's — London  ", "st-mary-s-london"),
        ("Hôpital Européen Georges-Pompidou", "hopital-europeen-georges-pompidou"),
        ("Sørlandet Sykehus", "sorlandet-sykehus"),
    ],
)
async def test_a_tenant_id_reads_like_the_name(world: World, name: str, tenant_id: str) -> None:
    created = await world.create_provider.execute(
        SUPER, CreateProviderCommand(provider=NewProvider(name=name))
    )
    assert created.tenant.tenant.id == tenant_id


@pytest.mark.parametrize("name", ["Platform", "PLATFORM!", "東京病院", "!!!"])
async def test_a_name_that_gives_no_usable_id_gets_a_generated_one(world: World, name: str) -> None:
    """`platform` is reserved (ADR 0020), and a name without Latin letters or digits has no
    slug: either way the tenant gets a generated id, never `platform`, never empty."""
    created = await world.create_provider.execute(
        SUPER, CreateProviderCommand(provider=NewProvider(name=name))
    )
    tenant = created.tenant.tenant
    assert GENERATED_TENANT_ID.fullmatch(tenant.id)
    assert VALID_TENANT_ID.fullmatch(tenant.id)
    assert tenant.name == name.strip()
    assert await world.tenant(tenant.id) == tenant


@pytest.mark.parametrize("tenant_id", ["platform", " platform "])
async def test_the_reserved_id_platform_is_refused(world: World, tenant_id: str) -> None:
    before = await world.state()
    with pytest.raises(ValidationFailed) as caught:
        await world.create_provider.execute(
            SUPER, CreateProviderCommand(provider=FORTIS, tenant=NewTenant(id=tenant_id))
        )
    assert fields_of(caught.value.errors) == ["tenant.id"]
    assert await world.state() == before


async def test_every_offending_field_of_a_provider_is_named_at_once(world: World) -> None:
    before = await world.state()
    with pytest.raises(ValidationFailed) as caught:
        await world.create_provider.execute(
            SUPER,
            CreateProviderCommand(
                provider=NewProvider(
                    name="   ",
                    country="XX",
                    city="x" * 101,
                    specialties=["x"] * 51,
                    languages=["en", "english"],
                    accreditations=[""],
                ),
                tenant=NewTenant(
                    id="Not An Id!",
                    name="",
                    settings={"default_currency": "EURO", "timezone": "Mars/Olympus_Mons"},
                ),
                clerk_org_id="not-an-org",
            ),
        )
    assert fields_of(caught.value.errors) == [
        "clerk_org_id",
        "provider.accreditations.0",
        "provider.city",
        "provider.country",
        "provider.languages.1",
        "provider.name",
        "provider.specialties",
        "tenant.id",
        "tenant.name",
        "tenant.settings.default_currency",
        "tenant.settings.timezone",
    ]
    assert await world.state() == before  # no provider, no tenant, no audit entry
    assert world.org_cache.forgotten == []


#: SPEC §6.8 / ADR 0032 limits, field by field: (the field an error names, the provider or
#: tenant with a value at the limit). Each limit is inclusive: one more is refused.
AT_THE_LIMIT: dict[str, tuple[NewProvider, NewTenant, NewProvider, NewTenant]] = {
    "provider.name": (
        NewProvider(name="n" * 200),
        NewTenant(name="Tenant"),
        NewProvider(name="n" * 201),
        NewTenant(name="Tenant"),
    ),
    "tenant.name": (
        NewProvider(name="Provider"),
        NewTenant(name="n" * 200),
        NewProvider(name="Provider"),
        NewTenant(name="n" * 201),
    ),
    "tenant.id": (
        NewProvider(name="Provider"),
        NewTenant(id="a" * 64),
        NewProvider(name="Provider"),
        NewTenant(id="a" * 65),
    ),
    "provider.city": (
        NewProvider(name="Provider", city="c" * 100),
        NewTenant(),
        NewProvider(name="Provider", city="c" * 101),
        NewTenant(),
    ),
    "provider.specialties": (
        NewProvider(name="Provider", specialties=[f"s{i}" for i in range(50)]),
        NewTenant(),
        NewProvider(name="Provider", specialties=[f"s{i}" for i in range(51)]),
        NewTenant(),
    ),
    "provider.specialties.0": (
        NewProvider(name="Provider", specialties=["s" * 100]),
        NewTenant(),
        NewProvider(name="Provider", specialties=["s" * 101]),
        NewTenant(),
    ),
    "provider.accreditations": (
        NewProvider(name="Provider", accreditations=[f"a{i}" for i in range(50)]),
        NewTenant(),
        NewProvider(name="Provider", accreditations=[f"a{i}" for i in range(51)]),
        NewTenant(),
    ),
    "provider.accreditations.0": (
        NewProvider(name="Provider", accreditations=["a" * 100]),
        NewTenant(),
        NewProvider(name="Provider", accreditations=["a" * 101]),
        NewTenant(),
    ),
}


@pytest.mark.parametrize("field", sorted(AT_THE_LIMIT))
async def test_each_length_limit_admits_its_limit_and_refuses_one_more(
    world: World, field: str
) -> None:
    provider, tenant, over_provider, over_tenant = AT_THE_LIMIT[field]
    before = await world.state()
    with pytest.raises(ValidationFailed) as caught:
        await world.create_provider.execute(
            SUPER, CreateProviderCommand(provider=over_provider, tenant=over_tenant)
        )
    assert fields_of(caught.value.errors) == [field]
    assert await world.state() == before
    created = await world.create_provider.execute(
        SUPER, CreateProviderCommand(provider=provider, tenant=tenant)
    )
    assert created.tenant.tenant.name == (tenant.name or provider.name)


async def test_a_tenant_name_at_the_limit_is_taken_by_an_update(world: World) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await world.update_tenant.execute(
            SUPER, UpdateTenantCommand(tenant_id=APOLLO, name="n" * 201)
        )
    assert fields_of(caught.value.errors) == ["name"]
    updated = await world.update_tenant.execute(
        SUPER, UpdateTenantCommand(tenant_id=APOLLO, name="n" * 200)
    )
    assert updated.tenant.name == "n" * 200


async def test_a_provider_needs_a_name(world: World) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await world.create_provider.execute(
            SUPER, CreateProviderCommand(provider=NewProvider(name=None))
        )
    assert fields_of(caught.value.errors) == ["provider.name"]


async def test_a_taken_tenant_id_leaves_no_provider_behind(world: World) -> None:
    """The provider row is written before the tenant's id clashes: the clash takes both."""
    before = await world.state()
    for tenant in (NewTenant(id=APOLLO), NewTenant(name="Apollo Chennai")):
        with pytest.raises(TenantAlreadyExists):
            await world.create_provider.execute(
                SUPER, CreateProviderCommand(provider=FORTIS, tenant=tenant)
            )
    assert await world.state() == before


async def test_an_organisation_of_another_tenant_leaves_neither_provider_nor_tenant(
    world: World,
) -> None:
    before = await world.state()
    with pytest.raises(TenantAlreadyExists) as caught:
        await world.create_provider.execute(
            SUPER, CreateProviderCommand(provider=FORTIS, clerk_org_id=org_of(APOLLO))
        )
    assert caught.value.field == "clerk_org_id"
    assert caught.value.details["tenant_id"] == APOLLO
    assert await world.state() == before
    assert await world.org_for_tenant(APOLLO) == org_of(APOLLO)
    assert world.org_cache.forgotten == []


async def test_a_platform_organisation_cannot_belong_to_a_tenant(world: World) -> None:
    await world.add_provider("prv_pending", "Pending Clinic")
    before = await world.state()
    attempts = [
        world.create_provider.execute(
            SUPER, CreateProviderCommand(provider=FORTIS, clerk_org_id=PLATFORM_ORG)
        ),
        world.create_tenant.execute(
            SUPER, CreateTenantCommand(provider_id="prv_pending", clerk_org_id=PLATFORM_ORG)
        ),
        world.map_org.execute(
            SUPER, MapOrganizationCommand(tenant_id=APOLLO, clerk_org_id=PLATFORM_ORG)
        ),
    ]
    for attempt in attempts:
        with pytest.raises(ValidationFailed) as caught:
            await attempt
        assert fields_of(caught.value.errors) == ["clerk_org_id"]
    assert await world.state() == before


async def test_creating_with_an_organisation_maps_it_audits_both_and_forgets_it(
    world: World,
) -> None:
    world.clock.advance(timedelta(hours=1))
    created = await world.create_provider.execute(
        SUPER,
        CreateProviderCommand(
            provider=FORTIS,
            tenant=NewTenant(settings={"payments_provider": "razorpay"}),
            clerk_org_id="org_fortis",
        ),
    )
    tenant_id, provider_id = created.tenant.tenant.id, created.provider.id
    assert created.tenant.clerk_org_id == "org_fortis"
    assert await world.org_for_tenant(tenant_id) == "org_fortis"
    assert world.org_cache.forgotten == ["org_fortis"]
    provider_entry, tenant_entry = world.audit()
    assert [provider_entry.action, tenant_entry.action] == ["provider.create", "tenant.create"]
    for entry in (provider_entry, tenant_entry):
        assert (entry.tenant_id, entry.actor_id, entry.actor_role, entry.request_id) == (
            tenant_id,
            "user_owner",
            "org:super_admin",
            REQUEST_ID,
        )
        assert entry.occurred_at == T0 + timedelta(hours=1)
        assert entry.before is None
    assert (provider_entry.resource_type, provider_entry.resource_id) == ("provider", provider_id)
    assert provider_entry.after is not None
    assert provider_entry.after["name"] == "Fortis Hospital Mohali"
    assert (tenant_entry.resource_type, tenant_entry.resource_id) == ("tenant", tenant_id)
    assert tenant_entry.after == {
        "id": tenant_id,
        "name": "Fortis Hospital Mohali",
        "status": "active",
        "provider_id": provider_id,
        "clerk_org_id": "org_fortis",
        "settings": {
            "payments_provider": "razorpay",
            "data_residency_region": None,
            "default_currency": None,
            "timezone": None,
        },
    }


# --- creating the tenant of an existing provider (legacy two-step) -----------------------------


async def test_a_tenant_for_an_existing_provider_defaults_to_the_providers_name(
    world: World,
) -> None:
    await world.add_provider("prv_pending", "Pending Clinic Dubai")
    view = await world.create_tenant.execute(
        SUPER, CreateTenantCommand(provider_id="prv_pending", clerk_org_id="org_pending")
    )
    assert (view.tenant.id, view.tenant.name, view.tenant.provider_id, view.clerk_org_id) == (
        "pending-clinic-dubai",
        "Pending Clinic Dubai",
        "prv_pending",
        "org_pending",
    )
    assert await world.org_for_tenant("pending-clinic-dubai") == "org_pending"
    assert world.org_cache.forgotten == ["org_pending"]
    [entry] = world.audit()
    assert (entry.action, entry.tenant_id, entry.resource_id, entry.before) == (
        "tenant.create",
        "pending-clinic-dubai",
        "pending-clinic-dubai",
        None,
    )
    assert (entry.actor_id, entry.request_id) == ("user_owner", REQUEST_ID)


async def test_a_tenant_for_an_existing_provider_takes_the_id_and_name_it_is_given(
    world: World,
) -> None:
    await world.add_provider("prv_pending", "Pending Clinic Dubai")
    view = await world.create_tenant.execute(
        SUPER,
        CreateTenantCommand(
            provider_id="prv_pending", tenant=NewTenant(id="pcd", name="PCD Jumeirah")
        ),
    )
    assert (view.tenant.id, view.tenant.name) == ("pcd", "PCD Jumeirah")
    await world.add_provider("prv_named", "Named Clinic")
    named = await world.create_tenant.execute(
        SUPER, CreateTenantCommand(provider_id="prv_named", tenant=NewTenant(name="Harbour View"))
    )
    assert (named.tenant.id, named.tenant.name) == ("harbour-view", "Harbour View")


async def test_a_provider_id_has_at_most_128_characters(world: World) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await world.create_tenant.execute(SUPER, CreateTenantCommand(provider_id="p" * 129))
    assert fields_of(caught.value.errors) == ["provider_id"]
    with pytest.raises(ProviderNotFound):
        await world.create_tenant.execute(SUPER, CreateTenantCommand(provider_id="p" * 128))


async def test_an_unknown_provider_is_not_found_and_nothing_is_written(world: World) -> None:
    before = await world.state()
    with pytest.raises(ProviderNotFound):
        await world.create_tenant.execute(SUPER, CreateTenantCommand(provider_id="prv_missing"))
    assert await world.state() == before


async def test_a_provider_has_at_most_one_tenant(world: World) -> None:
    before = await world.state()
    with pytest.raises(TenantAlreadyExists) as caught:
        await world.create_tenant.execute(
            SUPER,
            CreateTenantCommand(provider_id="prv_apollo_chennai", tenant=NewTenant(id="apollo-2")),
        )
    assert caught.value.details == {"provider_id": "prv_apollo_chennai", "tenant_id": APOLLO}
    assert await world.state() == before


async def test_a_taken_tenant_id_is_a_conflict_not_a_silent_suffix(world: World) -> None:
    await world.add_provider("prv_pending", "Apollo Chennai")  # slugs to a taken id
    before = await world.state()
    for tenant in (NewTenant(), NewTenant(id=BUMRUNGRAD)):
        with pytest.raises(TenantAlreadyExists):
            await world.create_tenant.execute(
                SUPER, CreateTenantCommand(provider_id="prv_pending", tenant=tenant)
            )
    assert await world.state() == before


async def test_an_organisation_of_another_tenant_is_a_conflict(world: World) -> None:
    await world.add_provider("prv_pending", "Pending Clinic")
    before = await world.state()
    with pytest.raises(TenantAlreadyExists) as caught:
        await world.create_tenant.execute(
            SUPER, CreateTenantCommand(provider_id="prv_pending", clerk_org_id=org_of(BUMRUNGRAD))
        )
    assert caught.value.field == "clerk_org_id"
    assert await world.state() == before  # the tenant row went with the failed mapping
    assert world.org_cache.forgotten == []


async def test_every_offending_field_of_a_tenant_is_named_at_once(world: World) -> None:
    await world.add_provider("prv_pending", "Pending Clinic")
    before = await world.state()
    with pytest.raises(ValidationFailed) as caught:
        await world.create_tenant.execute(
            SUPER,
            CreateTenantCommand(
                provider_id="prv_pending",
                tenant=NewTenant(
                    id="UPPER-case",
                    name="x" * 201,
                    settings={
                        "payments_provider": "paypal",
                        "data_residency_region": "Frankfurt",
                        "colour": "blue",
                    },
                ),
                clerk_org_id="org_" + "x" * 200,
            ),
        )
    assert fields_of(caught.value.errors) == [
        "clerk_org_id",
        "name",
        "settings.colour",
        "settings.data_residency_region",
        "settings.payments_provider",
        "tenant_id",
    ]
    assert await world.state() == before


async def test_an_empty_tenant_id_is_refused_like_an_empty_name(world: World) -> None:
    await world.add_provider("prv_pending", "Pending Clinic")
    before = await world.state()
    with pytest.raises(ValidationFailed) as caught:
        await world.create_tenant.execute(
            SUPER, CreateTenantCommand(provider_id="prv_pending", tenant=NewTenant(id=""))
        )
    assert fields_of(caught.value.errors) == ["tenant_id"]
    assert await world.state() == before


# --- updating a tenant --------------------------------------------------------------------------


async def test_an_update_merges_settings_and_records_before_and_after(world: World) -> None:
    await world.add_tenant(
        "kokilaben-mumbai",
        settings=TenantSettings(
            payments_provider=PaymentsProvider.RAZORPAY,
            data_residency_region="ap-south-1",
            default_currency="INR",
            timezone="Asia/Kolkata",
        ),
    )
    world.clock.advance(timedelta(minutes=5))
    view = await world.update_tenant.execute(
        tenant_caller("org:admin", "kokilaben-mumbai", user_id="user_kokilaben_admin"),
        UpdateTenantCommand(
            tenant_id="kokilaben-mumbai",
            name="  Kokilaben Hospital  ",
            settings={"timezone": None, "default_currency": "USD"},
        ),
    )
    tenant = view.tenant
    assert tenant.name == "Kokilaben Hospital"
    assert tenant.settings == TenantSettings(
        payments_provider=PaymentsProvider.RAZORPAY,  # untouched
        data_residency_region="ap-south-1",  # untouched
        default_currency="USD",
        timezone=None,  # cleared
    )
    assert (tenant.created_at, tenant.updated_at) == (T0, T0 + timedelta(minutes=5))
    assert view.clerk_org_id == org_of("kokilaben-mumbai")
    assert await world.tenant("kokilaben-mumbai") == tenant
    [entry] = world.audit()
    assert (entry.action, entry.tenant_id, entry.resource_id) == (
        "tenant.update",
        "kokilaben-mumbai",
        "kokilaben-mumbai",
    )
    assert (entry.actor_id, entry.actor_role, entry.request_id) == (
        "user_kokilaben_admin",
        "org:admin",
        REQUEST_ID,
    )
    assert entry.before is not None
    assert entry.after is not None
    assert (entry.before["name"], entry.after["name"]) == ("Kokilaben Mumbai", "Kokilaben Hospital")
    assert entry.before["settings"]["timezone"] == "Asia/Kolkata"
    assert entry.after["settings"] == {
        "payments_provider": "razorpay",
        "data_residency_region": "ap-south-1",
        "default_currency": "USD",
        "timezone": None,
    }
    assert entry.before["clerk_org_id"] == entry.after["clerk_org_id"] == "org_kokilaben_mumbai"


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"name": "Apollo Chennai"},
        {"name": " Apollo Chennai "},
        {"status": TenantStatus.ACTIVE},
        {"settings": {"timezone": None, "payments_provider": None}},
    ],
    ids=["nothing", "same name", "same name padded", "same status", "clear what is unset"],
)
async def test_an_update_that_changes_nothing_writes_nothing(
    world: World, changes: dict[str, object]
) -> None:
    before = await world.state()
    world.clock.advance(timedelta(minutes=5))
    view = await world.update_tenant.execute(
        SUPER,
        UpdateTenantCommand(tenant_id=APOLLO, **changes),  # type: ignore[arg-type]
    )
    assert view.tenant.updated_at == T0
    assert await world.state() == before


async def test_status_changes_need_platform_scope(world: World) -> None:
    before = await world.state()
    with pytest.raises(InsufficientPermission) as caught:
        await world.update_tenant.execute(
            APOLLO_ADMIN,
            UpdateTenantCommand(tenant_id=APOLLO, name="Suspended", status=TenantStatus.SUSPENDED),
        )
    assert caught.value.details["field"] == "status"
    assert await world.state() == before  # not even the name
    suspended = await world.update_tenant.execute(
        PLATFORM_ADMIN, UpdateTenantCommand(tenant_id=APOLLO, status=TenantStatus.SUSPENDED)
    )
    assert suspended.tenant.status is TenantStatus.SUSPENDED
    [entry] = world.audit("tenant.update")
    assert ((entry.before or {})["status"], (entry.after or {})["status"]) == (
        "active",
        "suspended",
    )


async def test_a_suspended_tenant_edits_itself_but_cannot_reactivate_itself(
    world: World,
) -> None:
    medanta_admin = tenant_caller("org:admin", MEDANTA, user_id="user_medanta_admin")
    listed = await world.list_tenants.execute(medanta_admin, ListTenantsQuery())
    assert ids(listed) == [MEDANTA]
    renamed = await world.update_tenant.execute(
        medanta_admin, UpdateTenantCommand(tenant_id=MEDANTA, settings={"timezone": "UTC"})
    )
    assert renamed.tenant.settings.timezone == "UTC"
    with pytest.raises(InsufficientPermission):
        await world.update_tenant.execute(
            medanta_admin, UpdateTenantCommand(tenant_id=MEDANTA, status=TenantStatus.ACTIVE)
        )
    reactivated = await world.update_tenant.execute(
        SUPER, UpdateTenantCommand(tenant_id=MEDANTA, status=TenantStatus.ACTIVE)
    )
    assert reactivated.tenant.status is TenantStatus.ACTIVE


@pytest.mark.parametrize(
    "caller", [APOLLO_ADMIN, APOLLO_STAFF, COORDINATOR, NO_ORG], ids=lambda p: str(p.role)
)
async def test_updating_another_tenant_or_without_tenant_manage_is_refused(
    world: World, caller: Principal
) -> None:
    before = await world.state()
    with pytest.raises(InsufficientPermission):
        await world.update_tenant.execute(
            caller, UpdateTenantCommand(tenant_id=BUMRUNGRAD, name="Mine now")
        )
    assert await world.state() == before


async def test_updating_an_unknown_tenant_is_not_found(world: World) -> None:
    with pytest.raises(TenantNotFound):
        await world.update_tenant.execute(SUPER, UpdateTenantCommand(tenant_id="nowhere", name="X"))


async def test_every_bad_setting_of_an_update_is_named_at_once(world: World) -> None:
    before = await world.state()
    with pytest.raises(ValidationFailed) as caught:
        await world.update_tenant.execute(
            SUPER,
            UpdateTenantCommand(
                tenant_id=APOLLO,
                settings={
                    "payments_provider": "paypal",
                    "default_currency": "usd",
                    "timezone": "GMT+5",
                    "data_residency_region": "EU CENTRAL",
                    "provider_id": "prv_x",
                },
            ),
        )
    assert fields_of(caught.value.errors) == [
        "settings.data_residency_region",
        "settings.default_currency",
        "settings.payments_provider",
        "settings.provider_id",
        "settings.timezone",
    ]
    assert await world.state() == before


async def test_a_bad_name_and_bad_settings_are_named_together(world: World) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await world.update_tenant.execute(
            SUPER,
            UpdateTenantCommand(tenant_id=APOLLO, name="", settings={"timezone": "Mars/Base"}),
        )
    assert fields_of(caught.value.errors) == ["name", "settings.timezone"]


# --- mapping an organisation --------------------------------------------------------------------


async def test_mapping_an_organisation_to_a_tenant_without_one(world: World) -> None:
    view = await world.map_org.execute(
        PLATFORM_ADMIN, MapOrganizationCommand(tenant_id=MEDANTA, clerk_org_id="org_medanta")
    )
    assert view.clerk_org_id == "org_medanta"
    assert await world.org_for_tenant(MEDANTA) == "org_medanta"
    assert world.org_cache.forgotten == ["org_medanta"]
    [entry] = world.audit()
    assert (entry.action, entry.tenant_id, entry.before, entry.after) == (
        "tenant.map_org",
        MEDANTA,
        {"clerk_org_id": None},
        {"clerk_org_id": "org_medanta"},
    )
    assert (entry.actor_id, entry.request_id) == ("user_ops", REQUEST_ID)


async def test_a_new_organisation_replaces_the_old_and_both_are_forgotten(world: World) -> None:
    await world.map_org.execute(
        SUPER, MapOrganizationCommand(tenant_id=APOLLO, clerk_org_id="org_apollo_new")
    )
    assert await world.org_for_tenant(APOLLO) == "org_apollo_new"
    async with world.transactions() as tx:
        assert await tx.org_mappings.tenant_for_org(org_of(APOLLO)) is None
    assert sorted(world.org_cache.forgotten) == sorted(["org_apollo_new", org_of(APOLLO)])
    [entry] = world.audit("tenant.map_org")
    assert (entry.before, entry.after) == (
        {"clerk_org_id": org_of(APOLLO)},
        {"clerk_org_id": "org_apollo_new"},
    )


async def test_mapping_the_same_organisation_again_is_a_no_op(world: World) -> None:
    before = await world.state()
    view = await world.map_org.execute(
        SUPER, MapOrganizationCommand(tenant_id=APOLLO, clerk_org_id=org_of(APOLLO))
    )
    assert view.clerk_org_id == org_of(APOLLO)
    assert await world.state() == before
    assert world.org_cache.forgotten == []


async def test_an_organisation_of_another_tenant_is_not_taken_over(world: World) -> None:
    before = await world.state()
    with pytest.raises(TenantAlreadyExists) as caught:
        await world.map_org.execute(
            SUPER, MapOrganizationCommand(tenant_id=APOLLO, clerk_org_id=org_of(BUMRUNGRAD))
        )
    assert caught.value.field == "clerk_org_id"
    assert caught.value.details == {"clerk_org_id": org_of(BUMRUNGRAD), "tenant_id": BUMRUNGRAD}
    assert await world.state() == before
    assert world.org_cache.forgotten == []


@pytest.mark.parametrize("org_id", ["", "   ", "apollo", "org_", "org_has space"])
async def test_a_malformed_organisation_id_is_refused(world: World, org_id: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await world.map_org.execute(
            SUPER, MapOrganizationCommand(tenant_id=APOLLO, clerk_org_id=org_id)
        )
    assert fields_of(caught.value.errors) == ["clerk_org_id"]
    assert world.audit() == []


async def test_mapping_to_an_unknown_tenant_is_not_found(world: World) -> None:
    with pytest.raises(TenantNotFound):
        await world.map_org.execute(
            SUPER, MapOrganizationCommand(tenant_id="nowhere", clerk_org_id="org_nowhere")
        )
    assert world.org_cache.forgotten == []


# --- properties ---------------------------------------------------------------------------------

#: A name the rules accept: not blank, at most 200 characters, no control characters (nor
#: the invisible ones that change how text reads, `has_control_characters`).
names = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=200).filter(
    lambda name: name.strip() != "" and not has_control_characters(name)
)
ascii_names = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=200
).filter(lambda name: name.strip() != "")


@settings(max_examples=150, deadline=None)
@given(name=names)
async def test_any_name_gives_a_valid_tenant_id(name: str) -> None:
    world = World()
    created = await world.create_provider.execute(
        SUPER, CreateProviderCommand(provider=NewProvider(name=name))
    )
    tenant_id = created.tenant.tenant.id
    assert VALID_TENANT_ID.fullmatch(tenant_id), tenant_id
    assert tenant_id != "platform"
    assert await world.tenant(tenant_id) == created.tenant.tenant


@settings(max_examples=150, deadline=None)
@given(name=ascii_names)
async def test_an_ascii_name_gives_its_words_joined_by_dashes(name: str) -> None:
    """ADR 0032: the id is the name's words, lowercased and joined by dashes, cut at 64;
    a name without words, or whose words spell `platform`, gets a generated id."""
    words = re.findall(r"[a-z0-9]+", name.lower())
    expected = "-".join(words)[:64].strip("-")
    world = World()
    created = await world.create_provider.execute(
        SUPER, CreateProviderCommand(provider=NewProvider(name=name))
    )
    tenant_id = created.tenant.tenant.id
    if expected in ("", "platform"):
        assert GENERATED_TENANT_ID.fullmatch(tenant_id)
    else:
        assert tenant_id == expected
