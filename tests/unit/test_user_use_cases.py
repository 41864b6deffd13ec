"""Users and roles (SPEC §5, §6.9), one use case at a time, on the in-memory adapters and the
in-memory identity provider.

A refused request leaves no trace: no role row, no audit entry, no membership change. The
expected answers of the property tests come from the SPEC §5 table written out in
`tests.support.use_cases`, not from `RolePolicy` or `admin_core.users.grants`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from admin_core.auth.policy import RolePolicy
from admin_core.kernel.errors import InsufficientPermission, ValidationFailed
from admin_core.kernel.principal import PLATFORM_TENANT_ID, OrgKind, Permission, Principal
from admin_core.tenants.errors import TenantNotFound
from admin_core.users.errors import RoleNotAllowed, UserNotFound
from admin_core.users.model import RoleChange, UserRole, UserSource
from admin_core.users.use_cases import GrantRoleCommand, ListTenantUsersQuery, RevokeRoleCommand
from tests.support.use_cases import (
    PLATFORM_ONLY_ROLES,
    PLATFORM_ORG,
    REQUEST_ID,
    ROLES_OF,
    SPEC_PERMISSIONS,
    SPEC_ROLES,
    T0,
    World,
    caller_without_org,
    fields_of,
    org_of,
    platform_caller,
    spec_permissions,
    tenant_caller,
)

APOLLO, BUMRUNGRAD, KIMS = "apollo-chennai", "bumrungrad-bangkok", "kims-hyderabad"
APOLLO_ORG = org_of(APOLLO)
SUPER = platform_caller("org:super_admin", user_id="user_owner")
PLATFORM_ADMIN = platform_caller("org:admin", user_id="user_ops")
COORDINATOR = platform_caller("org:coordinator", user_id="user_coordinator")
APOLLO_ADMIN = tenant_caller("org:admin", APOLLO, user_id="user_apollo_admin")
APOLLO_PROVIDER_ADMIN = tenant_caller("org:provider:admin", APOLLO, user_id="user_apollo_pa")
APOLLO_STAFF = tenant_caller("org:provider:staff", APOLLO, user_id="user_apollo_staff")
HIRE = "user_new_hire"
UNKNOWN_ROLE = "org:owner"

#: The role a membership carries when a user holds several (ADR 0031, from the SPEC table):
#: super-admin first, then most permissions, then the order of the SPEC's rows.
STRONGEST_FIRST = {
    OrgKind.PLATFORM: ["org:super_admin", "org:admin", "org:coordinator"],
    OrgKind.TENANT: [
        "org:admin",
        "org:provider:admin",
        "org:provider:staff",
        "org:mso:doctor",
        "org:facilitator",
    ],
}


def strongest(kind: OrgKind, roles: set[str]) -> str | None:
    return next((r for r in STRONGEST_FIRST[kind] if r in roles), None)


async def make_world() -> World:
    """Apollo and Bumrungrad with an organisation each, KIMS without one; a platform owner
    (the only super-admin), Apollo's admin and staff; a new hire nobody granted anything."""
    w = World()
    await w.add_tenant(APOLLO, name="Apollo Chennai")
    await w.add_tenant(BUMRUNGRAD, name="Bumrungrad")
    await w.add_tenant(KIMS, name="KIMS Hyderabad", org=False)
    for user_id, name in [
        ("user_owner", "Olivia Owner"),
        ("user_apollo_admin", "Kavya Iyer"),
        ("user_apollo_staff", "Ravi Kumar"),
        (HIRE, "Sam Carter"),
        ("user_second", "Noor Haddad"),
    ]:
        w.add_user(user_id, name)
    await w.add_role(PLATFORM_TENANT_ID, "user_owner", "org:super_admin")
    await w.add_role(APOLLO, "user_apollo_admin", "org:admin")
    await w.add_role(APOLLO, "user_apollo_staff", "org:provider:staff")
    return w


@pytest.fixture
async def world() -> World:
    return await make_world()


