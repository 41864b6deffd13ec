"""Users and roles (SPEC §6.9) through the real app, with the in-memory identity provider.

Escalation attempts must be refused and leave no trace but the 403: no role row, no audit
entry, no change to any organisation membership.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.memory.identity import InMemoryIdentityProvider
from admin_core.users.ports import IdentityUser
from tests.support.admin_api import audit, errors, mark_audit_baseline
from tests.support.http import ApiClient, api

TENANTS = "/api/v1/admin/tenants"
APOLLO, BUMRUNGRAD = "apollo-chennai", "bumrungrad-bangkok"
APOLLO_ORG, PLATFORM_ORG = "org_apollo_chennai", "org_platform"


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[ApiClient]:
    async with api(tmp_path) as client:
        mark_audit_baseline(client)
        yield client


def roles_url(tenant_id: str, user_id: str, role: str | None = None) -> str:
    base = f"{TENANTS}/{tenant_id}/users/{user_id}/roles"
    return f"{base}/{role}" if role else base


def identity(http: ApiClient) -> InMemoryIdentityProvider:
    provider: InMemoryIdentityProvider = http.container.users.identity()
    return provider


async def org_role(http: ApiClient, org_id: str, user_id: str) -> str | None:
    page = await identity(http).list_memberships(org_id, user_ids=[user_id])
    return page.memberships[0].role if page.memberships else None


async def state(http: ApiClient) -> tuple[Any, ...]:
    """Everything a grant or revoke could change."""
    store = http.container.database.store()
    memberships = {
        org: sorted(
            (m.user_id, m.role) for m in (await identity(http).list_memberships(org)).memberships
        )
        for org in (PLATFORM_ORG, APOLLO_ORG, "org_bumrungrad")
    }
    return (dict(store.user_roles), memberships, len(audit(http)))


async def test_list_users_merges_local_roles_and_org_members(http: ApiClient) -> None:
    response = await http.client.get(f"{TENANTS}/{APOLLO}/users", headers=http.auth())
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["total"] == 2
    admin = data["users"][0]
    assert admin == {
        "user_id": "user_apollo_admin",
        "email": "it-admin@apollo.example",
        "name": "Kavya Iyer",
        "roles": ["org:admin"],
        "org_role": "org:admin",
        "source": "both",
    }


async def test_the_users_list_is_paged_like_the_other_lists(http: ApiClient) -> None:
    url = f"{TENANTS}/{APOLLO}/users"
    everyone = (await http.client.get(url, headers=http.auth())).json()
    assert (everyone["meta"]["limit"], everyone["meta"]["offset"]) == (50, 0)
    response = await http.client.get(url, params={"limit": 1, "offset": 1}, headers=http.auth())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"]["users"] == everyone["data"]["users"][1:2]
    assert (body["data"]["total"], body["data"]["limit"], body["data"]["offset"]) == (2, 1, 1)
    assert body["data"]["total_exact"] is True
    assert (body["meta"]["total"], body["meta"]["limit"], body["meta"]["offset"]) == (2, 1, 1)
    for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}):
        refused = await http.client.get(url, params=bad, headers=http.auth())
        assert refused.status_code == 422
        assert [e["field"] for e in refused.json()["errors"]] == list(bad)


async def test_an_organisation_larger_than_a_list_reads_says_its_total_is_an_estimate(
    http: ApiClient,
) -> None:
    """10,000 members are read; the 30 beyond them are counted, not silently left out."""
    for n in range(10_030):
        user_id = f"user_member_{n:05d}"
        identity(http).add_user(IdentityUser(id=user_id, email=None, name=None))
        await identity(http).create_membership(APOLLO_ORG, user_id, "org:mso:doctor")
    url = f"{TENANTS}/{APOLLO}/users"
    body = (await http.client.get(url, params={"limit": 1}, headers=http.auth())).json()
    assert body["meta"]["total_exact"] is False
    assert body["data"]["total_exact"] is False
    members = 2 + 10_030  # the seeded admin and staff are members with local roles
    assert body["data"]["total"] == body["meta"]["total"] == members


async def test_without_an_org_every_user_is_local(
    http: ApiClient,
) -> None:
    await identity(http).create_membership(APOLLO_ORG, "user_new_hire", "org:mso:doctor")
    async with http.container.database.transactions()() as tx:
        await tx.org_mappings.remove(APOLLO_ORG)
        await tx.commit()
    local_only = await http.client.get(f"{TENANTS}/{APOLLO}/users", headers=http.auth())
    assert {u["source"] for u in local_only.json()["data"]["users"]} == {"local"}


async def test_clerk_only_members_are_listed(http: ApiClient) -> None:
    await identity(http).create_membership(APOLLO_ORG, "user_new_hire", "org:mso:doctor")
    response = await http.client.get(f"{TENANTS}/{APOLLO}/users", headers=http.auth())
    [hire] = [u for u in response.json()["data"]["users"] if u["user_id"] == "user_new_hire"]
    assert (hire["source"], hire["roles"], hire["org_role"], hire["email"]) == (
        "clerk",
        [],
        "org:mso:doctor",
        "sam.carter@admin-core.example",
    )


async def test_platform_users_are_listed_for_platform_callers_only(http: ApiClient) -> None:
    response = await http.client.get(f"{TENANTS}/platform/users", headers=http.auth())
    roles = {u["user_id"]: u["roles"] for u in response.json()["data"]["users"]}
    assert roles["user_platform_owner"] == ["org:super_admin"]
    tenant_admin = http.auth("org:admin", APOLLO_ORG, user="user_apollo_admin")
    refused = await http.client.get(f"{TENANTS}/platform/users", headers=tenant_admin)
    assert (refused.status_code, errors(refused)) == (
        403,
        [("AUTH_INSUFFICIENT_PERMISSION", None)],
    )


async def test_listing_users_of_an_unknown_tenant_is_404(http: ApiClient) -> None:
    response = await http.client.get(f"{TENANTS}/nowhere/users", headers=http.auth())
    assert (response.status_code, errors(response)) == (404, [("TENANT_NOT_FOUND", None)])


async def test_grant_sets_the_membership_records_locally_and_audits(http: ApiClient) -> None:
    response = await http.client.post(
        roles_url(APOLLO, "user_new_hire"), json={"role": "org:provider:staff"}, headers=http.auth()
    )
    assert response.status_code == 201
    assert response.json()["data"] == {
        "tenant_id": APOLLO,
        "user_id": "user_new_hire",
        "role": "org:provider:staff",
        "changed": True,
        "roles": ["org:provider:staff"],
        "org_role": "org:provider:staff",
    }
    assert await org_role(http, APOLLO_ORG, "user_new_hire") == "org:provider:staff"
    [entry] = audit(http, "user_role.assign")
    assert (entry.tenant_id, entry.resource_id, entry.event_type) == (
        APOLLO,
        "user_new_hire",
        "ADMIN_USER_ROLE_ASSIGN",
    )
    assert entry.before == {"user_id": "user_new_hire", "roles": [], "org_role": None}
    assert entry.after == {
        "user_id": "user_new_hire",
        "roles": ["org:provider:staff"],
        "org_role": "org:provider:staff",
        "granted": "org:provider:staff",
    }
    listed = await http.client.get(f"{TENANTS}/{APOLLO}/users", headers=http.auth())
    [hire] = [u for u in listed.json()["data"]["users"] if u["user_id"] == "user_new_hire"]
    assert (hire["name"], hire["source"]) == ("Sam Carter", "both")


async def test_granting_a_held_role_again_is_a_successful_no_op(http: ApiClient) -> None:
    body = {"role": "org:provider:staff"}
    first = await http.client.post(
        roles_url(APOLLO, "user_new_hire"), json=body, headers=http.auth()
    )
    again = await http.client.post(
        roles_url(APOLLO, "user_new_hire"), json=body, headers=http.auth()
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["data"]["changed"] is False
    assert len(audit(http, "user_role.assign")) == 1


async def test_the_membership_carries_the_strongest_role(http: ApiClient) -> None:
    for role in ("org:provider:staff", "org:provider:admin"):
        await http.client.post(
            roles_url(APOLLO, "user_new_hire"), json={"role": role}, headers=http.auth()
        )
    assert await org_role(http, APOLLO_ORG, "user_new_hire") == "org:provider:admin"
    revoked = await http.client.delete(
        roles_url(APOLLO, "user_new_hire", "org:provider:admin"), headers=http.auth()
    )
    assert revoked.status_code == 204
    assert await org_role(http, APOLLO_ORG, "user_new_hire") == "org:provider:staff"
    await http.client.delete(
        roles_url(APOLLO, "user_new_hire", "org%3Aprovider%3Astaff"), headers=http.auth()
    )
    assert await org_role(http, APOLLO_ORG, "user_new_hire") is None
    [first, second] = audit(http, "user_role.revoke")
    assert (first.before or {})["roles"] == ["org:provider:admin", "org:provider:staff"]
    assert (second.after or {})["roles"] == []


async def test_a_tenant_without_an_org_keeps_roles_locally(http: ApiClient) -> None:
    async with http.container.database.transactions()() as tx:
        await tx.org_mappings.remove(APOLLO_ORG)
        await tx.commit()
    response = await http.client.post(
        roles_url(APOLLO, "user_new_hire"), json={"role": "org:admin"}, headers=http.auth()
    )
    assert response.status_code == 201
    assert response.json()["data"]["org_role"] is None
    assert await org_role(http, APOLLO_ORG, "user_new_hire") is None


async def test_grant_to_an_unknown_user_is_404_and_writes_nothing(http: ApiClient) -> None:
    before = await state(http)
    response = await http.client.post(
        roles_url(APOLLO, "user_nobody"), json={"role": "org:admin"}, headers=http.auth()
    )
    assert (response.status_code, errors(response)) == (404, [("USER_NOT_FOUND", None)])
    assert await state(http) == before


async def test_grant_in_an_unknown_tenant_is_404(http: ApiClient) -> None:
    response = await http.client.post(
        roles_url("nowhere", "user_new_hire"), json={"role": "org:admin"}, headers=http.auth()
    )
    assert (response.status_code, errors(response)) == (404, [("TENANT_NOT_FOUND", None)])


@pytest.mark.parametrize("role", ["org:owner", "admin", "org:ADMIN", "x" * 65])
async def test_an_unknown_role_is_422(http: ApiClient, role: str) -> None:
    response = await http.client.post(
        roles_url(APOLLO, "user_new_hire"), json={"role": role}, headers=http.auth()
    )
    assert response.status_code == 422
    [(code, field)] = errors(response)
    assert field == "role"
    assert code in {"ROLE_NOT_ALLOWED", "VALIDATION_ERROR"}


async def test_a_platform_role_means_nothing_in_a_tenant_org(http: ApiClient) -> None:
    response = await http.client.post(
        roles_url(APOLLO, "user_new_hire"), json={"role": "org:coordinator"}, headers=http.auth()
    )
    assert (response.status_code, errors(response)) == (422, [("ROLE_NOT_ALLOWED", "role")])


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "role"), ({"role": ""}, "role"), ({"role": "org:admin", "x": 1}, "x")],
)
async def test_bad_grant_bodies_are_422(http: ApiClient, body: dict[str, Any], field: str) -> None:
    response = await http.client.post(
        roles_url(APOLLO, "user_new_hire"), json=body, headers=http.auth()
    )
    assert (response.status_code, errors(response)) == (422, [("VALIDATION_ERROR", field)])


async def test_bad_user_ids_are_422(http: ApiClient) -> None:
    response = await http.client.post(
        roles_url(APOLLO, "user%20with%20spaces"), json={"role": "org:admin"}, headers=http.auth()
    )
    assert (response.status_code, errors(response)) == (422, [("VALIDATION_ERROR", "user_id")])


# --- escalation: refused, and no trace but the 403 ----------------------------------------------

ESCALATIONS = [
    pytest.param(
        ("org:admin", APOLLO_ORG, "platform", "org:admin"),
        "AUTH_INSUFFICIENT_PERMISSION",
        id="tenant admin grants org:admin in the platform org",
    ),
    pytest.param(
        ("org:admin", APOLLO_ORG, BUMRUNGRAD, "org:provider:staff"),
        "AUTH_INSUFFICIENT_PERMISSION",
        id="tenant admin grants in another tenant",
    ),
    pytest.param(
        ("org:provider:admin", APOLLO_ORG, "platform", "org:coordinator"),
        "AUTH_INSUFFICIENT_PERMISSION",
        id="provider admin grants in the platform org",
    ),
    pytest.param(
        ("org:coordinator", PLATFORM_ORG, APOLLO, "org:provider:staff"),
        "AUTH_INSUFFICIENT_PERMISSION",
        id="coordinator grants a tenant role",
    ),
    pytest.param(
        ("org:coordinator", PLATFORM_ORG, "platform", "org:coordinator"),
        "AUTH_INSUFFICIENT_PERMISSION",
        id="coordinator grants its own role",
    ),
    pytest.param(
        ("org:admin", APOLLO_ORG, APOLLO, "org:super_admin"),
        "ROLE_NOT_ALLOWED",
        id="tenant admin grants super-admin in its own tenant",
    ),
    pytest.param(
        ("org:provider:admin", APOLLO_ORG, APOLLO, "org:coordinator"),
        "ROLE_NOT_ALLOWED",
        id="provider admin grants a platform-only role",
    ),
    pytest.param(
        ("org:admin", PLATFORM_ORG, "platform", "org:super_admin"),
        "ROLE_NOT_ALLOWED",
        id="platform admin grants super-admin",
    ),
    pytest.param(
        ("org:provider:staff", APOLLO_ORG, APOLLO, "org:provider:staff"),
        "AUTH_INSUFFICIENT_PERMISSION",
        id="staff grants its own role",
    ),
]


@pytest.mark.parametrize(("attempt", "code"), ESCALATIONS)
async def test_escalation_is_refused_without_a_trace(
    http: ApiClient, attempt: tuple[str, str, str, str], code: str
) -> None:
    role, org, tenant_id, granted = attempt
    caller = http.auth(role, org, user="user_caller")
    before = await state(http)
    response = await http.client.post(
        roles_url(tenant_id, "user_new_hire"), json={"role": granted}, headers=caller
    )
    assert (response.status_code, errors(response)) == (403, [(code, None)])
    assert await state(http) == before
    assert audit(http) == []


async def test_revoking_a_stronger_role_is_refused(http: ApiClient) -> None:
    platform_admin = http.auth("org:admin", PLATFORM_ORG, user="user_local_admin")
    before = await state(http)
    response = await http.client.delete(
        roles_url("platform", "user_platform_owner", "org:super_admin"), headers=platform_admin
    )
    assert (response.status_code, errors(response)) == (403, [("ROLE_NOT_ALLOWED", None)])
    assert await state(http) == before


async def test_a_tenant_admin_manages_roles_in_its_own_tenant(http: ApiClient) -> None:
    own = http.auth("org:admin", APOLLO_ORG, user="user_apollo_admin")
    granted = await http.client.post(
        roles_url(APOLLO, "user_new_hire"), json={"role": "org:provider:admin"}, headers=own
    )
    assert granted.status_code == 201
    revoked = await http.client.delete(
        roles_url(APOLLO, "user_apollo_staff", "org:provider:staff"), headers=own
    )
    assert revoked.status_code == 204
    [assign] = audit(http, "user_role.assign")
    assert (assign.actor_id, assign.actor_role) == ("user_apollo_admin", "org:admin")


# --- revoke -------------------------------------------------------------------------------------


async def test_revoking_a_role_not_held_is_a_no_op(http: ApiClient) -> None:
    response = await http.client.delete(
        roles_url(APOLLO, "user_new_hire", "org:admin"), headers=http.auth()
    )
    assert response.status_code == 204
    assert audit(http) == []


async def test_the_last_platform_super_admin_cannot_be_revoked(http: ApiClient) -> None:
    owner = http.auth("org:super_admin", PLATFORM_ORG, user="user_platform_owner")
    refused = await http.client.delete(
        roles_url("platform", "user_platform_owner", "org:super_admin"), headers=owner
    )
    assert (refused.status_code, errors(refused)) == (403, [("ROLE_NOT_ALLOWED", None)])
    assert audit(http) == []
    second = await http.client.post(
        roles_url("platform", "user_new_hire"), json={"role": "org:super_admin"}, headers=owner
    )
    assert second.status_code == 201
    assert await org_role(http, PLATFORM_ORG, "user_new_hire") == "org:super_admin"
    allowed = await http.client.delete(
        roles_url("platform", "user_platform_owner", "org:super_admin"), headers=owner
    )
    assert allowed.status_code == 204
    again = await http.client.delete(
        roles_url("platform", "user_new_hire", "org:super_admin"), headers=owner
    )
    assert (again.status_code, errors(again)) == (403, [("ROLE_NOT_ALLOWED", None)])
    [revoke] = audit(http, "user_role.revoke")
    assert revoke.tenant_id is None  # platform roles live in the platform chain


async def test_unknown_role_on_revoke_is_422(http: ApiClient) -> None:
    response = await http.client.delete(
        roles_url(APOLLO, "user_apollo_admin", "org:owner"), headers=http.auth()
    )
    assert (response.status_code, errors(response)) == (422, [("ROLE_NOT_ALLOWED", "role")])
