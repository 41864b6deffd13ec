"""Use cases that read, then write what they read: on every backend, a failure after the first
write leaves nothing, and two concurrent changes of one record never write a stale view."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from adapters.memory.identity import InMemoryIdentityProvider
from adapters.memory.runtime import SequentialIds
from adapters.system.runtime import SystemClock
from admin_core.audit.model import AuditFilter
from admin_core.directory.model import Provider
from admin_core.kernel.principal import Principal
from admin_core.kernel.transaction import Transactions
from admin_core.mso_doctors.rules import UPDATABLE_FIELDS
from admin_core.mso_doctors.use_cases import (
    OnboardMsoDoctor,
    OnboardMsoDoctorCommand,
    UpdateMsoDoctor,
    UpdateMsoDoctorCommand,
)
from admin_core.tenants.errors import TenantAlreadyExists
from admin_core.tenants.known import KnownTenants
from admin_core.tenants.model import OrgMapping, Tenant, TenantStatus
from admin_core.tenants.rules import settings_view
from admin_core.tenants.use_cases import (
    CreateTenant,
    CreateTenantCommand,
    UpdateTenant,
    UpdateTenantCommand,
)
from admin_core.users.model import UserContact, UserRole
from admin_core.users.ports import IdentityUser, OrgMembership
from admin_core.users.use_cases import RevokeRole, RevokeRoleCommand
from tests.support.faults import FaultyTransactions, InjectedFailure
from tests.support.use_cases import role_changes

ACTOR = Principal.operator("tester", request_id="t-1")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ORG = "org_apollo"


class _NoCache:
    def forget_org(self, org_id: str) -> None:
        return None


class SlowMemberships(InMemoryIdentityProvider):
    """The in-memory identity provider, answering membership changes after a pause: a
    transaction that calls it waits there, as it does on the network."""

    async def update_membership(self, org_id: str, user_id: str, role: str) -> OrgMembership:
        await asyncio.sleep(0.02)
        return await super().update_membership(org_id, user_id, role)

    async def delete_membership(self, org_id: str, user_id: str) -> None:
        await asyncio.sleep(0.02)
        await super().delete_membership(org_id, user_id)


async def _tenant(uow: Transactions, tenant_id: str, *, org_id: str | None = None) -> None:
    async with uow() as tx:
        provider_id = f"prv_{tenant_id}"
        await tx.providers.add(
            Provider(
                id=provider_id,
                name=tenant_id,
                country=None,
                city=None,
                created_at=T0,
                updated_at=T0,
            )
        )
        await tx.tenants.add(
            Tenant(
                id=tenant_id,
                name=tenant_id,
                status=TenantStatus.ACTIVE,
                provider_id=provider_id,
                created_at=T0,
                updated_at=T0,
            )
        )
        if org_id is not None:
            await tx.org_mappings.add(OrgMapping(org_id=org_id, tenant_id=tenant_id, created_at=T0))
        await tx.commit()


async def _provider(uow: Transactions, provider_id: str) -> None:
    async with uow() as tx:
        await tx.providers.add(
            Provider(
                id=provider_id,
                name="Lone Clinic",
                country=None,
                city=None,
                created_at=T0,
                updated_at=T0,
            )
        )
        await tx.commit()


@pytest.mark.parametrize("failure", ["taken organisation", "failed commit"])
async def test_a_tenant_create_that_fails_after_its_insert_leaves_no_tenant(
    uow: Transactions, failure: str
) -> None:
    await _tenant(uow, "apollo", org_id=ORG)
    await _provider(uow, "prv_lone")
    create = CreateTenant(
        FaultyTransactions(uow, fail_commit=failure == "failed commit"),
        SystemClock(),
        SequentialIds(),
        _NoCache(),
        platform_orgs=["org_platform"],
    )
    command = CreateTenantCommand(
        provider_id="prv_lone", clerk_org_id=ORG if failure == "taken organisation" else None
    )
    with pytest.raises(TenantAlreadyExists if failure == "taken organisation" else InjectedFailure):
        await create.execute(ACTOR, command)
    async with uow() as tx:
        assert await tx.tenants.get_by_provider("prv_lone") is None
        assert (await tx.tenants.list(limit=50, offset=0)).total == 1
        assert await tx.audit.count(AuditFilter()) == 0


async def test_concurrent_updates_of_one_tenant_keep_both_settings(uow: Transactions) -> None:
    await _tenant(uow, "apollo")
    update = UpdateTenant(uow, SystemClock())

    async def change(settings: dict[str, str]) -> None:
        await update.execute(ACTOR, UpdateTenantCommand(tenant_id="apollo", settings=settings))

    await asyncio.gather(change({"timezone": "Asia/Dubai"}), change({"default_currency": "INR"}))
    async with uow() as tx:
        tenant = await tx.tenants.get("apollo")
        entries = await tx.audit.query(AuditFilter(), before=None, limit=10)
    assert tenant is not None
    assert (tenant.settings.timezone, tenant.settings.default_currency) == ("Asia/Dubai", "INR")
    # Each entry's `before` is what the other change left: no change was computed on a stale view.
    last, first = entries
    assert last.before == first.after


async def test_concurrent_revokes_of_two_roles_leave_no_role_and_no_membership(
    uow: Transactions,
) -> None:
    await _tenant(uow, "apollo", org_id=ORG)
    roles = ("org:provider:admin", "org:provider:staff")
    async with uow() as tx:
        await tx.users.upsert(UserContact(id="user_d", email=None, name=None, updated_at=T0))
        for role in roles:
            await tx.user_roles.add(
                UserRole(
                    tenant_id="apollo",
                    user_id="user_d",
                    role=role,
                    granted_by="seed",
                    granted_at=T0,
                )
            )
        await tx.commit()
    identity = SlowMemberships(
        users=[IdentityUser(id="user_d", email=None, name=None)],
        memberships=[OrgMembership(org_id=ORG, user_id="user_d", role="org:provider:admin")],
    )
    # Two replicas (no lock shared in memory): the database keeps their changes apart.
    replicas = [RevokeRole(role_changes(uow, identity, clock=SystemClock())) for _ in roles]
    changes = await asyncio.gather(
        *(
            revoke.execute(
                ACTOR, RevokeRoleCommand(tenant_id="apollo", user_id="user_d", role=role)
            )
            for revoke, role in zip(replicas, roles, strict=True)
        )
    )
    assert sorted(len(change.roles) for change in changes) == [0, 1]
    async with uow() as tx:
        assert await tx.user_roles.roles_of("apollo", "user_d") == ()
    assert (await identity.list_memberships(ORG)).memberships == []


async def test_updates_giving_every_field_as_stored_write_nothing(uow: Transactions) -> None:
    """The rule of docs/adr/0042 on every backend: the values read back from storage compare
    equal to the same values given again, so nothing is written and nothing audited."""
    await _tenant(uow, "apollo")
    clock = SystemClock()
    settings = {"payments_provider": "razorpay", "default_currency": "INR", "timezone": "UTC"}
    tenant = await UpdateTenant(uow, clock).execute(
        ACTOR, UpdateTenantCommand(tenant_id="apollo", name="Apollo", settings=settings)
    )
    doctor = await OnboardMsoDoctor(uow, KnownTenants(uow), clock, SequentialIds()).execute(
        ACTOR,
        OnboardMsoDoctorCommand(
            tenant_id="apollo",
            full_name="Dr. Lakshmi Ramanathan",
            email="l.ramanathan@apollo.example",
            specialty="cardiology",
            languages=["en", "ta"],
            countries=["IN"],
            license_number="TNMC-48213",
            consultation_fee_minor=300_000,
            currency="INR",
            available_from="2026-03-01",
            timezone="Asia/Kolkata",
            clerk_user_id="user_2lakshmi",
        ),
    )
    async with uow() as tx:
        entries = await tx.audit.count(AuditFilter())
        stored = await tx.mso_doctors.get(doctor.id)
    assert stored is not None
    again = await UpdateTenant(uow, clock).execute(
        ACTOR,
        UpdateTenantCommand(
            tenant_id="apollo",
            name=tenant.tenant.name,
            status=tenant.tenant.status,
            settings=settings_view(tenant.tenant.settings),
        ),
    )
    same = await UpdateMsoDoctor(uow, clock).execute(
        ACTOR,
        UpdateMsoDoctorCommand(
            doctor_id=doctor.id, **{f: getattr(stored, f) for f in UPDATABLE_FIELDS}
        ),
    )
    assert (again.changed, same.changed) == (False, False)
    async with uow() as tx:
        assert await tx.audit.count(AuditFilter()) == entries
        assert await tx.tenants.get("apollo") == tenant.tenant
        assert await tx.mso_doctors.get(doctor.id) == stored