def grant(tenant_id: str, role: str, user_id: str = HIRE) -> GrantRoleCommand:
    return GrantRoleCommand(tenant_id=tenant_id, user_id=user_id, role=role)


def revoke(tenant_id: str, role: str, user_id: str = HIRE) -> RevokeRoleCommand:
    return RevokeRoleCommand(tenant_id=tenant_id, user_id=user_id, role=role)


def test_the_default_policy_is_the_spec_table() -> None:
    """The principals below are built from the SPEC table; the use cases run on the default
    policy. They must agree, or every expectation here would be about the wrong thing."""
    policy = RolePolicy.default()
    for kind, table in SPEC_PERMISSIONS.items():
        for role, permissions in table.items():
            assert policy.permissions(role, kind) == permissions, (kind, role)


# --- listing a tenant's users -------------------------------------------------------------------


async def test_users_come_from_local_roles_and_from_the_organisation(world: World) -> None:
    await world.add_member(APOLLO_ORG, HIRE, "org:mso:doctor")  # made in Clerk directly
    async with world.transactions() as tx:  # a local role whose membership was removed
        await tx.user_roles.add(
            UserRole(
                tenant_id=APOLLO,
                user_id="user_second",
                role="org:facilitator",
                granted_by="seed",
                granted_at=T0,
            )
        )
        await tx.commit()
    page = await world.list_users.execute(APOLLO_ADMIN, ListTenantUsersQuery(tenant_id=APOLLO))
    users = page.items
    assert [(u.user_id, u.roles, u.org_role, u.source) for u in users] == [
        ("user_apollo_admin", ("org:admin",), "org:admin", UserSource.BOTH),
        ("user_apollo_staff", ("org:provider:staff",), "org:provider:staff", UserSource.BOTH),
        (HIRE, (), "org:mso:doctor", UserSource.CLERK),
        ("user_second", ("org:facilitator",), None, UserSource.LOCAL),
    ]
    hire = users[2]
    assert (hire.email, hire.name) == ("new_hire@example.test", "Sam Carter")


async def test_a_tenant_without_an_organisation_lists_local_roles_only(world: World) -> None:
    await world.grant.execute(SUPER, grant(KIMS, "org:admin"))
    page = await world.list_users.execute(SUPER, ListTenantUsersQuery(tenant_id=KIMS))
    assert (page.total, page.total_exact) == (1, True)
    [user] = page.items
    assert (user.user_id, user.roles, user.org_role, user.source) == (
        HIRE,
        ("org:admin",),
        None,
        UserSource.LOCAL,
    )
    assert user.name == "Sam Carter"  # cached from the identity provider at the grant


async def test_platform_users_are_listed_for_platform_callers_only(world: World) -> None:
    page = await world.list_users.execute(
        PLATFORM_ADMIN, ListTenantUsersQuery(tenant_id=PLATFORM_TENANT_ID)
    )
    assert [(u.user_id, u.roles, u.org_role) for u in page.items] == [
        ("user_owner", ("org:super_admin",), "org:super_admin")
    ]
    with pytest.raises(InsufficientPermission):
        await world.list_users.execute(
            APOLLO_ADMIN, ListTenantUsersQuery(tenant_id=PLATFORM_TENANT_ID)
        )


@pytest.mark.parametrize(
    ("caller", "tenant_id"),
    [
        (APOLLO_ADMIN, BUMRUNGRAD),
        (APOLLO_PROVIDER_ADMIN, BUMRUNGRAD),
        (APOLLO_STAFF, APOLLO),
        (COORDINATOR, APOLLO),
        (caller_without_org(), APOLLO),
    ],
    ids=[
        "tenant admin, other tenant",
        "provider admin, other tenant",
        "staff",
        "coordinator",
        "no org",
    ],
)
async def test_listing_users_needs_tenant_manage_reaching_the_tenant(
    world: World, caller: Principal, tenant_id: str
) -> None:
    with pytest.raises(InsufficientPermission):
        await world.list_users.execute(caller, ListTenantUsersQuery(tenant_id=tenant_id))


