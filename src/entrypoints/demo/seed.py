"""Seed the demo data set of the embedded mode through the real use cases, so that its audit
history is genuine: every entry was written by the use case that made the change it records.

Only into a database that holds nothing else (docs/adr/0040-run-modes.md): an empty database
is seeded, one the demo set was seeded into is left as it is, and one that holds any other
data, or a seed cut short, is refused. Production never seeds.
"""

from __future__ import annotations

import contextlib
import enum
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from adapters.sql.locks import held_exclusively
from admin_core.audit.model import AuditFilter
from admin_core.audit.ports import AuditLog
from admin_core.graph.errors import GraphRebuildFailed
from admin_core.graph.use_cases import RebuildCommand
from admin_core.kernel.principal import (
    PLATFORM_TENANT_ID,
    OrgKind,
    Permission,
    Principal,
    Scope,
)
from admin_core.tenants.model import TenantStatus
from admin_core.tenants.use_cases import (
    CreateTenantCommand,
    NewTenant,
    UpdateTenantCommand,
)
from admin_core.users.use_cases import GrantRoleCommand
from entrypoints.container import Container
from entrypoints.demo.data import DEMO_TENANTS, DEMO_USERS, DemoTenant
from entrypoints.demo.directory import demo_directory
from entrypoints.demo.mso_doctors import onboard_demo_doctors
from entrypoints.demo.mso_sessions import demo_sessions

#: Who seeds: the operator who set the platform up (a super-admin, audited as such).
SEEDER = "demo:seed"


#: The story's last step that must happen: a platform admin suspends a tenant (the graph
#: rebuild after it is best effort). Its audit entry, which the log keeps for good, tells a
#: finished seed from one cut short.
CLOSER, CLOSED_TENANT = "user_local_admin", "medanta-gurugram"
CLOSING = AuditFilter(action="tenant.update", actor_id=CLOSER, tenant_id=CLOSED_TENANT)
_PAGE = 100  # entries of the closing kind read at a time while looking for the story's


class SeedState(enum.StrEnum):
    EMPTY = "empty"  # nothing in it: the demo set may go in
    DEMO = "demo"  # the demo set was seeded into it (whatever was done with it since)
    CUT = "cut"  # a seed began and never finished: never seeded again
    OTHER = "other"  # data that is not the demo set: never seeded


class DemoSeedRefused(Exception):
    """The database holds other data, or the mode is production."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeedReport:
    state: SeedState  # what the database held before
    tenants_created: int


async def seed_state(container: Container) -> SeedState:
    async with container.database.transactions()() as tx:
        tenants = await tx.tenants.list(limit=1, offset=0)
        entries = await tx.audit.count(AuditFilter())
        platform_roles = await tx.user_roles.for_tenant(PLATFORM_TENANT_ID)
        if tenants.total == 0 and entries == 0 and not platform_roles:
            return SeedState.EMPTY
        if await _finished(tx.audit):
            return SeedState.DEMO
        begun = await tx.audit.count(AuditFilter(actor_id=SEEDER))
    return SeedState.CUT if begun else SeedState.OTHER


async def _finished(audit: AuditLog) -> bool:
    """Whether the story's closing entry is in the log. The same admin may have changed the
    same tenant since (the local token is theirs): the story's entry is the one whose request
    is the story's (`demo-0001`, ...), however many came after it."""
    before = None
    while True:
        page = await audit.query(CLOSING, before=before, limit=_PAGE)
        if any((e.request_id or "").startswith("demo-") for e in page):
            return True
        if len(page) < _PAGE:
            return False
        before = page[-1].position


async def seed_demo(container: Container) -> SeedReport:
    """Seed an empty database; leave the demo set as it is; refuse anything else. Processes
    that start at once on one database (two `serve`, `serve` and `demo seed`) take turns:
    one seeds, and the others then find the demo set."""
    settings = container.settings()
    if not settings.embedded:
        raise DemoSeedRefused("production mode never seeds demo data")
    timeout = settings.database_statement_timeout_seconds
    async with held_exclusively(settings.database_url, "demo_seed", statement_timeout=timeout):
        return await _seed(container)


async def _seed(container: Container) -> SeedReport:
    state = await seed_state(container)
    if state is SeedState.OTHER:
        raise DemoSeedRefused(
            "the database holds data that is not the demo set; "
            "the demo set goes only into an empty database"
        )
    if state is SeedState.CUT:
        raise DemoSeedRefused(
            "a demo seed of this database was cut short, and what it wrote stays in the audit "
            "log; the demo set goes only into an empty database (delete the SQLite file, or "
            "name an empty database in ADMIN_DATABASE_URL)"
        )
    if state is SeedState.DEMO:
        return SeedReport(state=state, tenants_created=0)
    for step in DemoStory(container).steps():
        await step()
    return SeedReport(state=state, tenants_created=len(DEMO_TENANTS))


Step = Callable[[], Awaitable[None]]


