"""The role × org kind × permission × tenant matrix of SPEC §5, as a property test.

The expectation below is written from the SPEC table independently of `RolePolicy`, and every
case goes through the real path: a signed token, verification, org → tenant resolution.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.clerk.tokens import ClerkSessionTokenVerifier, JwksCache
from adapters.memory.runtime import FixedClock, SequentialIds
from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryTransactions
from admin_core.auth.policy import ROLES, RolePolicy
from admin_core.auth.use_cases import Authenticate
from admin_core.kernel.errors import AuthHeaderMissing, InsufficientPermission
from admin_core.kernel.principal import OrgKind, Permission, Principal, Scope
from admin_core.tenants.model import OrgMapping, Tenant, TenantStatus
from tests.support.tokens import ISSUER, JwksServer, SigningKey, claims

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PLATFORM_ORG, OWN_ORG, UNMAPPED_ORG = "org_platform", "org_own", "org_unmapped"
OWN, OTHER = "tenant-own", "tenant-other"

# SPEC §5, read row by row: (role, kind of org) → what it may do, and how far.
SPEC_TABLE: dict[tuple[str, str], tuple[set[str], str]] = {
    ("org:super_admin", "platform"): ({"*"}, "all"),
    ("org:admin", "platform"): ({"tenant:manage", "graph:rebuild", "audit:read"}, "all"),
    ("org:coordinator", "platform"): ({"audit:read"}, "all"),
    ("org:admin", "tenant"): ({"tenant:manage", "audit:read"}, "own"),
    ("org:provider:admin", "tenant"): ({"tenant:manage", "audit:read"}, "own"),
}


def expected(role: str, org: str, permission: str, target: str | None, platform: bool) -> bool:
    kind = {PLATFORM_ORG: "platform", OWN_ORG: "tenant"}.get(org)
    if kind is None:
        return False  # no org, or an org that maps to no tenant
    grants, reach = SPEC_TABLE.get((role, kind), (set(), "none"))
    if "*" in grants:
        return True
    if permission not in grants:
        return False
    if platform and reach != "all":
        return False
    return target is None or reach == "all" or target == OWN


def make_authenticate(jwks: JwksServer) -> Authenticate:
    store = InMemoryStore()
    for tenant_id in (OWN, OTHER):
        store.tenants[tenant_id] = Tenant(
            id=tenant_id,
            name=tenant_id,
            status=TenantStatus.ACTIVE,
            provider_id=None,
            created_at=T0,
            updated_at=T0,
        )
    store.org_mappings[OWN_ORG] = OrgMapping(org_id=OWN_ORG, tenant_id=OWN, created_at=T0)
    clock = FixedClock(T0)
    return Authenticate(
        ClerkSessionTokenVerifier(JwksCache(jwks.fetch), issuer=ISSUER),
        InMemoryTransactions(store, clock, SequentialIds()),
        RolePolicy.default(),
        platform_orgs=[PLATFORM_ORG],
        clock=clock,
    )


KEY = SigningKey(kid="matrix")
roles = st.sampled_from([*ROLES, "org:unknown", "admin", "super_admin", "coordinator"])
orgs = st.sampled_from([PLATFORM_ORG, OWN_ORG, UNMAPPED_ORG, None])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    role=roles,
    org=orgs,
    permission=st.sampled_from(list(Permission)),
    target=st.sampled_from([None, OWN, OTHER]),
    platform=st.booleans(),
    version=st.sampled_from([1, 2]),
)
async def test_permission_matrix_matches_the_spec(
    role: str,
    org: str | None,
    permission: Permission,
    target: str | None,
    platform: bool,
    version: int,
) -> None:
    authenticate = make_authenticate(JwksServer(KEY))
    token = KEY.sign(claims(org_id=org, role=role, version=version))
    principal = await authenticate.execute(token)
    full_role = role if role.startswith("org:") else f"org:{role}"
    want = expected(full_role, org or "", permission.value, target, platform)
    assert principal.can(permission, tenant_id=target, platform=platform) is want
    # `has`: the permission held, however far it reaches.
    assert principal.has(permission) is expected(
        full_role, org or "", permission.value, None, False
    )


async def test_tenant_org_resolves_to_its_tenant_and_unmapped_org_to_nothing() -> None:
    authenticate = make_authenticate(JwksServer(KEY))
    own = await authenticate.execute(KEY.sign(claims(org_id=OWN_ORG, role="org:admin")))
    assert (own.scope, own.tenant_id) == (Scope.TENANT, OWN)
    lost = await authenticate.execute(KEY.sign(claims(org_id=UNMAPPED_ORG, role="org:admin")))
    assert (lost.scope, lost.tenant_id, lost.permissions) == (Scope.NONE, None, frozenset())


async def test_super_admin_role_in_a_tenant_org_is_ignored() -> None:
    authenticate = make_authenticate(JwksServer(KEY))
    p = await authenticate.execute(KEY.sign(claims(org_id=OWN_ORG, role="org:super_admin")))
    assert not p.is_super_admin
    assert not p.can(Permission.AUDIT_READ, tenant_id=OWN)


def test_no_policy_gives_a_tenant_role_super_admin() -> None:
    """Held in a tenant's organisation, super_admin would reach every other tenant."""
    for role in ("org:super_admin", "org:admin"):
        with pytest.raises(ValueError, match="super_admin"):
            RolePolicy(platform={}, tenant={role: frozenset({Permission.SUPER_ADMIN})})