async def test_listing_users_of_an_unknown_tenant_is_not_found(world: World) -> None:
    with pytest.raises(TenantNotFound):
        await world.list_users.execute(SUPER, ListTenantUsersQuery(tenant_id="nowhere"))


async def test_a_page_of_users_holds_50_unless_asked_and_bad_paging_names_both_fields(
    world: World,
) -> None:
    page = await world.list_users.execute(SUPER, ListTenantUsersQuery(tenant_id=APOLLO))
    assert (page.limit, page.offset) == (50, 0)
    for limit, offset in ((0, -1), (201, -5)):
        with pytest.raises(ValidationFailed) as caught:
            await world.list_users.execute(
                SUPER, ListTenantUsersQuery(tenant_id=APOLLO, limit=limit, offset=offset)
            )
        assert fields_of(caught.value.errors) == ["limit", "offset"]


@pytest.mark.parametrize(("extra", "exact"), [(0, True), (7, False)])
async def test_an_organisation_larger_than_one_list_reads_is_estimated_and_says_so(
    world: World, extra: int, exact: bool
) -> None:
    """One list reads at most 10,000 members (20 pages of 500); beyond that the total is the
    members the identity provider counts plus the users with local roles only."""
    for i in range(9_998 + extra):  # with Apollo's admin and staff: 10,000 + extra
        user_id = f"user_m{i:05d}"
        world.add_user(user_id)
        await world.identity.create_membership(APOLLO_ORG, user_id, "org:mso:doctor")
    page = await world.list_users.execute(
        SUPER, ListTenantUsersQuery(tenant_id=APOLLO, limit=200, offset=0)
    )
    assert (page.total, page.total_exact) == (10_000 + extra, exact)
    assert len(page.items) == 200


# --- granting -----------------------------------------------------------------------------------


async def test_a_grant_records_the_role_sets_the_membership_and_is_audited(
    world: World,
) -> None:
    world.clock.advance(timedelta(minutes=3))
    change = await world.grant.execute(APOLLO_ADMIN, grant(APOLLO, "org:provider:staff"))
    assert change == RoleChange(
        tenant_id=APOLLO,
        user_id=HIRE,
        role="org:provider:staff",
        changed=True,
        roles=("org:provider:staff",),
        org_role="org:provider:staff",
    )
    assert await world.roles(APOLLO, HIRE) == ("org:provider:staff",)
    assert await world.membership(APOLLO_ORG, HIRE) == "org:provider:staff"
    stored = await world.stored_grant(APOLLO, HIRE, "org:provider:staff")
    assert stored is not None
    assert (stored.granted_by, stored.granted_at) == (
        "user_apollo_admin",
        T0 + timedelta(minutes=3),
    )
    contact = await world.contact(HIRE)
    assert contact is not None
    assert contact.name == "Sam Carter"
    [entry] = world.audit()
    assert (entry.action, entry.event_type, entry.tenant_id, entry.resource_id) == (
        "user_role.assign",
        "ADMIN_USER_ROLE_ASSIGN",
        APOLLO,
        HIRE,
    )
    assert (entry.actor_id, entry.actor_role, entry.request_id) == (
        "user_apollo_admin",
        "org:admin",
        REQUEST_ID,
    )
    assert entry.before == {"user_id": HIRE, "roles": [], "org_role": None}
    assert entry.after == {
        "user_id": HIRE,
        "roles": ["org:provider:staff"],
        "org_role": "org:provider:staff",
        "granted": "org:provider:staff",
    }


async def test_platform_roles_live_in_the_platform_organisation_and_chain(world: World) -> None:
    change = await world.grant.execute(SUPER, grant(PLATFORM_TENANT_ID, "org:coordinator"))
    assert change.org_role == "org:coordinator"
    assert await world.membership(PLATFORM_ORG, HIRE) == "org:coordinator"
    assert await world.membership(APOLLO_ORG, HIRE) is None
    [entry] = world.audit()
    assert entry.tenant_id is None  # the platform chain


