"""Second-opinion doctors (SPEC §5, §6.5), one use case at a time, on the in-memory adapters.

No web app here: these tests hold the rules (who may do what, validation, uniqueness, the
list's filters, partial updates, audit), so the HTTP tests only need to prove the mapping and
the auth guard. Expected answers come from the SPEC and ADR 0052, written out here.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from admin_core.kernel.errors import InsufficientPermission, ValidationFailed
from admin_core.kernel.principal import Principal
from admin_core.kernel.validation import FieldChecks
from admin_core.mso_doctors.errors import MsoDoctorAlreadyExists, MsoDoctorNotFound
from admin_core.mso_doctors.model import DoctorFilter, MsoDoctor
from admin_core.mso_doctors.rules import (
    check_day,
    check_email,
    check_fee,
    check_languages,
    check_timezone,
)
from admin_core.mso_doctors.use_cases import (
    ListMsoDoctors,
    ListMsoDoctorsQuery,
    MsoDoctorUpdate,
    OnboardMsoDoctor,
    OnboardMsoDoctorCommand,
    UpdateMsoDoctor,
    UpdateMsoDoctorCommand,
)
from admin_core.tenants.errors import TenantNotFound
from admin_core.tenants.known import KnownTenants
from tests.support.use_cases import (
    REQUEST_ID,
    T0,
    World,
    caller_without_org,
    fields_of,
    platform_caller,
    tenant_caller,
)

APOLLO, BUMRUNGRAD = "apollo-chennai", "bumrungrad-bangkok"
SUPER = platform_caller("org:super_admin", user_id="user_owner")
PLATFORM_ADMIN = platform_caller("org:admin", user_id="user_ops")
COORDINATOR = platform_caller("org:coordinator", user_id="user_coordinator")
APOLLO_ADMIN = tenant_caller("org:admin", APOLLO, user_id="user_apollo_admin")
APOLLO_PROVIDER_ADMIN = tenant_caller("org:provider:admin", APOLLO, user_id="user_apollo_pa")
APOLLO_STAFF = tenant_caller("org:provider:staff", APOLLO, user_id="user_apollo_staff")
APOLLO_DOCTOR = tenant_caller("org:mso:doctor", APOLLO, user_id="user_apollo_doctor")
NO_ORG = caller_without_org()
#: Who may onboard into and update Apollo's doctors (SPEC §5: `tenant:manage` reaching it).
MANAGERS = (SUPER, PLATFORM_ADMIN, APOLLO_ADMIN, APOLLO_PROVIDER_ADMIN)
OUTSIDERS = (COORDINATOR, APOLLO_STAFF, APOLLO_DOCTOR, NO_ORG)
DAY = date(2026, 3, 1)

#: ISO 639-1 codes written out from the standard (a sample), and strings that are not codes:
#: three-letter ISO 639-2 codes, upper case, a withdrawn code (`bh`, withdrawn in 2021),
#: unassigned pairs.
REAL_LANGUAGES = ("en", "hi", "ta", "th", "tr", "zh", "ar", "de", "ml", "pa", "ru", "yo", "zu")
NOT_LANGUAGES = ("xx", "qq", "EN", "eng", "e", "bh", "en-US", "", " ")


def onboard_command(**overrides: Any) -> OnboardMsoDoctorCommand:
    values: dict[str, Any] = {
        "tenant_id": APOLLO,
        "full_name": "Dr. Lakshmi Ramanathan",
        "email": "l.ramanathan@apollo.example",
        "specialty": "cardiology",
        "languages": ["en", "ta"],
        "countries": ["IN"],
        "license_number": "TNMC-48211",
        "consultation_fee_minor": 300_000,
        "currency": "INR",
        "available_from": DAY,
        "timezone": "Asia/Kolkata",
    }
    return OnboardMsoDoctorCommand(**(values | overrides))


@dataclass
class Doctors:
    """The world of the tenant tests plus the three doctor use cases."""

    world: World

    def __post_init__(self) -> None:
        w = self.world
        self.list = ListMsoDoctors(w.transactions)
        self.onboard = OnboardMsoDoctor(
            w.transactions, KnownTenants(w.transactions), w.clock, w.ids
        )
        self.update = UpdateMsoDoctor(w.transactions, w.clock)

    async def stored(self) -> dict[str, MsoDoctor]:
        """Every doctor, as the repository reads them back."""
        async with self.world.transactions() as tx:
            page = await tx.mso_doctors.page(DoctorFilter(), limit=200, offset=0)
        return {doctor.id: doctor for doctor in page.items}

    async def add(self, principal: Principal = SUPER, **overrides: Any) -> MsoDoctor:
        return await self.onboard.execute(principal, onboard_command(**overrides))


@pytest.fixture
async def doctors() -> Doctors:
    w = World()
    await w.add_tenant(APOLLO)
    await w.add_tenant(BUMRUNGRAD)
    return Doctors(w)


# --- OnboardMsoDoctor ---------------------------------------------------------------------------


async def test_onboard_creates_the_doctor_with_a_generated_id_and_audits_it(
    doctors: Doctors,
) -> None:
    doctor = await doctors.add(
        email="  L.Ramanathan@Apollo.EXAMPLE ",
        full_name="  Dr. Lakshmi Ramanathan ",
        languages=["en", "ta", "en"],
        clerk_user_id="user_2lakshmi",
    )
    assert doctor == MsoDoctor(
        id="msd_000001",
        tenant_id=APOLLO,
        full_name="Dr. Lakshmi Ramanathan",
        email="l.ramanathan@apollo.example",
        specialty="cardiology",
        languages=("en", "ta"),
        countries=("IN",),
        license_number="TNMC-48211",
        consultation_fee_minor=300_000,
        currency="INR",
        available_from=DAY,
        timezone="Asia/Kolkata",
        active=True,
        clerk_user_id="user_2lakshmi",
        created_at=T0,
        updated_at=T0,
    )
    assert (await doctors.stored()) == {doctor.id: doctor}
    [entry] = doctors.world.audit()
    assert (entry.action, entry.event_type, entry.resource_type, entry.resource_id) == (
        "mso_doctor.onboard",
        "ADMIN_MSO_DOCTOR_ONBOARD",
        "mso_doctor",
        doctor.id,
    )
    assert (entry.tenant_id, entry.actor_id, entry.request_id) == (APOLLO, "user_owner", REQUEST_ID)
    assert entry.before is None
    assert entry.after == {
        "id": doctor.id,
        "tenant_id": APOLLO,
        "full_name": "Dr. Lakshmi Ramanathan",
        "email": "l.ramanathan@apollo.example",
        "specialty": "cardiology",
        "languages": ["en", "ta"],
        "countries": ["IN"],
        "license_number": "TNMC-48211",
        "consultation_fee_minor": 300_000,
        "currency": "INR",
        "available_from": "2026-03-01",
        "timezone": "Asia/Kolkata",
        "active": True,
        "clerk_user_id": "user_2lakshmi",
    }


async def test_onboard_takes_the_day_as_iso_text_and_an_inactive_doctor(doctors: Doctors) -> None:
    doctor = await doctors.add(available_from=" 2026-04-15 ", active=False)
    assert (doctor.available_from, doctor.active) == (date(2026, 4, 15), False)


async def test_onboard_into_an_unknown_tenant_is_tenant_not_found(doctors: Doctors) -> None:
    with pytest.raises(TenantNotFound) as refused:
        await doctors.add(tenant_id="nowhere-clinic")
    assert refused.value.details == {"tenant_id": "nowhere-clinic"}
    assert (await doctors.stored()) == {}
    assert doctors.world.audit() == []


async def test_an_email_is_unique_per_tenant_whatever_its_case(doctors: Doctors) -> None:
    first = await doctors.add()
    with pytest.raises(MsoDoctorAlreadyExists) as refused:
        await doctors.add(email="L.RAMANATHAN@apollo.example", full_name="Someone Else")
    assert refused.value.field == "email"
    assert refused.value.details == {"tenant_id": APOLLO, "email": "l.ramanathan@apollo.example"}
    assert (await doctors.stored()) == {first.id: first}
    assert [e.action for e in doctors.world.audit()] == ["mso_doctor.onboard"]
    # Another tenant may have a doctor with the same address.
    other = await doctors.add(tenant_id=BUMRUNGRAD, timezone="Asia/Bangkok", currency="THB")
    assert other.email == first.email


@pytest.mark.parametrize("principal", MANAGERS, ids=lambda p: f"{p.role}/{p.scope}")
async def test_who_may_onboard_into_a_tenant(doctors: Doctors, principal: Principal) -> None:
    doctor = await doctors.add(principal)
    assert doctor.tenant_id == APOLLO


@pytest.mark.parametrize("principal", OUTSIDERS, ids=lambda p: f"{p.role}/{p.scope}")
async def test_who_may_not_onboard(doctors: Doctors, principal: Principal) -> None:
    with pytest.raises(InsufficientPermission):
        await doctors.add(principal)
    assert (await doctors.stored()) == {}


async def test_a_tenant_admin_cannot_onboard_into_another_tenant(doctors: Doctors) -> None:
    with pytest.raises(InsufficientPermission):
        await doctors.add(APOLLO_ADMIN, tenant_id=BUMRUNGRAD)
    assert (await doctors.stored()) == {}
    assert doctors.world.audit() == []


async def test_every_bad_field_of_an_onboarding_is_named_at_once(doctors: Doctors) -> None:
    command = onboard_command(
        tenant_id="Not A Tenant",
        full_name="  ",
        email="not-an-email",
        specialty="x" * 101,
        languages=["en", "xx"],
        countries=[],
        license_number="L\x00",
        consultation_fee_minor=-1,
        currency="ABC",
        available_from="2026-02-30",
        timezone="Mars/Olympus_Mons",
        active="yes",
        clerk_user_id="not a user",
    )
    with pytest.raises(ValidationFailed) as refused:
        await doctors.onboard.execute(SUPER, command)
    assert fields_of(refused.value.errors) == sorted(
        [
            "tenant_id",
            "full_name",
            "email",
            "specialty",
            "languages.1",
            "countries",
            "license_number",
            "consultation_fee_minor",
            "currency",
            "available_from",
            "timezone",
            "active",
            "clerk_user_id",
        ]
    )
    assert (await doctors.stored()) == {}
    assert doctors.world.audit() == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"languages": []}, "languages"),
        ({"languages": "en"}, "languages"),
        ({"countries": ["IN", "XX"]}, "countries.1"),
        ({"countries": ["in"]}, "countries.0"),
        ({"languages": ["en"] * 51}, "languages"),
        ({"consultation_fee_minor": True}, "consultation_fee_minor"),
        ({"consultation_fee_minor": 10**12 + 1}, "consultation_fee_minor"),
        ({"consultation_fee_minor": 12.5}, "consultation_fee_minor"),
        ({"available_from": datetime(2026, 3, 1, 9, 0)}, "available_from"),
        ({"available_from": "2026-03-01T00:00:00"}, "available_from"),
        ({"currency": "XAU"}, "currency"),  # a precious metal: not a currency to price in
        ({"email": "a@b"}, "email"),
        ({"email": "two@@example.com"}, "email"),
        ({"email": "dot.@example.com"}, "email"),
        ({"email": f"{'x' * 65}@example.com"}, "email"),
        ({"email": "dr rao@example.com"}, "email"),
        ({"full_name": "Dr.\tRao"}, "full_name"),
        ({"full_name": "x" * 201}, "full_name"),
        ({"tenant_id": "Apollo_Chennai"}, "tenant_id"),
    ],
)
async def test_bad_values_are_named(
    doctors: Doctors, overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await doctors.add(**overrides)
    assert fields_of(refused.value.errors) == [field]


async def test_the_fee_bounds_are_inclusive(doctors: Doctors) -> None:
    free = await doctors.add(consultation_fee_minor=0)
    dear = await doctors.add(consultation_fee_minor=10**12, email="dear@apollo.example")
    assert (free.consultation_fee_minor, dear.consultation_fee_minor) == (0, 10**12)


# --- ListMsoDoctors -----------------------------------------------------------------------------


async def seed_list(doctors: Doctors) -> dict[str, MsoDoctor]:
    """Five doctors in two tenants: one inactive, one available only from April."""
    made = [
        await doctors.add(
            full_name="Dr. Meera Krishnan",
            email="m@apollo.example",
            specialty="orthopaedics",
            languages=["en", "ml"],
            active=False,
            available_from=date(2025, 1, 1),
        ),
        await doctors.add(
            full_name="Dr. Arvind S",
            email="a@apollo.example",
            specialty="oncology",
            languages=["en", "ta"],
        ),
        await doctors.add(
            full_name="Dr. Lakshmi R",
            email="l@apollo.example",
            languages=["ta", "hi"],
            available_from=date(2026, 4, 1),
        ),
        await doctors.add(
            tenant_id=BUMRUNGRAD,
            full_name="Dr. Niran C",
            email="n@b.example",
            languages=["th", "en"],
            currency="THB",
            timezone="Asia/Bangkok",
        ),
        await doctors.add(
            tenant_id=BUMRUNGRAD,
            full_name="Dr. Arvind S",
            email="a2@b.example",
            specialty="neurology",
            languages=["th"],
            currency="THB",
            timezone="Asia/Bangkok",
        ),
    ]
    return {d.email.split("@")[0]: d for d in made}


def names(page: Any) -> list[str]:
    return [f"{d.full_name}@{d.tenant_id}" for d in page.items]


async def test_list_orders_by_full_name_then_id_and_counts(doctors: Doctors) -> None:
    made = await seed_list(doctors)
    page = await doctors.list.execute(SUPER, ListMsoDoctorsQuery())
    assert [d.id for d in page.items] == [
        made["a"].id,  # two "Dr. Arvind S": the older id first
        made["a2"].id,
        made["l"].id,
        made["m"].id,
        made["n"].id,
    ]
    assert (page.total, page.limit, page.offset) == (5, 50, 0)
    second = await doctors.list.execute(SUPER, ListMsoDoctorsQuery(limit=2, offset=2))
    assert [d.id for d in second.items] == [made["l"].id, made["m"].id]
    assert second.total == 5
    past = await doctors.list.execute(SUPER, ListMsoDoctorsQuery(limit=2, offset=10))
    assert (list(past.items), past.total) == ([], 5)


async def test_list_filters_by_specialty_language_and_tenant(doctors: Doctors) -> None:
    await seed_list(doctors)
    cardio = await doctors.list.execute(SUPER, ListMsoDoctorsQuery(specialty="cardiology"))
    assert names(cardio) == ["Dr. Lakshmi R@apollo-chennai", "Dr. Niran C@bumrungrad-bangkok"]
    tamil = await doctors.list.execute(SUPER, ListMsoDoctorsQuery(language="ta"))
    assert names(tamil) == ["Dr. Arvind S@apollo-chennai", "Dr. Lakshmi R@apollo-chennai"]
    thai_here = await doctors.list.execute(
        SUPER, ListMsoDoctorsQuery(language="th", tenant_id=BUMRUNGRAD, specialty="neurology")
    )
    assert names(thai_here) == ["Dr. Arvind S@bumrungrad-bangkok"]
    assert (await doctors.list.execute(SUPER, ListMsoDoctorsQuery(language="fr"))).total == 0


async def test_available_from_lists_the_active_doctors_available_that_day(
    doctors: Doctors,
) -> None:
    await seed_list(doctors)
    march = await doctors.list.execute(
        SUPER, ListMsoDoctorsQuery(tenant_id=APOLLO, available_from="2026-03-01")
    )
    # Meera is inactive; Lakshmi starts on 1 April.
    assert names(march) == ["Dr. Arvind S@apollo-chennai"]
    april = await doctors.list.execute(
        SUPER, ListMsoDoctorsQuery(tenant_id=APOLLO, available_from=date(2026, 4, 1))
    )
    assert names(april) == ["Dr. Arvind S@apollo-chennai", "Dr. Lakshmi R@apollo-chennai"]
    # Without the day, inactive doctors are listed too.
    everyone = await doctors.list.execute(SUPER, ListMsoDoctorsQuery(tenant_id=APOLLO))
    assert everyone.total == 3


async def test_a_tenant_scoped_caller_lists_only_its_own_tenant(doctors: Doctors) -> None:
    await seed_list(doctors)
    own = await doctors.list.execute(APOLLO_ADMIN, ListMsoDoctorsQuery())
    assert {d.tenant_id for d in own.items} == {APOLLO}
    assert own.total == 3
    named = await doctors.list.execute(APOLLO_ADMIN, ListMsoDoctorsQuery(tenant_id=APOLLO))
    assert named.total == 3
    with pytest.raises(InsufficientPermission):
        await doctors.list.execute(APOLLO_ADMIN, ListMsoDoctorsQuery(tenant_id=BUMRUNGRAD))
    every = await doctors.list.execute(PLATFORM_ADMIN, ListMsoDoctorsQuery())
    assert every.total == 5


@pytest.mark.parametrize("principal", OUTSIDERS, ids=lambda p: f"{p.role}/{p.scope}")
async def test_who_may_not_list(doctors: Doctors, principal: Principal) -> None:
    with pytest.raises(InsufficientPermission):
        await doctors.list.execute(principal, ListMsoDoctorsQuery())


async def test_every_bad_list_filter_is_named_at_once(doctors: Doctors) -> None:
    query = ListMsoDoctorsQuery(
        tenant_id="Bad Tenant",
        specialty="\x00",
        language="english",
        available_from="01/03/2026",
        limit=0,
        offset=-1,
    )
    with pytest.raises(ValidationFailed) as refused:
        await doctors.list.execute(SUPER, query)
    assert fields_of(refused.value.errors) == sorted(
        ["tenant_id", "specialty", "language", "available_from", "limit", "offset"]
    )


# --- UpdateMsoDoctor ----------------------------------------------------------------------------


async def test_an_update_changes_only_the_fields_given_and_audits_them(doctors: Doctors) -> None:
    doctor = await doctors.add(clerk_user_id="user_2lakshmi")
    doctors.world.clock.advance(timedelta(hours=1))
    update = await doctors.update.execute(
        APOLLO_ADMIN,
        UpdateMsoDoctorCommand(
            doctor_id=doctor.id,
            specialty="interventional cardiology",
            languages=["hi"],
            consultation_fee_minor=320_000,
            timezone="Asia/Kolkata",  # unchanged: not in before/after
        ),
    )
    assert update.changed
    updated = update.doctor
    assert updated == replace(
        doctor,
        specialty="interventional cardiology",
        languages=("hi",),
        consultation_fee_minor=320_000,
        updated_at=T0 + timedelta(hours=1),
    )
    assert (await doctors.stored())[doctor.id] == updated
    [entry] = doctors.world.audit("mso_doctor.update")
    assert (entry.event_type, entry.resource_id, entry.tenant_id, entry.actor_id) == (
        "ADMIN_MSO_DOCTOR_UPDATE",
        doctor.id,
        APOLLO,
        "user_apollo_admin",
    )
    assert entry.before == {
        "specialty": "cardiology",
        "languages": ["en", "ta"],
        "consultation_fee_minor": 300_000,
    }
    assert entry.after == {
        "specialty": "interventional cardiology",
        "languages": ["hi"],
        "consultation_fee_minor": 320_000,
    }


async def test_an_update_that_changes_nothing_writes_nothing(doctors: Doctors) -> None:
    doctor = await doctors.add()
    doctors.world.clock.advance(timedelta(hours=1))
    same = await doctors.update.execute(
        SUPER,
        UpdateMsoDoctorCommand(
            doctor_id=doctor.id,
            email=" L.Ramanathan@apollo.example",  # the same address once lower-cased
            available_from="2026-03-01",
            active=True,
            unlink_clerk_user=True,  # there is no user to unlink
        ),
    )
    assert same == MsoDoctorUpdate(doctor=doctor, changed=False)
    assert (await doctors.stored())[doctor.id].updated_at == T0
    assert doctors.world.audit("mso_doctor.update") == []
    assert await doctors.update.execute(SUPER, UpdateMsoDoctorCommand(doctor_id=doctor.id)) == (
        MsoDoctorUpdate(doctor=doctor, changed=False)
    )


async def test_linking_and_unlinking_the_clerk_user(doctors: Doctors) -> None:
    doctor = await doctors.add()
    linked = await doctors.update.execute(
        SUPER, UpdateMsoDoctorCommand(doctor_id=doctor.id, clerk_user_id="user_2lakshmi")
    )
    assert linked.doctor.clerk_user_id == "user_2lakshmi"
    unlinked = await doctors.update.execute(
        SUPER, UpdateMsoDoctorCommand(doctor_id=doctor.id, unlink_clerk_user=True)
    )
    assert unlinked.doctor.clerk_user_id is None
    before_after = [(e.before, e.after) for e in doctors.world.audit("mso_doctor.update")]
    assert before_after == [
        ({"clerk_user_id": None}, {"clerk_user_id": "user_2lakshmi"}),
        ({"clerk_user_id": "user_2lakshmi"}, {"clerk_user_id": None}),
    ]
    with pytest.raises(ValidationFailed) as refused:
        await doctors.update.execute(
            SUPER,
            UpdateMsoDoctorCommand(
                doctor_id=doctor.id, clerk_user_id="user_2x", unlink_clerk_user=True
            ),
        )
    assert fields_of(refused.value.errors) == ["clerk_user_id"]


async def test_an_unknown_doctor_is_not_found(doctors: Doctors) -> None:
    with pytest.raises(MsoDoctorNotFound) as refused:
        await doctors.update.execute(SUPER, UpdateMsoDoctorCommand(doctor_id="msd_missing"))
    assert refused.value.details == {"doctor_id": "msd_missing"}


async def test_bad_fields_are_named_before_the_doctor_is_looked_up(doctors: Doctors) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await doctors.update.execute(
            SUPER,
            UpdateMsoDoctorCommand(
                doctor_id="msd_missing", email="nope", countries=["ZZ"], currency="usd"
            ),
        )
    assert fields_of(refused.value.errors) == ["countries.0", "currency", "email"]


async def test_another_tenants_doctor_is_not_found(doctors: Doctors) -> None:
    doctor = await doctors.add(tenant_id=BUMRUNGRAD, currency="THB", timezone="Asia/Bangkok")
    with pytest.raises(MsoDoctorNotFound) as refused:
        await doctors.update.execute(
            APOLLO_ADMIN, UpdateMsoDoctorCommand(doctor_id=doctor.id, specialty="oncology")
        )
    assert refused.value.details == {"doctor_id": doctor.id}
    assert (await doctors.stored())[doctor.id] == doctor
    assert doctors.world.audit("mso_doctor.update") == []


@pytest.mark.parametrize("principal", OUTSIDERS, ids=lambda p: f"{p.role}/{p.scope}")
async def test_who_may_not_update(doctors: Doctors, principal: Principal) -> None:
    doctor = await doctors.add()
    with pytest.raises(InsufficientPermission):
        await doctors.update.execute(
            principal, UpdateMsoDoctorCommand(doctor_id=doctor.id, active=False)
        )
    assert (await doctors.stored())[doctor.id] == doctor


async def test_a_new_email_must_be_free_in_the_tenant(doctors: Doctors) -> None:
    first = await doctors.add()
    second = await doctors.add(email="second@apollo.example")
    with pytest.raises(MsoDoctorAlreadyExists):
        await doctors.update.execute(
            SUPER, UpdateMsoDoctorCommand(doctor_id=second.id, email="L.Ramanathan@apollo.example")
        )
    assert (await doctors.stored()) == {first.id: first, second.id: second}
    assert doctors.world.audit("mso_doctor.update") == []


# --- property tests -------------------------------------------------------------------------


_ATOM_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-"
atoms = st.text(alphabet=_ATOM_CHARS, min_size=1, max_size=10)
labels = st.from_regex(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?", fullmatch=True)
tlds = st.from_regex(r"[a-zA-Z]{2,6}", fullmatch=True)


@st.composite
def addresses(draw: st.DrawFn) -> str:
    """RFC 5322 dot-atom addresses at a DNS domain (the syntax ADR 0052 accepts)."""
    local = ".".join(draw(st.lists(atoms, min_size=1, max_size=3)))
    domain = ".".join([*draw(st.lists(labels, min_size=1, max_size=3)), draw(tlds)])
    return f"{local[:64].strip('.') or 'x'}@{domain}"


def email_of(value: str) -> tuple[str | None, list[str]]:
    checks = FieldChecks()
    result = check_email(checks, value)
    return result, [e.field for e in checks.errors]


@given(address=addresses(), pad=st.sampled_from(["", " ", "  "]))
def test_an_address_people_type_is_accepted_trimmed_and_lower_cased(address: str, pad: str) -> None:
    result, errors = email_of(f"{pad}{address}{pad}")
    assert errors == []
    assert result == address.lower()
    assert email_of(result)[0] == result  # idempotent


@given(
    address=addresses(),
    position=st.integers(min_value=0, max_value=200),
    bad=st.sampled_from([" ", "\t", "\x00", "\n", "@", "(", ",", ";", "<", "\u00e9"]),
)
def test_an_address_with_a_character_out_of_place_is_refused(
    address: str, position: int, bad: str
) -> None:
    local, _, domain = address.partition("@")
    spot = position % (len(local) + 1)
    # Never first: leading white space is trimmed away before the address is read.
    broken = f"x{local[:spot]}{bad}{local[spot:]}@{domain}"
    assert email_of(broken) == (None, ["email"])


@given(
    given_codes=st.lists(st.sampled_from(REAL_LANGUAGES + NOT_LANGUAGES), min_size=1, max_size=6)
)
def test_languages_are_accepted_iff_every_code_is_iso_639_1(given_codes: list[str]) -> None:
    checks = FieldChecks()
    result = check_languages(checks, given_codes)
    if all(code in REAL_LANGUAGES for code in given_codes):
        assert checks.errors == []
        assert result == tuple(dict.fromkeys(given_codes))  # distinct, in the order given
    else:
        assert result is None
        bad = {f"languages.{i}" for i, code in enumerate(given_codes) if code not in REAL_LANGUAGES}
        assert {e.field for e in checks.errors} == bad


@given(fee=st.one_of(st.integers(min_value=-(10**15), max_value=10**15), st.booleans()))
def test_a_fee_is_a_whole_number_from_zero_to_a_trillion_minor_units(fee: int) -> None:
    checks = FieldChecks()
    result = check_fee(checks, fee)
    ok = not isinstance(fee, bool) and 0 <= fee <= 1_000_000_000_000
    assert (result == fee) if ok else (result is None)
    assert len(checks.errors) == (0 if ok else 1)


@given(day=st.dates(), moment=st.datetimes())
def test_a_day_is_a_date_or_its_iso_text_never_a_date_time(day: date, moment: datetime) -> None:
    for value in (day, day.isoformat()):
        checks = FieldChecks()
        assert check_day(checks, value, field="available_from") == day
        assert checks.errors == []
    for value in (moment, moment.isoformat()):
        checks = FieldChecks()
        assert check_day(checks, value, field="available_from") is None
        assert [e.field for e in checks.errors] == ["available_from"]


#: The tz database's names of places: not the host's own zone, nor the unconfigured one.
ZONES = sorted(zoneinfo.available_timezones() - {"localtime", "Factory"})


@settings(max_examples=200)
@given(zone=st.sampled_from(ZONES), junk=st.text(max_size=40))
def test_a_time_zone_is_an_iana_name(zone: str, junk: str) -> None:
    checks = FieldChecks()
    assert check_timezone(checks, zone) == zone
    junk_ok = junk.strip() in ZONES and junk.strip() == junk
    checks = FieldChecks()
    assert (check_timezone(checks, junk) == junk) is junk_ok
    for not_a_place in ("localtime", "Factory"):
        checks = FieldChecks()
        assert check_timezone(checks, not_a_place) is None


roster = st.lists(
    st.tuples(st.booleans(), st.integers(min_value=-30, max_value=30)), min_size=0, max_size=8
)


@settings(max_examples=60, deadline=None)
@given(team=roster, offset=st.integers(min_value=-35, max_value=35))
async def test_available_from_keeps_exactly_the_active_doctors_available_that_day(
    team: list[tuple[bool, int]], offset: int
) -> None:
    """SPEC §6.5: `available_from=D` lists the doctors with `available_from <= D` and active."""
    world = World()
    await world.add_tenant(APOLLO)
    d = Doctors(world)
    expected = []
    for n, (active, days) in enumerate(team):
        doctor = await d.add(
            email=f"d{n}@apollo.example",
            full_name=f"Dr. {n:02d}",
            active=active,
            available_from=DAY + timedelta(days=days),
        )
        if active and doctor.available_from <= DAY + timedelta(days=offset):
            expected.append(doctor.id)
    page = await d.list.execute(
        SUPER, ListMsoDoctorsQuery(available_from=DAY + timedelta(days=offset))
    )
    assert [doc.id for doc in page.items] == expected
    assert page.total == len(expected)


UPDATES: dict[str, Any] = {
    "full_name": "Dr. L. Ramanathan",
    "email": "lakshmi@apollo.example",
    "specialty": "cardiology",  # the same as now: never in before/after
    "languages": ["ta"],
    "countries": ["IN", "LK"],
    "license_number": "TNMC-48211-B",
    "consultation_fee_minor": 1,
    "currency": "USD",
    "available_from": date(2026, 5, 1),
    "timezone": "Asia/Colombo",
    "active": False,
    "clerk_user_id": "user_2new",
}


@settings(max_examples=60, deadline=None)
@given(chosen=st.sets(st.sampled_from(sorted(UPDATES))))
async def test_a_partial_update_changes_exactly_the_fields_given(chosen: set[str]) -> None:
    world = World()
    await world.add_tenant(APOLLO)
    d = Doctors(world)
    doctor = await d.add()
    world.clock.advance(timedelta(minutes=5))
    given_values = {name: UPDATES[name] for name in chosen}
    update = await d.update.execute(
        SUPER, UpdateMsoDoctorCommand(doctor_id=doctor.id, **given_values)
    )
    updated = update.doctor
    stored = {
        name: tuple(value) if isinstance(value, list) else value
        for name, value in given_values.items()
    }
    changed = {name for name, value in stored.items() if getattr(doctor, name) != value}
    for field in fields(MsoDoctor):
        name = field.name
        if name == "updated_at":
            continue
        want = stored[name] if name in changed else getattr(doctor, name)
        assert getattr(updated, name) == want, name
    entries = world.audit("mso_doctor.update")
    assert update.changed == bool(changed)
    if not changed:
        assert updated == doctor
        assert entries == []
        return
    assert updated.updated_at == T0 + timedelta(minutes=5)
    [entry] = entries
    assert entry.before is not None
    assert entry.after is not None
    assert set(entry.before) == set(entry.after) == changed


async def test_listing_the_doctors_of_a_tenant_that_does_not_exist_is_tenant_not_found(
    doctors: Doctors,
) -> None:
    await doctors.add()
    listing = ListMsoDoctors(
        doctors.world.transactions, tenants=KnownTenants(doctors.world.transactions)
    )
    with pytest.raises(TenantNotFound):
        await listing.execute(SUPER, ListMsoDoctorsQuery(tenant_id="nowhere"))
    page = await listing.execute(SUPER, ListMsoDoctorsQuery(tenant_id=BUMRUNGRAD))
    assert (page.items, page.total) == ([], 0)


REQUIRED = (
    "full_name",
    "email",
    "specialty",
    "languages",
    "countries",
    "license_number",
    "consultation_fee_minor",
    "currency",
    "available_from",
    "timezone",
)


async def test_every_required_field_left_out_of_an_onboarding_is_named(doctors: Doctors) -> None:
    """An embedder or a JSON file may give null for a field: each is named, nothing stored."""
    command = onboard_command(**dict.fromkeys(REQUIRED))
    with pytest.raises(ValidationFailed) as refused:
        await doctors.onboard.execute(SUPER, command)
    assert fields_of(refused.value.errors) == sorted(REQUIRED)
    assert all("required" in e.message or "whole number" in e.message for e in refused.value.errors)
    assert (await doctors.stored()) == {}
