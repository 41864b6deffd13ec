"""Each real test service answers: one round trip per service started by `make services`."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from neo4j import AsyncGraphDatabase
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.services import service_url


@pytest.mark.postgres
async def test_postgres_answers_select_1() -> None:
    engine = create_async_engine(service_url("POSTGRES"))
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT 1"))).scalar_one() == 1
            assert (await conn.execute(sa.text("SELECT current_user"))).scalar_one() == "admin_app"
    finally:
        await engine.dispose()


@pytest.mark.redis
async def test_redis_answers_ping() -> None:
    client = Redis.from_url(service_url("REDIS"))
    try:
        assert await client.ping() is True
    finally:
        await client.aclose()


@pytest.mark.neo4j
async def test_neo4j_answers_over_bolt_and_is_5_26() -> None:
    async with AsyncGraphDatabase.driver(service_url("NEO4J"), auth=None) as driver:
        records, _, _ = await driver.execute_query("RETURN 1 AS one")
        assert records[0]["one"] == 1
        components, _, _ = await driver.execute_query(
            "CALL dbms.components() YIELD name, versions RETURN name, versions"
        )
        versions = {c["name"]: c["versions"] for c in components}
        assert versions["Neo4j Kernel"][0].startswith("5.26."), versions


@pytest.mark.stripe
async def test_stripe_mock_lists_charges() -> None:
    async with httpx.AsyncClient(base_url=service_url("STRIPE"), timeout=10.0) as client:
        response = await client.get("/v1/charges", headers={"Authorization": "Bearer sk_test_123"})
    assert response.status_code == 200, response.text
    assert response.json()["object"] == "list"