async def test_a_tenant_without_an_organisation_keeps_roles_locally(world: World) -> None:
    change = await world.grant.execute(SUPER, grant(KIMS, "org:admin"))
    assert (change.changed, change.roles, change.org_role) == (True, ("org:admin",), None)
    assert await world.roles(KIMS, HIRE) == ("org:admin",)
    assert all([await world.membership(org, HIRE) is None for org in sorted(world.orgs)])


async def test_the_user_is_verified_with_the_identity_provider_first(world: World) -> None:
    before = await world.state()
    with pytest.raises(UserNotFound):
        await world.grant.execute(SUPER, grant(APOLLO, "org:admin", user_id="user_nobody"))
    assert await world.state() == before


async def test_granting_a_held_role_again_is_a_successful_no_op(world: World) -> None:
    first = await world.grant.execute(SUPER, grant(APOLLO, "org:mso:doctor"))
    after_first = await world.state()
    world.clock.advance(timedelta(days=1))
    again = await world.grant.execute(APOLLO_ADMIN, grant(APOLLO, "org:mso:doctor"))
    assert first.changed is True
    assert (again.changed, again.roles, again.org_role) == (
        False,
        ("org:mso:doctor",),
        "org:mso:doctor",
    )
    assert await world.state() == after_first  # no second audit entry, the first grant kept
    stored = await world.stored_grant(APOLLO, HIRE, "org:mso:doctor")
    assert stored is not None
    assert stored.granted_by == "user_owner"


async def test_a_held_role_is_not_checked_with_the_identity_provider_again(
    world: World,
) -> None:
    """The user was verified when the role was first granted."""
    await world.add_role(KIMS, "user_gone", "org:admin")  # unknown to the identity provider
    again = await world.grant.execute(SUPER, grant(KIMS, "org:admin", user_id="user_gone"))
    assert again.changed is False


async def test_granting_in_an_unknown_tenant_is_not_found(world: World) -> None:
    before = await world.state()
    with pytest.raises(TenantNotFound):
        await world.grant.execute(SUPER, grant("nowhere", "org:admin"))
    assert await world.state() == before


@pytest.mark.parametrize("use_case", ["grant", "revoke"])
async def test_an_unknown_role_is_a_422_class_refusal(world: World, use_case: str) -> None:
    before = await world.state()
    attempt = (
        world.grant.execute(SUPER, grant(APOLLO, UNKNOWN_ROLE))
        if use_case == "grant"
        else world.revoke.execute(SUPER, revoke(APOLLO, UNKNOWN_ROLE, "user_apollo_admin"))
    )
    with pytest.raises(RoleNotAllowed) as caught:
        await attempt
    assert (caught.value.unknown, caught.value.field) == (True, "role")
    assert await world.state() == before


async def test_the_role_is_checked_before_the_user_is_looked_up(world: World) -> None:
    with pytest.raises(RoleNotAllowed):
        await world.grant.execute(SUPER, grant(APOLLO, UNKNOWN_ROLE, user_id="user_nobody"))


async def test_a_platform_role_means_nothing_in_a_tenants_organisation(world: World) -> None:
    for role in sorted(PLATFORM_ONLY_ROLES):
        with pytest.raises(RoleNotAllowed) as caught:
            await world.grant.execute(SUPER, grant(APOLLO, role))
        assert (caught.value.unknown, caught.value.field) == (True, "role")
    assert world.audit() == []


async def test_a_bad_user_id_and_a_bad_role_are_named_together(world: World) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await world.grant.execute(
            SUPER, GrantRoleCommand(tenant_id=APOLLO, user_id="user with spaces", role="ORG:ADMIN")
        )
    assert fields_of(caught.value.errors) == ["role", "user_id"]
    assert world.audit() == []


