"""Provider, tenant and org-mapping repositories on SQLAlchemy Core."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.errors import violated_constraint
from adapters.sql.pages import page_and_total, with_total
from adapters.sql.reads import Read
from adapters.sql.tables import (
    accreditations,
    provider_accreditations,
    providers,
    tenant_org_mappings,
    tenant_settings,
    tenants,
)
from adapters.sql.types import UtcDateTime
from admin_core.directory.model import Provider
from admin_core.directory.ports import ProviderRepository
from admin_core.kernel.paging import OffsetPage
from admin_core.tenants.errors import TenantAlreadyExists
from admin_core.tenants.model import (
    OrgMapping,
    PaymentsProvider,
    Tenant,
    TenantSettings,
    TenantStatus,
)
from admin_core.tenants.ports import OrgMappingRepository, TenantRepository

_SELECT = sa.select(
    tenants,
    tenant_settings.c.payments_provider,
    tenant_settings.c.data_residency_region,
    tenant_settings.c.default_currency,
    tenant_settings.c.timezone,
).select_from(tenants.outerjoin(tenant_settings, tenant_settings.c.tenant_id == tenants.c.id))


_GET = _SELECT.where(tenants.c.id == sa.bindparam("tenant_id"))
_LOCK = sa.select(tenants.c.id).where(tenants.c.id == sa.bindparam("tenant_id")).with_for_update()
_GET_BY_PROVIDER = _SELECT.where(tenants.c.provider_id == sa.bindparam("provider_id"))


#: Right after a tenant (`after_at`, `after_id`) in the list's order.
_AFTER = sa.tuple_(tenants.c.created_at, tenants.c.id) > sa.tuple_(
    sa.bindparam("after_at", type_=UtcDateTime), sa.bindparam("after_id", type_=sa.Text)
)


@functools.cache
def _page(by_tenant: bool, by_status: bool, after: bool = False) -> Read:
    """A page of tenants with the count of every tenant that matches (`total`), in one
    statement (one snapshot: the total counts what the page was read from, a page past the
    end included), built once per filter shape: building a statement costs more than
    running it."""
    conditions = _conditions(by_tenant, by_status)
    rows = (
        _SELECT.where(*conditions, *([_AFTER] if after else []))
        .order_by(tenants.c.created_at, tenants.c.id)
        .limit(sa.bindparam("limit"))
        .offset(sa.bindparam("offset"))
    )
    count = sa.select(sa.func.count()).select_from(tenants).where(*conditions)
    return Read(with_total(rows, count, ((tenants.c.created_at, False), (tenants.c.id, False))))


def _conditions(by_tenant: bool, by_status: bool) -> list[Any]:
    conditions = []
    if by_tenant:
        conditions.append(tenants.c.id == sa.bindparam("tenant_id"))
    if by_status:
        conditions.append(tenants.c.status == sa.bindparam("status"))
    return conditions


def _tenant(row: Sequence[Any]) -> Tenant:
    """A row of `_SELECT`, by position: the tenant's columns, then its settings'."""
    (id_, name, status, provider_id, created_at, updated_at) = row[:6]
    payments, region, currency, timezone = row[6:10]
    return Tenant(
        id=id_,
        name=name,
        status=TenantStatus(status),
        provider_id=provider_id,
        settings=TenantSettings(
            payments_provider=PaymentsProvider(payments) if payments else None,
            data_residency_region=region,
            default_currency=currency,
            timezone=timezone,
        ),
        created_at=created_at,
        updated_at=updated_at,
    )


def _settings_values(tenant: Tenant) -> dict[str, Any]:
    s = tenant.settings
    return {
        "payments_provider": s.payments_provider.value if s.payments_provider else None,
        "data_residency_region": s.data_residency_region,
        "default_currency": s.default_currency,
        "timezone": s.timezone,
        "updated_at": tenant.updated_at,
    }


class SqlProviderRepository(ProviderRepository):
    """Specialties and languages are JSON lists on the provider row; accreditations live in
    `accreditations` (one row per body, shared) linked through `provider_accreditations`."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def get(self, provider_id: str) -> Provider | None:
        row = (
            await self._connection.execute(
                sa.select(providers).where(providers.c.id == provider_id)
            )
        ).first()
        if row is None:
            return None
        names = (
            await self._connection.scalars(
                sa.select(provider_accreditations.c.accreditation_name)
                .where(provider_accreditations.c.provider_id == provider_id)
                .order_by(provider_accreditations.c.accreditation_name)
            )
        ).all()
        m = row._mapping
        return Provider(
            id=m["id"],
            name=m["name"],
            country=m["country"],
            city=m["city"],
            specialties=tuple(m["specialties"] or ()),
            languages=tuple(m["languages"] or ()),
            accreditations=tuple(names),
            created_at=m["created_at"],
            updated_at=m["updated_at"],
        )

    async def add(self, provider: Provider) -> None:
        await self._connection.execute(
            providers.insert().values(
                id=provider.id,
                name=provider.name,
                country=provider.country,
                city=provider.city,
                specialties=list(provider.specialties),
                languages=list(provider.languages),
                created_at=provider.created_at,
                updated_at=provider.updated_at,
            )
        )
        names = sorted(set(provider.accreditations))
        if not names:
            return
        dialect = self._connection.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        await self._connection.execute(
            insert(accreditations)
            .values([{"name": n} for n in names])
            .on_conflict_do_nothing(index_elements=["name"])
        )
        await self._connection.execute(
            provider_accreditations.insert().values(
                [{"provider_id": provider.id, "accreditation_name": n} for n in names]
            )
        )


