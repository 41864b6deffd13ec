"""Where the benchmarks find the services `make services` started: the environment first,
then `var/services.env`."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.migrate import upgrade_engine

ROOT = Path(__file__).resolve().parents[1]


def optional_setting(name: str) -> str | None:
    """`name` from the environment, else from `var/services.env`; None when neither has it."""
    value = os.environ.get(name)
    if value:
        return value
    env = ROOT / "var" / "services.env"
    if env.exists():
        for line in env.read_text().splitlines():
            key, _, found = line.strip().partition("=")
            if key == name and found:
                return found
    return None


def setting(name: str) -> str:
    """`optional_setting`, or stop the benchmark saying how to get it."""
    value = optional_setting(name)
    if value is None:
        raise SystemExit(f"{name} is not set; run `make services`")
    return value


def dsn(url: str) -> str:
    """The asyncpg form of a SQLAlchemy PostgreSQL URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


def on_database(url: str, database_of: str) -> str:
    """`url` (its user and server) on the database that `database_of` names."""
    return f"{url.rsplit('/', 1)[0]}/{database_of.rsplit('/', 1)[1]}"


async def fresh_schema(owner_url: str, schema: str, app_role: str, engine: AsyncEngine) -> None:
    """Drop `schema`, create it again and migrate it as the owner, through `engine` (whose
    search_path is the schema; disposed of here), granting `app_role` what it needs."""
    connection = await asyncpg.connect(dsn(owner_url))
    try:
        await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await connection.execute(f"CREATE SCHEMA {schema}")
        await connection.execute(f'GRANT USAGE ON SCHEMA {schema} TO "{app_role}"')
    finally:
        await connection.close()
    try:
        await upgrade_engine(engine, app_role=app_role)
    finally:
        await engine.dispose()