@pytest.mark.parametrize("use_case", ["grant", "revoke"])
async def test_a_malformed_user_id_is_refused_by_grants_and_revokes_alike(
    world: World, use_case: str
) -> None:
    """A revoke is checked like a grant: a malformed user id is a 422, not a no-op."""
    before = await world.state()
    command = (grant if use_case == "grant" else revoke)(APOLLO, "org:admin", "user with spaces")
    with pytest.raises(ValidationFailed) as caught:
        await getattr(world, use_case).execute(SUPER, command)
    assert fields_of(caught.value.errors) == ["user_id"]
    with pytest.raises(ValidationFailed) as caught:
        await getattr(world, use_case).execute(
            SUPER,
            (grant if use_case == "grant" else revoke)(APOLLO, "ORG:ADMIN", "user with spaces"),
        )
    assert fields_of(caught.value.errors) == ["role", "user_id"]
    assert await world.state() == before


@pytest.mark.parametrize(
    ("caller", "tenant_id", "role"),
    [
        (PLATFORM_ADMIN, PLATFORM_TENANT_ID, "org:super_admin"),
        (APOLLO_ADMIN, APOLLO, "org:super_admin"),
        (APOLLO_ADMIN, APOLLO, "org:coordinator"),
        (APOLLO_PROVIDER_ADMIN, APOLLO, "org:coordinator"),
    ],
    ids=[
        "platform admin makes a super-admin",
        "tenant admin makes a super-admin",
        "tenant admin grants a platform role",
        "provider admin grants a platform role",
    ],
)
async def test_escalation_is_refused_without_a_trace(
    world: World, caller: Principal, tenant_id: str, role: str
) -> None:
    before = await world.state()
    with pytest.raises(RoleNotAllowed) as caught:
        await world.grant.execute(caller, grant(tenant_id, role))
    assert caught.value.unknown is False
    assert await world.state() == before


@pytest.mark.parametrize(
    ("caller", "tenant_id"),
    [
        (APOLLO_ADMIN, BUMRUNGRAD),
        (APOLLO_ADMIN, PLATFORM_TENANT_ID),
        (APOLLO_PROVIDER_ADMIN, PLATFORM_TENANT_ID),
        (COORDINATOR, APOLLO),
        (APOLLO_STAFF, APOLLO),
    ],
    ids=[
        "tenant admin, other tenant",
        "tenant admin, platform",
        "provider admin, platform",
        "coordinator",
        "staff",
    ],
)
async def test_managing_roles_needs_tenant_manage_reaching_the_tenant(
    world: World, caller: Principal, tenant_id: str
) -> None:
    before = await world.state()
    with pytest.raises(InsufficientPermission):
        await world.grant.execute(caller, grant(tenant_id, "org:provider:staff"))
    with pytest.raises(InsufficientPermission):
        await world.revoke.execute(caller, revoke(tenant_id, "org:provider:staff"))
    assert await world.state() == before


async def test_a_tenant_admin_manages_roles_in_its_own_tenant(world: World) -> None:
    granted = await world.grant.execute(APOLLO_PROVIDER_ADMIN, grant(APOLLO, "org:admin"))
    assert granted.org_role == "org:admin"  # equal permissions: not an escalation
    revoked = await world.revoke.execute(
        APOLLO_ADMIN, revoke(APOLLO, "org:provider:staff", user_id="user_apollo_staff")
    )
    assert (revoked.changed, revoked.roles, revoked.org_role) == (True, (), None)
    assert await world.membership(APOLLO_ORG, "user_apollo_staff") is None
    assert [(e.action, e.actor_id) for e in world.audit()] == [
        ("user_role.assign", "user_apollo_pa"),
        ("user_role.revoke", "user_apollo_admin"),
    ]