class DemoStory:
    """A few weeks of the platform, told through the use cases in the order they happened."""

    def __init__(self, container: Container) -> None:
        self._c = container
        self._n = 0
        self._operator = Principal(
            user_id=SEEDER,
            org_id=None,
            role="org:super_admin",
            tenant_id=None,
            scope=Scope.PLATFORM,
            permissions=frozenset({Permission.SUPER_ADMIN}),
        )

    def _as(self, principal: Principal) -> Principal:
        self._n += 1
        return replace(principal, request_id=f"demo-{self._n:04d}")

    def _member(
        self, user_id: str, org_id: str | None, role: str, tenant_id: str | None
    ) -> Principal:
        """A user as `Authenticate` would see them: platform org or a tenant's org."""
        kind = OrgKind.TENANT if tenant_id else OrgKind.PLATFORM
        return Principal(
            user_id=user_id,
            org_id=org_id,
            role=role,
            tenant_id=tenant_id,
            scope=Scope.TENANT if tenant_id else Scope.PLATFORM,
            permissions=self._c.auth.role_policy().permissions(role, kind),
        )

    def steps(self) -> Sequence[Step]:
        """The story's steps in order, each its own transactions: a process stopped between
        two leaves the ones before it."""
        return (
            self._directory,
            *(functools.partial(self._onboard, demo) for demo in DEMO_TENANTS),
            self._grant_roles,
            self._settle_time_zones,
            self._sessions,
            self._close,
            self._rebuild,
        )

    def _platform_admin(self) -> Principal:
        return self._member(CLOSER, self._c.settings().platform_org, "org:admin", None)

    async def _close(self) -> None:
        """The last step that must happen; its entry is the mark of a finished seed."""
        await self._c.tenants.update_tenant().execute(
            self._as(self._platform_admin()),
            UpdateTenantCommand(tenant_id=CLOSED_TENANT, status=TenantStatus.SUSPENDED),
        )

    async def _rebuild(self) -> None:
        # A failed rebuild is audited by the rebuild itself; the demo works without a graph.
        with contextlib.suppress(GraphRebuildFailed):
            await self._c.graph.rebuild_graph().execute(
                self._as(self._platform_admin()), RebuildCommand()
            )

    async def _directory(self) -> None:
        """The provider directory is loaded by the services that own it, not by an admin
        action: it is written as rows, with no audit entry."""
        async with self._c.database.transactions()() as tx:
            await tx.directory.write(demo_directory(), now=self._c.runtime.clock().now())
            await tx.commit()

    async def _onboard(self, demo: DemoTenant) -> None:
        """Tenants are created for their directory provider, with their organisation; each
        sets its own time zone later."""
        await self._c.tenants.create_tenant().execute(
            self._as(self._operator),
            CreateTenantCommand(
                provider_id=demo.provider_id,
                tenant=NewTenant(
                    id=demo.tenant_id,
                    name=demo.name,
                    settings={
                        "payments_provider": demo.settings.payments_provider,
                        "data_residency_region": demo.settings.data_residency_region,
                        "default_currency": demo.settings.default_currency,
                    },
                ),
                clerk_org_id=demo.org_id,
            ),
        )

    async def _grant_roles(self) -> None:
        """Platform and tenant admins first (by the operator); then each tenant admin grants
        the roles of their own staff."""
        admins = {
            tenant_id: user
            for user in DEMO_USERS
            for tenant_id, role in user.grants
            if tenant_id != PLATFORM_TENANT_ID and role in {"org:admin", "org:provider:admin"}
        }
        orgs = {t.tenant_id: t.org_id for t in DEMO_TENANTS}
        grant = self._c.users.grant_role()
        for user in DEMO_USERS:
            for tenant_id, role in user.grants:
                granter = self._operator
                admin = admins.get(tenant_id)
                if admin is not None and admin.id != user.id:
                    admin_role = dict(admin.grants)[tenant_id]
                    granter = self._member(admin.id, orgs[tenant_id], admin_role, tenant_id)
                await grant.execute(
                    self._as(granter),
                    GrantRoleCommand(tenant_id=tenant_id, user_id=user.id, role=role),
                )

    async def _settle_time_zones(self) -> None:
        update = self._c.tenants.update_tenant()
        admins = {
            tenant_id: (user.id, role)
            for user in DEMO_USERS
            for tenant_id, role in user.grants
            if role in {"org:admin", "org:provider:admin"}
        }
        for demo in DEMO_TENANTS:
            actor = self._operator
            if demo.tenant_id in admins:
                user_id, role = admins[demo.tenant_id]
                actor = self._member(user_id, demo.org_id, role, demo.tenant_id)
            await update.execute(
                self._as(actor),
                UpdateTenantCommand(
                    tenant_id=demo.tenant_id, settings={"timezone": demo.settings.timezone}
                ),
            )

    async def _sessions(self) -> None:
        """Doctors are onboarded through the use case; second-opinion sessions with them are
        booked and paid by the booking service: written as rows, with no audit entry."""
        doctors = await onboard_demo_doctors(self._c, lambda: self._as(self._operator))
        currencies = {t.tenant_id: t.settings.default_currency or "USD" for t in DEMO_TENANTS}
        sessions = demo_sessions(currencies, doctors, now=self._c.runtime.clock().now())
        async with self._c.database.transactions()() as tx:
            await tx.mso_sessions.add_many(sessions)
            await tx.commit()
