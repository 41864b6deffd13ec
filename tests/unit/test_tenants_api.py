"""Tenant and provider routes (SPEC §6.8) through the real app on the in-memory adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from admin_core.directory.model import Provider
from tests.support.admin_api import audit, errors, mark_audit_baseline
from tests.support.http import ApiClient, api

TENANTS = "/api/v1/admin/tenants"
PROVIDERS = "/api/v1/admin/providers"
APOLLO_ORG = "org_apollo_chennai"


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[ApiClient]:
    async with api(tmp_path) as client:
        mark_audit_baseline(client)
        yield client


async def add_provider(http: ApiClient, provider_id: str = "prv_pending") -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    async with http.container.database.transactions()() as tx:
        await tx.providers.add(
            Provider(
                id=provider_id,
                name="Pending Clinic",
                country="AE",
                city="Dubai",
                created_at=now,
                updated_at=now,
            )
        )
        await tx.commit()


# --- POST /tenants (legacy two-step) -----------------------------------------------------------


async def test_create_tenant_for_an_existing_provider(http: ApiClient) -> None:
    await add_provider(http)
    body = {
        "provider_id": "prv_pending",
        "tenant_id": "pending-clinic",
        "clerk_org_id": "org_pending",
        "settings": {"default_currency": "AED", "timezone": "Asia/Dubai"},
    }
    response = await http.client.post(TENANTS, json=body, headers=http.auth())
    assert response.status_code == 201
    tenant = response.json()["data"]
    assert (tenant["id"], tenant["name"], tenant["status"]) == (
        "pending-clinic",
        "Pending Clinic",
        "active",
    )
    assert tenant["provider_id"] == "prv_pending"
    assert tenant["clerk_org_id"] == "org_pending"
    assert tenant["settings"]["default_currency"] == "AED"
    [entry] = audit(http, "tenant.create")
    assert (entry.tenant_id, entry.resource_id, entry.before) == (
        "pending-clinic",
        "pending-clinic",
        None,
    )
    assert entry.after is not None
    assert entry.after["clerk_org_id"] == "org_pending"
    listed = await http.client.get(
        TENANTS, params={"tenant_id": "pending-clinic"}, headers=http.auth()
    )
    assert listed.json()["data"]["total"] == 1


async def test_tenant_id_and_name_default_from_the_provider(http: ApiClient) -> None:
    await add_provider(http)
    response = await http.client.post(
        TENANTS, json={"provider_id": "prv_pending"}, headers=http.auth()
    )
    assert response.status_code == 201
    assert response.json()["data"]["id"] == "pending-clinic"


async def test_a_new_org_mapping_is_honoured_at_once(http: ApiClient) -> None:
    """The org → tenant cache of this replica forgets the org when it is mapped."""
    await add_provider(http)
    staff = http.auth("org:admin", "org_pending", user="user_pending_admin")
    before = await http.client.get(TENANTS, headers=staff)
    assert before.status_code == 403  # the org maps to no tenant yet (and that is cached)
    created = await http.client.post(
        TENANTS,
        json={"provider_id": "prv_pending", "clerk_org_id": "org_pending"},
        headers=http.auth(),
    )
    assert created.status_code == 201
    after = await http.client.get(TENANTS, headers=staff)
    assert after.status_code == 200
    assert [t["id"] for t in after.json()["data"]["tenants"]] == ["pending-clinic"]


async def test_unknown_provider_is_404(http: ApiClient) -> None:
    response = await http.client.post(
        TENANTS, json={"provider_id": "prv_missing"}, headers=http.auth()
    )
    assert (response.status_code, errors(response)) == (404, [("PROVIDER_NOT_FOUND", None)])
    assert audit(http) == []


async def test_a_provider_has_at_most_one_tenant(http: ApiClient) -> None:
    response = await http.client.post(
        TENANTS,
        json={"provider_id": "prv_apollo_chennai", "tenant_id": "apollo-two"},
        headers=http.auth(),
    )
    assert (response.status_code, errors(response)) == (409, [("TENANT_ALREADY_EXISTS", None)])


async def test_a_taken_tenant_id_is_409(http: ApiClient) -> None:
    await add_provider(http)
    response = await http.client.post(
        TENANTS,
        json={"provider_id": "prv_pending", "tenant_id": "apollo-chennai"},
        headers=http.auth(),
    )
    assert (response.status_code, errors(response)) == (409, [("TENANT_ALREADY_EXISTS", None)])
    assert audit(http) == []


async def test_an_org_of_another_tenant_is_409(http: ApiClient) -> None:
    await add_provider(http)
    response = await http.client.post(
        TENANTS,
        json={"provider_id": "prv_pending", "clerk_org_id": APOLLO_ORG},
        headers=http.auth(),
    )
    assert errors(response) == [("TENANT_ALREADY_EXISTS", "clerk_org_id")]
    assert response.status_code == 409
    async with http.container.database.transactions()() as tx:
        assert await tx.tenants.get_by_provider("prv_pending") is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tenant_id": "platform"}, "tenant_id"),
        ({"tenant_id": "Not An Id!"}, "tenant_id"),
        ({"clerk_org_id": "org_platform"}, "clerk_org_id"),
        ({"clerk_org_id": "not-an-org"}, "clerk_org_id"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 10_240}, "name"),
        ({"settings": {"default_currency": "ABC"}}, "settings.default_currency"),
        ({"settings": {"timezone": "Mars/Olympus_Mons"}}, "settings.timezone"),
        ({"settings": {"payments_provider": "paypal"}}, "settings.payments_provider"),
        ({"settings": {"data_residency_region": "EU CENTRAL"}}, "settings.data_residency_region"),
        ({"settings": {"colour": "blue"}}, "settings.colour"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
async def test_bad_create_tenant_bodies_are_422_naming_the_field(
    http: ApiClient, body: dict[str, Any], field: str
) -> None:
    await add_provider(http)
    response = await http.client.post(
        TENANTS, json={"provider_id": "prv_pending", **body}, headers=http.auth()
    )
    assert response.status_code == 422
    assert ("VALIDATION_ERROR", field) in errors(response)
    assert audit(http) == []


async def test_malformed_json_is_400_bad_request(http: ApiClient) -> None:
    response = await http.client.post(
        TENANTS,
        content=b'{"provider_id": ',
        headers={**http.auth(), "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert errors(response) == [("BAD_REQUEST", None)]


# --- POST /providers ---------------------------------------------------------------------------


PROVIDER = {
    "name": "Fortis Hospital Mohali",
    "country": "IN",
    "city": "Mohali",
    "specialties": ["cardiology", "orthopaedics"],
    "languages": ["en", "hi", "pa"],
    "accreditations": ["NABH", "JCI"],
}


async def test_create_provider_and_tenant_in_one_step(http: ApiClient) -> None:
    body = {
        "provider": PROVIDER,
        "tenant": {"id": "fortis-mohali", "settings": {"payments_provider": "razorpay"}},
        "clerk_org_id": "org_fortis",
    }
    response = await http.client.post(PROVIDERS, json=body, headers=http.auth())
    assert response.status_code == 201
    data = response.json()["data"]
    provider, tenant = data["provider"], data["tenant"]
    assert provider["id"].startswith("prv_")
    assert provider["accreditations"] == ["JCI", "NABH"]
    assert provider["languages"] == ["en", "hi", "pa"]
    assert (tenant["id"], tenant["name"], tenant["provider_id"]) == (
        "fortis-mohali",
        "Fortis Hospital Mohali",
        provider["id"],
    )
    assert tenant["clerk_org_id"] == "org_fortis"
    assert [e.action for e in audit(http)] == ["provider.create", "tenant.create"]
    async with http.container.database.transactions()() as tx:
        stored = await tx.providers.get(provider["id"])
        assert stored is not None
        assert stored.specialties == ("cardiology", "orthopaedics")


async def test_a_failed_provider_create_leaves_no_provider(http: ApiClient) -> None:
    store = http.container.database.store()
    providers_before = set(store.providers)
    response = await http.client.post(
        PROVIDERS,
        json={"provider": PROVIDER, "tenant": {"id": "apollo-chennai"}},
        headers=http.auth(),
    )
    assert (response.status_code, errors(response)) == (409, [("TENANT_ALREADY_EXISTS", None)])
    assert set(store.providers) == providers_before
    assert audit(http) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": {**PROVIDER, "name": ""}}, "provider.name"),
        ({"provider": {**PROVIDER, "name": "x" * 10_240}}, "provider.name"),
        ({"provider": {**PROVIDER, "country": "XX"}}, "provider.country"),
        ({"provider": {**PROVIDER, "languages": ["english"]}}, "provider.languages.0"),
        ({"provider": {**PROVIDER, "languages": ["qq"]}}, "provider.languages.0"),
        ({"provider": {**PROVIDER, "specialties": ["x"] * 51}}, "provider.specialties"),
        ({"provider": {**PROVIDER, "beds": 300}}, "provider.beds"),
        (
            {"provider": PROVIDER, "tenant": {"settings": {"default_currency": "EURO"}}},
            "tenant.settings.default_currency",
        ),
        (
            {"provider": PROVIDER, "tenant": {"settings": {"timezone": "Europe/Atlantis"}}},
            "tenant.settings.timezone",
        ),
        ({"provider": PROVIDER, "tenant": {"name": ""}}, "tenant.name"),
        ({"provider": PROVIDER, "tenant": {"id": "platform"}}, "tenant.id"),
        ({"provider": PROVIDER, "extra": True}, "extra"),
        ({}, "provider"),
    ],
)
async def test_bad_create_provider_bodies_are_422_naming_the_field(
    http: ApiClient, body: dict[str, Any], field: str
) -> None:
    providers_before = set(http.container.database.store().providers)
    response = await http.client.post(PROVIDERS, json=body, headers=http.auth())
    assert response.status_code == 422
    assert ("VALIDATION_ERROR", field) in errors(response)
    assert set(http.container.database.store().providers) == providers_before


async def test_a_reserved_tenant_id_is_named_beside_the_other_bad_fields(
    http: ApiClient,
) -> None:
    await add_provider(http)
    settings = {"timezone": "Mars/Olympus_Mons"}
    legacy = await http.client.post(
        TENANTS,
        json={"provider_id": "prv_pending", "tenant_id": "platform", "settings": settings},
        headers=http.auth(),
    )
    one_step = await http.client.post(
        PROVIDERS,
        json={"provider": {**PROVIDER, "country": "XX"}, "tenant": {"id": "platform"}},
        headers=http.auth(),
    )

    assert legacy.status_code == 422, legacy.text
    assert sorted(errors(legacy)) == [
        ("VALIDATION_ERROR", "settings.timezone"),
        ("VALIDATION_ERROR", "tenant_id"),
    ]
    assert one_step.status_code == 422, one_step.text
    assert sorted(errors(one_step)) == [
        ("VALIDATION_ERROR", "provider.country"),
        ("VALIDATION_ERROR", "tenant.id"),
    ]
    assert audit(http) == []


# --- PATCH /tenants/{tenant_id} ----------------------------------------------------------------


async def test_update_merges_settings_and_records_before_and_after(http: ApiClient) -> None:
    response = await http.client.patch(
        f"{TENANTS}/apollo-chennai",
        json={"name": "Apollo Chennai", "settings": {"timezone": None, "default_currency": "USD"}},
        headers=http.auth(),
    )
    assert response.status_code == 200
    tenant = response.json()["data"]
    assert tenant["name"] == "Apollo Chennai"
    assert tenant["settings"] == {
        "payments_provider": "razorpay",  # untouched
        "data_residency_region": "ap-south-1",  # untouched
        "default_currency": "USD",
        "timezone": None,  # cleared
    }
    [entry] = audit(http, "tenant.update")
    assert entry.before is not None
    assert entry.after is not None
    assert entry.before["settings"]["timezone"] == "Asia/Kolkata"
    assert entry.after["settings"]["timezone"] is None
    assert entry.tenant_id == "apollo-chennai"


async def test_an_update_that_changes_nothing_writes_nothing(http: ApiClient) -> None:
    response = await http.client.patch(
        f"{TENANTS}/apollo-chennai",
        json={"settings": {"default_currency": "INR"}},
        headers=http.auth(),
    )
    assert response.status_code == 200
    assert audit(http) == []


async def test_suspended_tenants_are_read_and_reactivated(http: ApiClient) -> None:
    suspended = await http.client.get(TENANTS, params={"status": "suspended"}, headers=http.auth())
    assert [t["id"] for t in suspended.json()["data"]["tenants"]] == ["medanta-gurugram"]
    response = await http.client.patch(
        f"{TENANTS}/medanta-gurugram", json={"status": "active"}, headers=http.auth()
    )
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "active"
    [entry] = audit(http, "tenant.update")
    assert (entry.before or {})["status"] == "suspended"
    assert (entry.after or {})["status"] == "active"


async def test_a_tenant_admin_updates_its_own_settings_but_not_its_status(
    http: ApiClient,
) -> None:
    own = http.auth("org:admin", APOLLO_ORG, user="user_apollo_admin")
    ok = await http.client.patch(
        f"{TENANTS}/apollo-chennai", json={"settings": {"timezone": "UTC"}}, headers=own
    )
    assert ok.status_code == 200
    status = await http.client.patch(
        f"{TENANTS}/apollo-chennai", json={"status": "suspended"}, headers=own
    )
    assert (status.status_code, errors(status)) == (403, [("AUTH_INSUFFICIENT_PERMISSION", None)])
    other = await http.client.patch(
        f"{TENANTS}/bumrungrad-bangkok", json={"name": "Mine now"}, headers=own
    )
    assert (other.status_code, errors(other)) == (403, [("AUTH_INSUFFICIENT_PERMISSION", None)])
    assert [e.action for e in audit(http)] == ["tenant.update"]


async def test_updating_an_unknown_tenant_is_404(http: ApiClient) -> None:
    response = await http.client.patch(
        f"{TENANTS}/nowhere", json={"name": "X"}, headers=http.auth()
    )
    assert (response.status_code, errors(response)) == (404, [("TENANT_NOT_FOUND", None)])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 10_240}, "name"),
        ({"status": "deleted"}, "status"),
        ({"settings": {"default_currency": "usd"}}, "settings.default_currency"),
        ({"settings": {"timezone": "GMT+5"}}, "settings.timezone"),
        ({"settings": {"timezone": "x" * 10_240}}, "settings.timezone"),
        ({"provider_id": "prv_x"}, "provider_id"),
    ],
)
async def test_bad_update_bodies_are_422_naming_the_field(
    http: ApiClient, body: dict[str, Any], field: str
) -> None:
    response = await http.client.patch(f"{TENANTS}/apollo-chennai", json=body, headers=http.auth())
    assert response.status_code == 422
    assert ("VALIDATION_ERROR", field) in errors(response)
    assert audit(http) == []


# --- PUT /tenants/{tenant_id}/org-mapping --------------------------------------------------------


async def test_mapping_an_org_replaces_the_previous_one(http: ApiClient) -> None:
    old = http.auth("org:admin", APOLLO_ORG, user="user_apollo_admin")
    assert (await http.client.get(TENANTS, headers=old)).status_code == 200
    response = await http.client.put(
        f"{TENANTS}/apollo-chennai/org-mapping",
        json={"clerk_org_id": "org_apollo_new"},
        headers=http.auth(),
    )
    assert response.status_code == 200
    assert response.json()["data"]["clerk_org_id"] == "org_apollo_new"
    [entry] = audit(http, "tenant.map_org")
    assert (entry.before, entry.after) == (
        {"clerk_org_id": APOLLO_ORG},
        {"clerk_org_id": "org_apollo_new"},
    )
    # The old organisation no longer reaches the tenant, at once on this replica.
    assert (await http.client.get(TENANTS, headers=old)).status_code == 403
    new = http.auth("org:admin", "org_apollo_new", user="user_apollo_admin")
    listed = await http.client.get(TENANTS, headers=new)
    assert [t["id"] for t in listed.json()["data"]["tenants"]] == ["apollo-chennai"]


async def test_mapping_errors(http: ApiClient) -> None:
    taken = await http.client.put(
        f"{TENANTS}/apollo-chennai/org-mapping",
        json={"clerk_org_id": "org_bumrungrad"},
        headers=http.auth(),
    )
    assert (taken.status_code, errors(taken)) == (409, [("TENANT_ALREADY_EXISTS", "clerk_org_id")])
    missing = await http.client.put(
        f"{TENANTS}/nowhere/org-mapping", json={"clerk_org_id": "org_x"}, headers=http.auth()
    )
    assert (missing.status_code, errors(missing)) == (404, [("TENANT_NOT_FOUND", None)])
    platform = await http.client.put(
        f"{TENANTS}/apollo-chennai/org-mapping",
        json={"clerk_org_id": "org_platform"},
        headers=http.auth(),
    )
    assert (platform.status_code, errors(platform)) == (
        422,
        [("VALIDATION_ERROR", "clerk_org_id")],
    )
    same = await http.client.put(
        f"{TENANTS}/apollo-chennai/org-mapping",
        json={"clerk_org_id": APOLLO_ORG},
        headers=http.auth(),
    )
    assert same.status_code == 200
    assert audit(http) == []