async def test_the_membership_carries_the_strongest_role(world: World) -> None:
    for role, carried in [
        ("org:mso:doctor", "org:mso:doctor"),
        ("org:provider:admin", "org:provider:admin"),
        ("org:provider:staff", "org:provider:admin"),
    ]:
        change = await world.grant.execute(SUPER, grant(APOLLO, role))
        assert change.org_role == carried
        assert await world.membership(APOLLO_ORG, HIRE) == carried
    assert await world.roles(APOLLO, HIRE) == (
        "org:mso:doctor",
        "org:provider:admin",
        "org:provider:staff",
    )


async def test_granting_a_weaker_role_never_lowers_an_existing_membership(
    world: World,
) -> None:
    await world.add_member(APOLLO_ORG, HIRE, "org:admin")
    await world.grant.execute(SUPER, grant(APOLLO, "org:mso:doctor"))
    assert await world.membership(APOLLO_ORG, HIRE) == "org:admin"


# --- revoking -----------------------------------------------------------------------------------


async def test_a_revoke_falls_back_to_the_next_strongest_role(world: World) -> None:
    for role in ("org:admin", "org:provider:staff", "org:mso:doctor"):
        await world.grant.execute(SUPER, grant(APOLLO, role))
    for role, left, carried in [
        ("org:admin", ("org:mso:doctor", "org:provider:staff"), "org:provider:staff"),
        ("org:provider:staff", ("org:mso:doctor",), "org:mso:doctor"),
        ("org:mso:doctor", (), None),
    ]:
        change = await world.revoke.execute(APOLLO_ADMIN, revoke(APOLLO, role))
        assert (change.changed, change.roles, change.org_role) == (True, left, carried)
        assert await world.membership(APOLLO_ORG, HIRE) == carried
    first, _, last = world.audit("user_role.revoke")
    assert first.before == {
        "user_id": HIRE,
        "roles": ["org:admin", "org:mso:doctor", "org:provider:staff"],
        "org_role": "org:admin",
    }
    assert first.after == {
        "user_id": HIRE,
        "roles": ["org:mso:doctor", "org:provider:staff"],
        "org_role": "org:provider:staff",
        "revoked": "org:admin",
    }
    assert (last.after or {})["org_role"] is None
    assert (first.actor_id, first.request_id) == ("user_apollo_admin", REQUEST_ID)


async def test_revoking_a_role_not_held_is_a_successful_no_op(world: World) -> None:
    before = await world.state()
    change = await world.revoke.execute(
        SUPER, revoke(APOLLO, "org:provider:admin", user_id="user_apollo_staff")
    )
    assert (change.changed, change.roles, change.org_role) == (
        False,
        ("org:provider:staff",),
        "org:provider:staff",
    )
    assert await world.state() == before


async def test_the_last_platform_super_admin_cannot_be_revoked(world: World) -> None:
    before = await world.state()
    with pytest.raises(RoleNotAllowed) as caught:
        await world.revoke.execute(
            SUPER, revoke(PLATFORM_TENANT_ID, "org:super_admin", user_id="user_owner")
        )
    assert caught.value.unknown is False
    assert await world.state() == before
    await world.grant.execute(SUPER, grant(PLATFORM_TENANT_ID, "org:super_admin", "user_second"))
    await world.revoke.execute(
        SUPER, revoke(PLATFORM_TENANT_ID, "org:super_admin", user_id="user_owner")
    )
    assert await world.membership(PLATFORM_ORG, "user_owner") is None
    with pytest.raises(RoleNotAllowed):
        await world.revoke.execute(
            SUPER, revoke(PLATFORM_TENANT_ID, "org:super_admin", user_id="user_second")
        )
    assert await world.membership(PLATFORM_ORG, "user_second") == "org:super_admin"
    [entry] = world.audit("user_role.revoke")
    assert (entry.tenant_id, entry.resource_id) == (None, "user_owner")


async def test_revoking_super_admin_from_a_user_without_it_is_a_no_op_beside_the_last_one(
    world: World,
) -> None:
    """The last super-admin rule protects the holder: a revoke for someone who does not hold
    the role is the usual successful no-op, even while only one super-admin is left."""
    before = await world.state()
    change = await world.revoke.execute(
        SUPER, revoke(PLATFORM_TENANT_ID, "org:super_admin", user_id="user_second")
    )
    assert change.changed is False
    assert await world.state() == before


