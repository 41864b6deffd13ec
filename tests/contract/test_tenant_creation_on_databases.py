"""Provider + tenant creation on every database: all or nothing, and one winner when two
requests race for the same tenant id (through the real app on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from adapters.memory.runtime import SequentialIds
from adapters.sql.engine import create_engine
from adapters.sql.migrate import upgrade
from adapters.system.runtime import SystemClock
from admin_core.directory.model import Provider
from admin_core.kernel.principal import Principal
from admin_core.kernel.transaction import Transactions
from admin_core.tenants.use_cases import (
    CreateProviderCommand,
    CreateProviderWithTenant,
    NewProvider,
    NewTenant,
)
from entrypoints.container import Container, aclose, build_container
from entrypoints.demo.seed import seed_demo
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.support.databases import postgres_urls, truncate_postgres
from tests.support.faults import FaultyTransactions, InjectedFailure

ACTOR = Principal.operator("tester", request_id="t-1")


class _NoCache:
    def forget_org(self, org_id: str) -> None:
        return None


async def test_a_failure_after_the_provider_insert_leaves_neither(
    uow: Transactions,
) -> None:
    create = CreateProviderWithTenant(
        FaultyTransactions(uow, fail_tenant_add=True),
        SystemClock(),
        SequentialIds(),
        _NoCache(),
        platform_orgs=["org_platform"],
    )
    with pytest.raises(InjectedFailure):
        await create.execute(
            ACTOR,
            CreateProviderCommand(
                provider=NewProvider(name="Half Hospital", accreditations=["JCI"]),
                tenant=NewTenant(id="half-hospital"),
                clerk_org_id="org_half",
            ),
        )
    async with uow() as tx:
        assert await tx.providers.get("prv_000001") is None
        assert await tx.tenants.get("half-hospital") is None
        assert (await tx.tenants.list(limit=50, offset=0)).total == 0
        assert await tx.org_mappings.tenant_for_org("org_half") is None


async def test_the_same_draft_without_the_failure_creates_both(uow: Transactions) -> None:
    create = CreateProviderWithTenant(
        uow, SystemClock(), SequentialIds(), _NoCache(), platform_orgs=["org_platform"]
    )
    created = await create.execute(
        ACTOR,
        CreateProviderCommand(
            provider=NewProvider(name="Whole Hospital", accreditations=["JCI"]),
            tenant=NewTenant(id="whole-hospital"),
        ),
    )
    async with uow() as tx:
        assert await tx.providers.get(created.provider.id) == created.provider
        assert await tx.tenants.get("whole-hospital") == created.tenant.tenant


# --- through the app, on SQLite and PostgreSQL -----------------------------------------------


@dataclass
class SqlApi:
    """The real app called in this event loop (httpx's ASGI transport), so two requests
    really run at the same time against the database."""

    client: httpx.AsyncClient
    container: Container
    url: str

    def auth(self) -> dict[str, str]:
        token = self.container.auth.token_issuer().mint(
            user_id="user_racer", org_id="org_platform", role="org:admin"
        )
        return {"Authorization": f"Bearer {token}"}

    async def post(self, path: str, body: dict[str, Any]) -> int:
        response = await self.client.post(path, json=body, headers=self.auth())
        return response.status_code

    async def scalar(self, sql: str) -> Any:
        engine = create_engine(self.url)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(sa.text(sql))).scalar()
        finally:
            await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def sql_api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlApi]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'admin_core.db'}"
        await upgrade(url)
    else:
        url, owner_url = postgres_urls()
        await truncate_postgres(owner_url)
    container = build_container(Settings(database_url=url, local_key_path=tmp_path / "signing.pem"))
    try:
        await seed_demo(container)
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://admin.test") as client:
            yield SqlApi(client=client, container=container, url=url)
    finally:
        await aclose(container)


async def test_two_concurrent_provider_creates_of_one_tenant_id(sql_api: SqlApi) -> None:
    def create(n: int) -> Awaitable[int]:
        body = {"provider": {"name": f"Racing Hospital {n}"}, "tenant": {"id": "racing"}}
        return sql_api.post("/api/v1/admin/providers", body)

    assert sorted(await asyncio.gather(create(1), create(2))) == [201, 409]
    providers = await sql_api.scalar(
        "select count(*) from providers where name like 'Racing Hospital %'"
    )
    assert providers == 1  # the loser's provider was rolled back with its tenant
    assert await sql_api.scalar("select count(*) from tenants where id = 'racing'") == 1


async def test_two_concurrent_tenant_creates_of_one_tenant_id(sql_api: SqlApi) -> None:
    """The legacy path: two providers without a tenant, both asking for the same tenant id."""
    now = datetime.now(UTC)
    async with sql_api.container.database.transactions()() as tx:
        for n in (1, 2):
            await tx.providers.add(
                Provider(
                    id=f"prv_free_{n}",
                    name=f"Free Clinic {n}",
                    country=None,
                    city=None,
                    created_at=now,
                    updated_at=now,
                )
            )
        await tx.commit()

    def create(provider_id: str) -> Awaitable[int]:
        body = {"provider_id": provider_id, "tenant_id": "contested"}
        return sql_api.post("/api/v1/admin/tenants", body)

    assert sorted(await asyncio.gather(create("prv_free_1"), create("prv_free_2"))) == [201, 409]
    assert await sql_api.scalar("select count(*) from tenants where id = 'contested'") == 1