# --- the org → tenant mapping is cached briefly (SPEC §5) -------------------------------------


def authenticate_on(store: InMemoryStore, clock: FixedClock) -> Authenticate:
    return Authenticate(
        ClerkSessionTokenVerifier(JwksCache(JwksServer(KEY).fetch), issuer=ISSUER),
        InMemoryTransactions(store, clock, SequentialIds()),
        RolePolicy.default(),
        platform_orgs=[PLATFORM_ORG],
        clock=clock,
        cache_ttl=timedelta(seconds=30),
    )


async def test_a_remapped_org_reaches_its_new_tenant_once_the_cache_expires() -> None:
    """Within the cache's lifetime a request is answered from what the first one read; after
    it, the mapping is read again, so a moved or removed organisation stops reaching its old
    tenant."""
    clock = FixedClock(T0)
    store = InMemoryStore()
    store.org_mappings[OWN_ORG] = OrgMapping(org_id=OWN_ORG, tenant_id=OWN, created_at=T0)
    authenticate = authenticate_on(store, clock)
    token = KEY.sign(claims(org_id=OWN_ORG, role="org:admin"))
    assert (await authenticate.execute(token)).tenant_id == OWN

    store.org_mappings[OWN_ORG] = OrgMapping(org_id=OWN_ORG, tenant_id=OTHER, created_at=T0)
    clock.advance(timedelta(seconds=29))
    cached = await authenticate.execute(token)
    assert (cached.scope, cached.tenant_id) == (Scope.TENANT, OWN)

    clock.advance(timedelta(seconds=2))
    moved = await authenticate.execute(token)
    assert (moved.scope, moved.tenant_id) == (Scope.TENANT, OTHER)

    del store.org_mappings[OWN_ORG]
    clock.advance(timedelta(seconds=31))
    gone = await authenticate.execute(token)
    assert (gone.scope, gone.tenant_id, gone.permissions) == (Scope.NONE, None, frozenset())


async def test_a_forgotten_org_is_read_again_at_once() -> None:
    clock = FixedClock(T0)
    store = InMemoryStore()
    store.org_mappings[OWN_ORG] = OrgMapping(org_id=OWN_ORG, tenant_id=OWN, created_at=T0)
    authenticate = authenticate_on(store, clock)
    token = KEY.sign(claims(org_id=OWN_ORG, role="org:admin"))
    assert (await authenticate.execute(token)).tenant_id == OWN

    del store.org_mappings[OWN_ORG]
    authenticate.forget_org(OWN_ORG)
    assert (await authenticate.execute(token)).scope is Scope.NONE


@pytest.mark.parametrize("token", [None, ""])
async def test_a_request_without_a_token_is_refused_before_anything_is_read(
    token: str | None,
) -> None:
    authenticate = make_authenticate(JwksServer(KEY))
    with pytest.raises(AuthHeaderMissing):
        await authenticate.execute(token)


