"""A tenant's organisation changing while its roles change, across replicas (PostgreSQL).

Two engines on one database stand for two replicas. `MapOrganization` locks the tenant's row;
a role change commits under that lock for the organisation it planned for, or plans again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from adapters.memory.identity import InMemoryIdentityProvider
from adapters.sql.engine import create_engine
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.kernel.principal import Principal
from admin_core.kernel.transaction import Transactions
from admin_core.tenants.errors import TenantAlreadyExists
from admin_core.tenants.use_cases import MapOrganization, MapOrganizationCommand
from admin_core.users.ports import IdentityUser
from admin_core.users.use_cases import GrantRole, GrantRoleCommand
from tests.support.databases import database, postgres_urls
from tests.support.flags import add_tenants
from tests.support.use_cases import role_changes

pytestmark = pytest.mark.postgres

ACTOR = Principal.operator("org-races", request_id="r-1")


class NoCache:
    def forget_org(self, org_id: str) -> None:
        return None


class PauseBefore:
    """Transactions that wait, before opening the `nth` one, until told to go on: a replica
    held between two steps of a use case."""

    def __init__(self, inner: Transactions, nth: int) -> None:
        self._inner = inner
        self._nth = nth
        self._opened = 0
        self.reached = asyncio.Event()
        self.resume = asyncio.Event()

    def __call__(self) -> AbstractAsyncContextManager[Any]:
        self._opened += 1
        return self._paused() if self._opened == self._nth else self._inner()

    @asynccontextmanager
    async def _paused(self) -> AsyncIterator[Any]:
        self.reached.set()
        await self.resume.wait()
        async with self._inner() as tx:
            yield tx


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[tuple[Transactions, Transactions]]:
    async with database("postgres", tmp_path) as first:
        app_url, _ = postgres_urls()
        engine = create_engine(app_url)
        try:
            yield first, SqlTransactions(engine, SystemClock(), UlidGenerator())
        finally:
            await engine.dispose()


def map_org(uow: Transactions) -> MapOrganization:
    return MapOrganization(uow, SystemClock(), NoCache(), platform_orgs=())


async def test_a_grant_in_flight_while_the_organisation_moves_lands_in_the_tenants_new_one(
    replicas: tuple[Transactions, Transactions],
) -> None:
    """The grant read org_old; before it committed, an operator moved tenant-t to org_new and
    org_old to tenant-t2. The membership is set in tenant-t's new organisation, never in
    tenant-t2's (which made user_u an admin of a tenant nobody granted anything in)."""
    first, second = replicas
    provider = InMemoryIdentityProvider(users=[IdentityUser(id="user_u", email=None, name=None)])
    await add_tenants(first, "tenant-t", "tenant-t2")
    await map_org(second).execute(
        ACTOR, MapOrganizationCommand(tenant_id="tenant-t", clerk_org_id="org_old")
    )
    # The grant's transactions: its reads (1), the organisation it plans for (2), then the
    # one that commits the grant with the membership's intent (3).
    held = PauseBefore(first, nth=3)
    grant = GrantRole(role_changes(held, provider, clock=SystemClock()))

    async def remap_meanwhile() -> None:
        await held.reached.wait()
        try:
            await map_org(second).execute(
                ACTOR, MapOrganizationCommand(tenant_id="tenant-t", clerk_org_id="org_new")
            )
            await map_org(second).execute(
                ACTOR, MapOrganizationCommand(tenant_id="tenant-t2", clerk_org_id="org_old")
            )
        finally:
            held.resume.set()

    changed, _ = await asyncio.gather(
        grant.execute(
            ACTOR, GrantRoleCommand(tenant_id="tenant-t", user_id="user_u", role="org:admin")
        ),
        remap_meanwhile(),
    )
    assert changed.changed
    members = {
        org: [(m.user_id, m.role) for m in (await provider.list_memberships(org)).memberships]
        for org in ("org_old", "org_new")
    }
    assert members == {"org_old": [], "org_new": [("user_u", "org:admin")]}
    async with first() as tx:
        assert await tx.user_roles.roles_of("tenant-t2", "user_u") == ()
        assert await tx.user_roles.roles_of("tenant-t", "user_u") == ("org:admin",)


async def test_the_same_mapping_sent_twice_at_once_is_one_mapping_and_one_no_op(
    replicas: tuple[Transactions, Transactions],
) -> None:
    """A client's retry that reached another replica: both answer success (mapping the
    organisation the tenant has is a no-op), never 409."""
    first, second = replicas
    await add_tenants(first, "tenant-t")

    async def call(uow: Transactions) -> str:
        try:
            await map_org(uow).execute(
                ACTOR, MapOrganizationCommand(tenant_id="tenant-t", clerk_org_id="org_x")
            )
        except TenantAlreadyExists as error:
            return f"409 {error}"
        return "ok"

    outcomes = []
    for _ in range(5):  # the window is short; a few rounds find it
        async with first() as tx:
            mapping = await tx.org_mappings.for_tenant("tenant-t")
            if mapping is not None:
                await tx.org_mappings.remove(mapping.org_id)
                await tx.commit()
        outcomes.append(await asyncio.gather(call(first), call(second)))
    assert outcomes == [["ok", "ok"]] * 5