class SqlTenantRepository(TenantRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def get(self, tenant_id: str, *, lock: bool = False) -> Tenant | None:
        if lock:
            # Its own statement: a statement that waited for a lock sees the locked row as
            # committed, but the other rows it joins as they were when it began.
            await self._connection.execute(_LOCK, {"tenant_id": tenant_id})
        row = (await self._connection.execute(_GET, {"tenant_id": tenant_id})).first()
        return _tenant(row) if row else None

    async def get_by_provider(self, provider_id: str) -> Tenant | None:
        row = (
            await self._connection.execute(_GET_BY_PROVIDER, {"provider_id": provider_id})
        ).first()
        return _tenant(row) if row else None

    async def list(
        self,
        *,
        tenant_id: str | None = None,
        status: TenantStatus | None = None,
        limit: int,
        offset: int,
        after: tuple[datetime, str] | None = None,
    ) -> OffsetPage[Tenant]:
        values: dict[str, Any] = {"limit": limit, "offset": offset}
        if tenant_id is not None:
            values["tenant_id"] = tenant_id
        if status is not None:
            values["status"] = status.value
        if after is not None:
            values["after_at"], values["after_id"] = after
        shape = (tenant_id is not None, status is not None)
        found = await _page(*shape, after is not None).rows(self._connection, values)
        rows, total = page_and_total(found)
        return OffsetPage(items=[_tenant(r) for r in rows], total=total, limit=limit, offset=offset)

    async def add(self, tenant: Tenant) -> None:
        try:
            async with self._connection.begin_nested():
                await self._connection.execute(
                    tenants.insert().values(
                        id=tenant.id,
                        name=tenant.name,
                        status=tenant.status.value,
                        provider_id=tenant.provider_id,
                        created_at=tenant.created_at,
                        updated_at=tenant.updated_at,
                    )
                )
        except sqlalchemy.exc.IntegrityError as error:
            constraint = violated_constraint(error)
            if constraint == "pk_tenants":
                raise TenantAlreadyExists(details={"tenant_id": tenant.id}) from error
            if constraint == "uq_tenants_provider_id":
                raise TenantAlreadyExists(
                    "The provider already has a tenant.",
                    details={"provider_id": tenant.provider_id},
                ) from error
            raise
        await self._connection.execute(
            tenant_settings.insert().values(tenant_id=tenant.id, **_settings_values(tenant))
        )

    async def update(self, tenant: Tenant) -> None:
        await self._connection.execute(
            tenants.update()
            .where(tenants.c.id == tenant.id)
            .values(name=tenant.name, status=tenant.status.value, updated_at=tenant.updated_at)
        )
        await self._connection.execute(
            tenant_settings.update()
            .where(tenant_settings.c.tenant_id == tenant.id)
            .values(**_settings_values(tenant))
        )


class SqlOrgMappingRepository(OrgMappingRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def tenant_for_org(self, org_id: str) -> str | None:
        return await self._connection.scalar(
            sa.select(tenant_org_mappings.c.tenant_id).where(tenant_org_mappings.c.org_id == org_id)
        )

    async def for_tenant(self, tenant_id: str) -> OrgMapping | None:
        row = (
            await self._connection.execute(
                sa.select(tenant_org_mappings).where(tenant_org_mappings.c.tenant_id == tenant_id)
            )
        ).first()
        if row is None:
            return None
        return OrgMapping(org_id=row.org_id, tenant_id=row.tenant_id, created_at=row.created_at)

    async def add(self, mapping: OrgMapping) -> None:
        """An organisation maps to one tenant and a tenant has one organisation; a taken one
        (also by a concurrent transaction) is TENANT_ALREADY_EXISTS."""
        try:
            async with self._connection.begin_nested():
                await self._connection.execute(
                    tenant_org_mappings.insert().values(
                        org_id=mapping.org_id,
                        tenant_id=mapping.tenant_id,
                        created_at=mapping.created_at,
                    )
                )
        except sqlalchemy.exc.IntegrityError as error:
            if violated_constraint(error) in {
                "pk_tenant_org_mappings",
                "uq_tenant_org_mappings_tenant_id",
            }:
                raise TenantAlreadyExists(
                    "The organisation or the tenant is already mapped.",
                    field="clerk_org_id",
                    details={"clerk_org_id": mapping.org_id, "tenant_id": mapping.tenant_id},
                ) from error
            raise

    async def remove(self, org_id: str) -> None:
        await self._connection.execute(
            tenant_org_mappings.delete().where(tenant_org_mappings.c.org_id == org_id)
        )