async def test_nobody_revokes_a_role_stronger_than_their_own(world: World) -> None:
    await world.add_role(PLATFORM_TENANT_ID, "user_second", "org:super_admin")
    before = await world.state()
    with pytest.raises(RoleNotAllowed) as caught:
        await world.revoke.execute(
            PLATFORM_ADMIN, revoke(PLATFORM_TENANT_ID, "org:super_admin", user_id="user_owner")
        )
    assert caught.value.unknown is False
    assert await world.state() == before


async def test_tenant_scoped_callers_do_not_revoke_platform_roles(world: World) -> None:
    with pytest.raises(RoleNotAllowed) as caught:
        await world.revoke.execute(APOLLO_ADMIN, revoke(APOLLO, "org:coordinator"))
    assert caught.value.unknown is False


# --- properties ---------------------------------------------------------------------------------

#: Every caller SPEC §5 knows: each role in a platform org and in a tenant's org (Apollo's),
#: and a user without an organisation.
CALLERS: list[tuple[str | None, OrgKind | None]] = [
    *((role, kind) for kind in OrgKind for role in SPEC_ROLES),
    (None, None),
]
TARGETS = [APOLLO, BUMRUNGRAD, PLATFORM_TENANT_ID]


def make_caller(role: str | None, kind: OrgKind | None) -> Principal:
    if kind is None:
        return caller_without_org("user_caller")
    if kind is OrgKind.PLATFORM:
        return platform_caller(role or "", user_id="user_caller")
    return tenant_caller(role or "", APOLLO, user_id="user_caller")


def spec_answer(
    role: str | None, kind: OrgKind | None, target: str, wanted: str, *, granting: bool
) -> str:
    """What SPEC §5 (and ADR 0031) say a grant or revoke of `wanted` in `target` gives."""
    held = spec_permissions(role, kind) if kind is not None else frozenset()
    is_super = Permission.SUPER_ADMIN in held
    reaches = kind is OrgKind.PLATFORM or (kind is OrgKind.TENANT and target == APOLLO)
    if not is_super and not (Permission.TENANT_MANAGE in held and reaches):
        return "forbidden"  # AUTH_INSUFFICIENT_PERMISSION
    if wanted not in SPEC_ROLES:
        return "unknown role"  # ROLE_NOT_ALLOWED 422
    if kind is OrgKind.TENANT and wanted in PLATFORM_ONLY_ROLES:
        return "not allowed"  # tenant-scoped callers grant only tenant roles: 403
    target_kind = OrgKind.PLATFORM if target == PLATFORM_TENANT_ID else OrgKind.TENANT
    if granting and wanted not in ROLES_OF[target_kind]:
        return "unknown role"  # no such role in that kind of organisation: 422
    if not is_super and not spec_permissions(wanted, target_kind) <= held:
        return "not allowed"  # no escalation: 403
    if granting:
        return "changed"
    return "changed" if wanted in ROLES_OF[target_kind] else "no-op"


async def outcome(attempt: Awaitable[RoleChange]) -> tuple[str, RoleChange | None]:
    try:
        change = await attempt
    except InsufficientPermission:
        return "forbidden", None
    except RoleNotAllowed as refused:
        return ("unknown role" if refused.unknown else "not allowed"), None
    return ("changed" if change.changed else "no-op"), change