async def test_a_tenant_role_reaches_its_own_tenant_without_platform_scope() -> None:
    """Asking whether a permission reaches a tenant demands no platform scope unless said so;
    the 403 for another tenant names the permission and that tenant, not the platform."""
    authenticate = make_authenticate(JwksServer(KEY))
    admin = await authenticate.execute(KEY.sign(claims(org_id=OWN_ORG, role="org:admin")))
    assert admin.can(Permission.TENANT_MANAGE, tenant_id=OWN)
    admin.require(Permission.TENANT_MANAGE, tenant_id=OWN)
    with pytest.raises(InsufficientPermission) as caught:
        admin.require(Permission.TENANT_MANAGE, tenant_id=OTHER)
    assert caught.value.details == {"permission": "tenant:manage", "tenant_id": OTHER}
    with pytest.raises(InsufficientPermission) as caught:
        admin.require(Permission.GRAPH_REBUILD, platform=True)
    assert caught.value.details == {"permission": "graph:rebuild", "scope": "platform"}


# --- a configured role policy (SPEC §5: the map is configurable) -------------------------------


async def test_a_configured_policy_gives_exactly_its_permissions_in_either_role_format() -> None:
    """Roles may be written as Clerk v2 names them (`admin`) or with the `org:` prefix; a
    section left out gives nothing; a member without a role holds nothing."""
    policy = RolePolicy.from_mapping(
        {
            "platform": {"admin": ["audit:read"], "org:ops": ["graph:rebuild", "audit:read"]},
            "tenant": {"provider:staff": ["tenant:manage"]},
        }
    )
    assert policy.permissions("org:admin", OrgKind.PLATFORM) == {Permission.AUDIT_READ}
    assert policy.permissions("org:ops", OrgKind.PLATFORM) == {
        Permission.GRAPH_REBUILD,
        Permission.AUDIT_READ,
    }
    assert policy.permissions("org:provider:staff", OrgKind.TENANT) == {Permission.TENANT_MANAGE}
    assert policy.permissions("org:admin", OrgKind.TENANT) == frozenset()
    assert policy.permissions(None, OrgKind.PLATFORM) == frozenset()
    assert "org:ops" in policy.known_roles()
    assert RolePolicy.from_mapping({}).permissions("org:admin", OrgKind.PLATFORM) == frozenset()

    store = InMemoryStore()
    store.org_mappings[OWN_ORG] = OrgMapping(org_id=OWN_ORG, tenant_id=OWN, created_at=T0)
    clock = FixedClock(T0)
    authenticate = Authenticate(
        ClerkSessionTokenVerifier(JwksCache(JwksServer(KEY).fetch), issuer=ISSUER),
        InMemoryTransactions(store, clock, SequentialIds()),
        policy,
        platform_orgs=[PLATFORM_ORG],
        clock=clock,
    )
    staff = await authenticate.execute(KEY.sign(claims(org_id=OWN_ORG, role="org:provider:staff")))
    assert staff.can(Permission.TENANT_MANAGE, tenant_id=OWN)
    admin = await authenticate.execute(KEY.sign(claims(org_id=PLATFORM_ORG, role="org:admin")))
    assert admin.can(Permission.AUDIT_READ, tenant_id=OTHER)
    assert not admin.can(Permission.TENANT_MANAGE, tenant_id=OTHER)


async def test_a_member_without_a_role_holds_nothing() -> None:
    authenticate = make_authenticate(JwksServer(KEY))
    for org in (PLATFORM_ORG, OWN_ORG):
        member = await authenticate.execute(KEY.sign(claims(org_id=org, role=None)))
        assert (member.role, member.permissions) == (None, frozenset())
        assert not any(member.can(p) for p in Permission)


def test_the_cli_operator_and_the_servers_own_tasks_act_with_every_permission_everywhere() -> None:
    """SPEC §7: the CLI acts as an operator, `cli:<user>`; the server's own passes act as
    `system:<task>`, each within its own request."""
    operator = Principal.operator("ana", request_id="req-cli")
    task = Principal.system("checkpoint", request_id="req-task")
    assert (operator.user_id, operator.request_id) == ("cli:ana", "req-cli")
    assert (task.user_id, task.request_id) == ("system:checkpoint", "req-task")
    for principal in (operator, task):
        assert principal.scope is Scope.PLATFORM
        assert principal.is_super_admin
        for permission in Permission:
            assert principal.can(permission, tenant_id=OTHER, platform=True)
        assert principal.visible_tenant(None, Permission.AUDIT_READ) is None
