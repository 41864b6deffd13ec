"""Second-opinion doctor routes (SPEC §6.5) through the real app on the in-memory adapters,
seeded with the demo data set (eight doctors in four tenants). The rules themselves are
tested on the use cases (`test_mso_doctor_use_cases.py`); these tests prove the mapping: the
wire shapes, the status codes, the auth guard and tenant scoping, the audit entries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from admin_core.mso_doctors.model import MsoDoctor
from tests.support.admin_api import audit, errors, mark_audit_baseline
from tests.support.http import ApiClient, api

DOCTORS = "/api/v1/admin/mso/doctors"
APOLLO, BUMRUNGRAD = "apollo-chennai", "bumrungrad-bangkok"
APOLLO_ORG = "org_apollo_chennai"
ELIF = "dr.yilmaz@acibadem.example"  # Acibadem's oncologist, linked to her Clerk user
LAKSHMI = "l.ramanathan@apollo.example"  # Apollo's cardiologist
FIELDS = [
    "id",
    "tenant_id",
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
    "active",
    "clerk_user_id",
    "created_at",
    "updated_at",
]

NEW_DOCTOR: dict[str, Any] = {
    "tenant_id": APOLLO,
    "full_name": "Dr. Kavitha Rajan",
    "email": "K.Rajan@Apollo.example",
    "specialty": "nephrology",
    "languages": ["en", "ta", "te"],
    "countries": ["IN", "LK"],
    "license_number": "TNMC-60321",
    "consultation_fee_minor": 275_000,
    "currency": "INR",
    "available_from": "2026-05-04",
    "timezone": "Asia/Kolkata",
}


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[ApiClient]:
    async with api(tmp_path) as client:
        mark_audit_baseline(client)
        yield client


def apollo_admin(http: ApiClient) -> dict[str, str]:
    return http.auth("org:admin", APOLLO_ORG, user="user_apollo_admin")


def demo_doctor(http: ApiClient, email: str) -> MsoDoctor:
    store = http.container.database.store()
    return next(d for d in store.mso_doctors.values() if d.email == email)


async def listed(http: ApiClient, headers: dict[str, str] | None = None, **params: Any) -> Any:
    response = await http.client.get(DOCTORS, params=params, headers=headers or http.auth())
    assert response.status_code == 200, response.text
    return response.json()


def names(body: Any) -> list[str]:
    return [d["full_name"] for d in body["data"]["doctors"]]


# --- GET /mso/doctors -------------------------------------------------------------------------


async def test_the_list_holds_the_demo_doctors_by_name_with_pagination(http: ApiClient) -> None:
    body = await listed(http)
    data, meta = body["data"], body["meta"]
    assert (data["total"], data["limit"], data["offset"]) == (8, 50, 0)
    assert (meta["total"], meta["limit"], meta["offset"]) == (8, 50, 0)
    assert names(body) == sorted(names(body))
    assert list(data["doctors"][0]) == FIELDS
    page = await listed(http, limit=3, offset=3)
    assert names(page) == names(body)[3:6]
    assert page["meta"]["total"] == 8


async def test_a_doctor_on_the_wire(http: ApiClient) -> None:
    body = await listed(http, tenant_id="acibadem-istanbul", specialty="oncology")
    [doctor] = body["data"]["doctors"]
    stored = demo_doctor(http, ELIF)
    assert doctor == {
        "id": stored.id,
        "tenant_id": "acibadem-istanbul",
        "full_name": "Dr. Elif Yılmaz",
        "email": ELIF,
        "specialty": "oncology",
        "languages": ["tr", "en", "de"],
        "countries": ["TR"],
        "license_number": "TTB-118204",
        "consultation_fee_minor": 20_000,
        "currency": "EUR",
        "available_from": stored.available_from.isoformat(),
        "timezone": "Europe/Istanbul",
        "active": True,
        "clerk_user_id": "user_acibadem_doctor",
        "created_at": stored.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": stored.updated_at.isoformat().replace("+00:00", "Z"),
    }


async def test_the_list_filters_by_specialty_language_and_tenant(http: ApiClient) -> None:
    assert names(await listed(http, specialty="cardiology")) == [
        "Dr. Lakshmi Ramanathan",
        "Dr. Niran Chaiyaporn",
    ]
    assert names(await listed(http, language="ta")) == [
        "Dr. Arvind Subramaniam",
        "Dr. Lakshmi Ramanathan",
    ]
    thai = await listed(http, language="th", tenant_id=BUMRUNGRAD)
    assert names(thai) == ["Dr. Niran Chaiyaporn", "Dr. Siriporn Thanakit"]
    assert (await listed(http, language="fr"))["data"]["total"] == 0


async def test_available_from_lists_the_active_doctors_available_that_day(
    http: ApiClient,
) -> None:
    """The demo has Meera (Apollo) inactive and Siriporn (Bumrungrad) starting in 21 days."""
    today = datetime.now(UTC).date()
    now = await listed(http, available_from=today.isoformat())
    assert now["data"]["total"] == 6
    assert "Dr. Meera Krishnan" not in names(now)
    assert "Dr. Siriporn Thanakit" not in names(now)
    later = await listed(http, available_from=(today + timedelta(days=30)).isoformat())
    assert "Dr. Siriporn Thanakit" in names(later)
    assert "Dr. Meera Krishnan" not in names(later)


async def test_a_tenant_admin_lists_only_its_own_doctors(http: ApiClient) -> None:
    own = await listed(http, headers=apollo_admin(http))
    assert {d["tenant_id"] for d in own["data"]["doctors"]} == {APOLLO}
    assert own["data"]["total"] == 3
    named = await listed(http, headers=apollo_admin(http), tenant_id=APOLLO)
    assert named["data"] == own["data"]
    other = await http.client.get(
        DOCTORS, params={"tenant_id": BUMRUNGRAD}, headers=apollo_admin(http)
    )
    assert (other.status_code, errors(other)) == (403, [("AUTH_INSUFFICIENT_PERMISSION", None)])


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"limit": 0}, ["limit"]),
        ({"limit": 201}, ["limit"]),
        ({"offset": -1}, ["offset"]),
        ({"language": "xx"}, ["language"]),
        ({"language": "EN"}, ["language"]),
        ({"available_from": "2026-02-30"}, ["available_from"]),
        ({"available_from": "yesterday"}, ["available_from"]),
        ({"tenant_id": "Not A Tenant"}, ["tenant_id"]),
        ({"specialty": "x" * 101}, ["specialty"]),
        ({"speciality": "cardiology"}, ["speciality"]),  # a typo is not silently ignored
    ],
)
async def test_bad_list_filters_are_422_naming_them(
    http: ApiClient, params: dict[str, Any], fields: list[str]
) -> None:
    response = await http.client.get(DOCTORS, params=params, headers=http.auth())
    assert response.status_code == 422, response.text
    assert sorted(f for _, f in errors(response)) == fields
    assert {c for c, _ in errors(response)} == {"VALIDATION_ERROR"}


# --- POST /mso/doctors ------------------------------------------------------------------------


async def test_onboarding_a_doctor_is_201_and_audited(http: ApiClient) -> None:
    response = await http.client.post(DOCTORS, json=NEW_DOCTOR, headers=http.auth())
    assert response.status_code == 201, response.text
    doctor = response.json()["data"]
    assert list(doctor) == FIELDS
    assert doctor["id"].startswith("msd_")
    assert doctor["email"] == "k.rajan@apollo.example"
    assert (doctor["active"], doctor["clerk_user_id"]) == (True, None)
    assert doctor["created_at"] == doctor["updated_at"]
    expected = {k: v for k, v in NEW_DOCTOR.items() if k != "email"}
    assert {k: doctor[k] for k in expected} == expected
    [entry] = audit(http, "mso_doctor.onboard")
    assert (entry.tenant_id, entry.resource_type, entry.resource_id) == (
        APOLLO,
        "mso_doctor",
        doctor["id"],
    )
    assert entry.actor_id == "user_test"
    assert entry.before is None
    assert entry.after is not None
    assert entry.after == {k: v for k, v in doctor.items() if k not in ("created_at", "updated_at")}
    assert (await listed(http, specialty="nephrology"))["data"]["doctors"] == [doctor]


async def test_a_tenant_admin_onboards_into_its_own_tenant_only(http: ApiClient) -> None:
    own = await http.client.post(DOCTORS, json=NEW_DOCTOR, headers=apollo_admin(http))
    assert own.status_code == 201, own.text
    other = await http.client.post(
        DOCTORS,
        json={**NEW_DOCTOR, "tenant_id": BUMRUNGRAD, "email": "x@bumrungrad.example"},
        headers=apollo_admin(http),
    )
    assert (other.status_code, errors(other)) == (403, [("AUTH_INSUFFICIENT_PERMISSION", None)])
    assert [e.tenant_id for e in audit(http, "mso_doctor.onboard")] == [APOLLO]


async def test_onboarding_into_an_unknown_tenant_is_404(http: ApiClient) -> None:
    response = await http.client.post(
        DOCTORS, json={**NEW_DOCTOR, "tenant_id": "nowhere-clinic"}, headers=http.auth()
    )
    assert (response.status_code, errors(response)) == (404, [("TENANT_NOT_FOUND", None)])
    assert audit(http) == []


async def test_a_taken_email_of_the_tenant_is_409_whatever_its_case(http: ApiClient) -> None:
    response = await http.client.post(
        DOCTORS, json={**NEW_DOCTOR, "email": LAKSHMI.upper()}, headers=http.auth()
    )
    assert (response.status_code, errors(response)) == (
        409,
        [("MSO_DOCTOR_ALREADY_EXISTS", "email")],
    )
    assert audit(http) == []
    elsewhere = await http.client.post(
        DOCTORS,
        json={**NEW_DOCTOR, "tenant_id": BUMRUNGRAD, "email": LAKSHMI, "currency": "THB"},
        headers=http.auth(),
    )
    assert elsewhere.status_code == 201, elsewhere.text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"full_name": ""}, "full_name"),
        ({"full_name": "   "}, "full_name"),
        ({"full_name": "x" * 10_240}, "full_name"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"specialty": "\u0000"}, "specialty"),
        ({"languages": []}, "languages"),
        ({"languages": ["xx"]}, "languages.0"),
        ({"languages": "en"}, "languages"),
        ({"countries": ["IN", "XX"]}, "countries.1"),
        ({"license_number": ""}, "license_number"),
        ({"consultation_fee_minor": -1}, "consultation_fee_minor"),
        ({"consultation_fee_minor": 10**12 + 1}, "consultation_fee_minor"),
        ({"consultation_fee_minor": 12.5}, "consultation_fee_minor"),
        ({"consultation_fee_minor": True}, "consultation_fee_minor"),
        ({"currency": "ABC"}, "currency"),
        ({"available_from": "2026-02-30"}, "available_from"),
        ({"available_from": "01/03/2026"}, "available_from"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"active": "yes"}, "active"),
        ({"clerk_user_id": "not a user"}, "clerk_user_id"),
        ({"tenant_id": "Not A Tenant"}, "tenant_id"),
        ({"id": "msd_mine"}, "id"),
        ({"created_at": "2026-01-01T00:00:00Z"}, "created_at"),
    ],
)
async def test_bad_onboarding_bodies_are_422_naming_the_field(
    http: ApiClient, change: dict[str, Any], field: str
) -> None:
    response = await http.client.post(DOCTORS, json={**NEW_DOCTOR, **change}, headers=http.auth())
    assert response.status_code == 422, response.text
    assert ("VALIDATION_ERROR", field) in errors(response)
    assert audit(http) == []


@pytest.mark.parametrize("missing", ["tenant_id", "email", "languages", "available_from"])
async def test_a_missing_required_field_is_422_naming_it(http: ApiClient, missing: str) -> None:
    body = {k: v for k, v in NEW_DOCTOR.items() if k != missing}
    response = await http.client.post(DOCTORS, json=body, headers=http.auth())
    assert (response.status_code, errors(response)) == (422, [("VALIDATION_ERROR", missing)])


async def test_a_bad_email_is_named_beside_the_other_bad_fields(http: ApiClient) -> None:
    bad = {"email": "not-an-email", "currency": "ABC", "languages": ["xx"]}
    onboard = await http.client.post(DOCTORS, json={**NEW_DOCTOR, **bad}, headers=http.auth())
    lakshmi = demo_doctor(http, LAKSHMI)
    update = await http.client.patch(f"{DOCTORS}/{lakshmi.id}", json=bad, headers=http.auth())

    for response in (onboard, update):
        assert response.status_code == 422, response.text
        assert sorted(errors(response)) == [
            ("VALIDATION_ERROR", "currency"),
            ("VALIDATION_ERROR", "email"),
            ("VALIDATION_ERROR", "languages.0"),
        ]
    assert audit(http) == []


# --- PATCH /mso/doctors/{id} ------------------------------------------------------------------


async def test_an_update_changes_the_fields_given_and_is_audited(http: ApiClient) -> None:
    lakshmi = demo_doctor(http, LAKSHMI)
    response = await http.client.patch(
        f"{DOCTORS}/{lakshmi.id}",
        json={"consultation_fee_minor": 320_000, "languages": ["en", "ta"], "active": False},
        headers=apollo_admin(http),
    )
    assert response.status_code == 200, response.text
    doctor = response.json()["data"]
    assert list(doctor) == FIELDS
    assert (doctor["consultation_fee_minor"], doctor["languages"], doctor["active"]) == (
        320_000,
        ["en", "ta"],
        False,
    )
    assert (doctor["full_name"], doctor["specialty"]) == (lakshmi.full_name, lakshmi.specialty)
    assert doctor["updated_at"] > doctor["created_at"]
    [entry] = audit(http, "mso_doctor.update")
    assert (entry.tenant_id, entry.resource_id, entry.actor_id) == (
        APOLLO,
        lakshmi.id,
        "user_apollo_admin",
    )
    assert entry.before == {
        "languages": ["en", "ta", "hi"],
        "consultation_fee_minor": 300_000,
        "active": True,
    }
    assert entry.after == {
        "languages": ["en", "ta"],
        "consultation_fee_minor": 320_000,
        "active": False,
    }


async def test_an_update_that_changes_nothing_is_200_and_writes_nothing(http: ApiClient) -> None:
    lakshmi = demo_doctor(http, LAKSHMI)
    for body in ({}, {"email": LAKSHMI.upper(), "specialty": "cardiology"}):
        response = await http.client.patch(
            f"{DOCTORS}/{lakshmi.id}", json=body, headers=http.auth()
        )
        assert response.status_code == 200, response.text
        assert response.json()["data"]["updated_at"] == lakshmi.updated_at.isoformat().replace(
            "+00:00", "Z"
        )
    assert audit(http) == []


async def test_null_clerk_user_id_unlinks_the_user(http: ApiClient) -> None:
    elif_ = demo_doctor(http, ELIF)
    response = await http.client.patch(
        f"{DOCTORS}/{elif_.id}", json={"clerk_user_id": None}, headers=http.auth()
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["clerk_user_id"] is None
    [entry] = audit(http, "mso_doctor.update")
    assert (entry.before, entry.after) == (
        {"clerk_user_id": "user_acibadem_doctor"},
        {"clerk_user_id": None},
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"specialty": None}, "specialty"),
        ({"active": None}, "active"),
        ({"tenant_id": APOLLO}, "tenant_id"),
        ({"id": "msd_other"}, "id"),
        ({"languages": []}, "languages"),
        ({"email": "nope"}, "email"),
        ({"timezone": "Asia/Nowhere"}, "timezone"),
    ],
)
async def test_bad_update_bodies_are_422(http: ApiClient, body: dict[str, Any], field: str) -> None:
    lakshmi = demo_doctor(http, LAKSHMI)
    response = await http.client.patch(f"{DOCTORS}/{lakshmi.id}", json=body, headers=http.auth())
    assert response.status_code == 422, response.text
    assert ("VALIDATION_ERROR", field) in errors(response)
    assert audit(http) == []


async def test_updating_an_unknown_doctor_is_404(http: ApiClient) -> None:
    response = await http.client.patch(
        f"{DOCTORS}/msd_missing", json={"active": False}, headers=http.auth()
    )
    assert (response.status_code, errors(response)) == (404, [("MSO_DOCTOR_NOT_FOUND", None)])


async def test_another_tenants_doctor_answers_as_an_unknown_one_and_is_unchanged(
    http: ApiClient,
) -> None:
    elif_ = demo_doctor(http, ELIF)
    other = await http.client.patch(
        f"{DOCTORS}/{elif_.id}", json={"active": False}, headers=apollo_admin(http)
    )
    unknown = await http.client.patch(
        f"{DOCTORS}/msd_missing", json={"active": False}, headers=apollo_admin(http)
    )
    assert (other.status_code, unknown.status_code) == (404, 404)
    # Neither the doctor's tenant nor that the id exists elsewhere: the unknown id's answer.
    assert other.json()["errors"] == [
        {**unknown.json()["errors"][0], "details": {"doctor_id": elif_.id}}
    ]
    assert elif_.tenant_id not in other.text
    assert demo_doctor(http, ELIF) == elif_
    assert audit(http) == []


async def test_a_new_email_taken_in_the_tenant_is_409(http: ApiClient) -> None:
    arvind = demo_doctor(http, "a.subramaniam@apollo.example")
    response = await http.client.patch(
        f"{DOCTORS}/{arvind.id}", json={"email": LAKSHMI}, headers=http.auth()
    )
    assert (response.status_code, errors(response)) == (
        409,
        [("MSO_DOCTOR_ALREADY_EXISTS", "email")],
    )
    assert demo_doctor(http, "a.subramaniam@apollo.example") == arvind


# --- who may call them --------------------------------------------------------------------------


def _requests(http: ApiClient) -> list[tuple[str, str, Any]]:
    lakshmi = demo_doctor(http, LAKSHMI)
    return [
        ("GET", DOCTORS, None),
        ("POST", DOCTORS, NEW_DOCTOR),
        ("PATCH", f"{DOCTORS}/{lakshmi.id}", {"active": False}),
    ]


@pytest.mark.parametrize(
    ("role", "org", "status", "code"),
    [
        (None, None, 401, "AUTH_HEADER_MISSING"),
        ("org:coordinator", "org_platform", 403, "AUTH_INSUFFICIENT_PERMISSION"),
        ("org:provider:staff", APOLLO_ORG, 403, "AUTH_INSUFFICIENT_PERMISSION"),
        ("org:mso:doctor", "org_acibadem", 403, "AUTH_INSUFFICIENT_PERMISSION"),
    ],
)
async def test_callers_without_tenant_manage_are_refused(
    http: ApiClient, role: str | None, org: str | None, status: int, code: str
) -> None:
    headers = http.auth(role, org) if role else {}
    for method, path, body in _requests(http):
        kwargs = {"json": body} if body is not None else {}
        response = await http.client.request(method, path, headers=headers, **kwargs)
        assert (response.status_code, errors(response)) == (status, [(code, None)]), method
    assert audit(http) == []


# --- the admin OpenAPI document -----------------------------------------------------------------


async def test_the_document_states_the_bodies_and_the_errors(http: ApiClient) -> None:
    document = (await http.client.get("/api/v1/admin/schema/openapi.json")).json()
    operations = document["paths"][DOCTORS]
    patch = document["paths"][f"{DOCTORS}/{{doctor_id}}"]["patch"]
    assert operations["get"]["operationId"] == "listMsoDoctors"
    assert {"201", "404", "409", "422"} <= set(operations["post"]["responses"])
    assert "200" not in operations["post"]["responses"]
    assert {"200", "404", "409", "422"} <= set(patch["responses"])
    schemas = document["components"]["schemas"]
    for name in ("OnboardDoctorIn", "UpdateDoctorIn"):
        assert schemas[name]["additionalProperties"] is False
    onboard = schemas["OnboardDoctorIn"]
    assert set(onboard["required"]) == set(NEW_DOCTOR)
    properties = onboard["properties"]
    assert "te" in properties["languages"]["items"]["enum"]
    assert "LK" in properties["countries"]["items"]["enum"]
    assert properties["available_from"]["format"] == "date"
    assert properties["consultation_fee_minor"]["maximum"] == 10**12
    assert properties["email"]["format"] == "email"
    assert not schemas["UpdateDoctorIn"].get("required")  # every field optional
    parameters = {p["name"] for p in operations["get"]["parameters"]}
    assert {"tenant_id", "specialty", "language", "available_from", "limit", "offset"} <= parameters