@settings(max_examples=400, deadline=None)
@given(
    caller=st.sampled_from(CALLERS),
    target=st.sampled_from(TARGETS),
    role=st.sampled_from([*SPEC_ROLES, UNKNOWN_ROLE]),
)
async def test_a_grant_succeeds_exactly_when_the_spec_allows_it(
    caller: tuple[str | None, OrgKind | None], target: str, role: str
) -> None:
    """For any caller and role of the default policy: a caller who may manage the tenant
    grants a role of that organisation iff the role's permissions ⊆ the caller's."""
    world = await make_world()
    before = await world.state()
    principal = make_caller(*caller)
    result, change = await outcome(world.grant.execute(principal, grant(target, role)))
    assert result == spec_answer(*caller, target, role, granting=True)
    if result != "changed":
        assert await world.state() == before
        return
    assert change is not None
    assert await world.roles(target, HIRE) == (role,)
    org = PLATFORM_ORG if target == PLATFORM_TENANT_ID else org_of(target)
    assert await world.membership(org, HIRE) == role
    [entry] = world.audit()
    assert (entry.action, entry.actor_id, entry.actor_role) == (
        "user_role.assign",
        "user_caller",
        principal.role,
    )


@settings(max_examples=400, deadline=None)
@given(
    caller=st.sampled_from(CALLERS),
    target=st.sampled_from(TARGETS),
    role=st.sampled_from([*SPEC_ROLES, UNKNOWN_ROLE]),
)
async def test_a_revoke_succeeds_exactly_when_the_spec_allows_it(
    caller: tuple[str | None, OrgKind | None], target: str, role: str
) -> None:
    """The new hire holds every role of each organisation (and is not the last super-admin):
    nobody revokes a role that gives more than they hold."""
    world = await make_world()
    target_kind = OrgKind.PLATFORM if target == PLATFORM_TENANT_ID else OrgKind.TENANT
    for tenant_id, kind in ((APOLLO, OrgKind.TENANT), (BUMRUNGRAD, OrgKind.TENANT)):
        for held in sorted(ROLES_OF[kind]):
            await world.add_role(tenant_id, HIRE, held)
    for held in sorted(ROLES_OF[OrgKind.PLATFORM]):
        await world.add_role(PLATFORM_TENANT_ID, HIRE, held)
    before = await world.state()
    principal = make_caller(*caller)
    result, change = await outcome(world.revoke.execute(principal, revoke(target, role)))
    assert result == spec_answer(*caller, target, role, granting=False)
    if result != "changed":
        assert await world.state() == before
        return
    left = set(ROLES_OF[target_kind]) - {role}
    assert set(await world.roles(target, HIRE)) == left
    org = PLATFORM_ORG if target == PLATFORM_TENANT_ID else org_of(target)
    assert await world.membership(org, HIRE) == strongest(target_kind, left)
    assert change is not None
    assert change.org_role == strongest(target_kind, left)
    assert [e.action for e in world.audit()] == ["user_role.revoke"]


tenant_roles = sorted(ROLES_OF[OrgKind.TENANT])


@settings(max_examples=100, deadline=None)
@given(
    granted=st.lists(st.sampled_from(tenant_roles), min_size=1, max_size=8),
    data=st.data(),
)
async def test_the_membership_always_carries_the_strongest_role_held(
    granted: list[str], data: st.DataObject
) -> None:
    """Grants in any order (repeats included), then revokes in any order: after every step
    the membership carries the strongest role left, and none once the last is gone."""
    world = await make_world()
    held: set[str] = set()
    for role in granted:
        change = await world.grant.execute(SUPER, grant(APOLLO, role))
        assert change.changed is (role not in held)
        held.add(role)
        assert change.org_role == strongest(OrgKind.TENANT, held)
        assert await world.membership(APOLLO_ORG, HIRE) == strongest(OrgKind.TENANT, held)
    for role in data.draw(st.permutations(sorted(held))):
        held.discard(role)
        change = await world.revoke.execute(APOLLO_ADMIN, revoke(APOLLO, role))
        assert change.org_role == strongest(OrgKind.TENANT, held)
        assert await world.membership(APOLLO_ORG, HIRE) == strongest(OrgKind.TENANT, held)
    assert len(world.audit("user_role.assign")) == len(set(granted))
    assert len(world.audit("user_role.revoke")) == len(set(granted))
