"""Who passes which tenant, provider and user-role route: a property test over roles × routes
× tenant scope, through the real app, against an expectation written from SPEC §5 (not from
`RolePolicy`). A refused call is a 403 AUTH_INSUFFICIENT_PERMISSION and writes no audit entry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from admin_core.auth.policy import ROLES
from tests.support.admin_api import audit, errors, mark_audit_baseline
from tests.support.http import ApiClient, api

PLATFORM_ORG, OWN_ORG, UNMAPPED_ORG = "org_platform", "org_apollo_chennai", "org_nobody"
OWN, OTHER = "apollo-chennai", "bumrungrad-bangkok"
ORG_OF = {OWN: OWN_ORG, OTHER: "org_bumrungrad"}

# SPEC §5: who holds tenant:manage, and how far it reaches.
MANAGERS = {
    ("org:super_admin", "platform"): "all",
    ("org:admin", "platform"): "all",
    ("org:admin", "tenant"): "own",
    ("org:provider:admin", "tenant"): "own",
}


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str  # `{t}`: the target tenant
    body: dict[str, Any] | None
    platform_only: bool  # tenant and provider creation, org mapping: platform scope
    targets_tenant: bool


ROUTES = [
    Route("list tenants", "GET", "/api/v1/admin/tenants", None, False, False),
    Route(
        "create tenant",
        "POST",
        "/api/v1/admin/tenants",
        {"provider_id": "prv_missing"},
        True,
        False,
    ),
    Route(
        "create provider",
        "POST",
        "/api/v1/admin/providers",
        {"provider": {"name": "Hypothesis Clinic"}},
        True,
        False,
    ),
    Route("update tenant", "PATCH", "/api/v1/admin/tenants/{t}", {"name": "Renamed"}, False, True),
    Route(
        "map org",  # to the organisation the tenant already has: passing changes nothing
        "PUT",
        "/api/v1/admin/tenants/{t}/org-mapping",
        {"clerk_org_id": "{org}"},
        True,
        True,
    ),
    Route("list users", "GET", "/api/v1/admin/tenants/{t}/users", None, False, True),
    Route(
        "grant role",
        "POST",
        "/api/v1/admin/tenants/{t}/users/user_new_hire/roles",
        {"role": "org:provider:staff"},
        False,
        True,
    ),
    Route(
        "revoke role",
        "DELETE",
        "/api/v1/admin/tenants/{t}/users/user_new_hire/roles/org:provider:staff",
        None,
        False,
        True,
    ),
]


def expected_to_pass(role: str | None, org: str | None, route: Route, target: str) -> bool:
    kind = {PLATFORM_ORG: "platform", OWN_ORG: "tenant"}.get(org or "")
    reach = MANAGERS.get((role or "", kind or ""))
    if reach is None:
        return False
    if route.platform_only:
        return reach == "all"
    if route.targets_tenant:
        return reach == "all" or target == OWN
    return True


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[ApiClient]:
    async with api(tmp_path) as client:
        mark_audit_baseline(client)
        yield client


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    role=st.sampled_from([*ROLES, None]),
    org=st.sampled_from([PLATFORM_ORG, OWN_ORG, UNMAPPED_ORG, None]),
    route=st.sampled_from(ROUTES),
    target=st.sampled_from([OWN, OTHER]),
)
async def test_only_the_roles_of_spec_5_pass(
    http: ApiClient, role: str | None, org: str | None, route: Route, target: str
) -> None:
    headers = http.auth(role, org, user="user_prober")
    audit_before = len(audit(http))
    body = route.body
    if body is not None:
        body = {
            k: v.format(org=ORG_OF[target]) if isinstance(v, str) else v for k, v in body.items()
        }
    response = await http.client.request(
        route.method, route.path.format(t=target), json=body, headers=headers
    )
    if expected_to_pass(role, org, route, target):
        assert response.status_code not in (401, 403, 500), (route.name, response.text)
    else:
        assert response.status_code == 403, (route.name, response.text)
        assert errors(response) == [("AUTH_INSUFFICIENT_PERMISSION", None)]
        assert len(audit(http)) == audit_before


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
async def test_every_route_needs_a_valid_token(http: ApiClient, route: Route) -> None:
    path = route.path.format(t=OWN)
    body = route.body and {
        k: v.format(org=OWN_ORG) if isinstance(v, str) else v for k, v in route.body.items()
    }
    expired = http.token("org:super_admin", PLATFORM_ORG, ttl_seconds=-60)
    for headers, code in (
        ({}, "AUTH_HEADER_MISSING"),
        ({"Authorization": "Bearer not.a.token"}, "AUTH_TOKEN_INVALID"),
        ({"Authorization": f"Bearer {expired}"}, "AUTH_TOKEN_EXPIRED"),
    ):
        response = await http.client.request(route.method, path, json=body, headers=headers)
        assert (response.status_code, errors(response)) == (401, [(code, None)])
    assert audit(http) == []
