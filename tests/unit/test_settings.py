"""Settings from the environment: what an operator sets is what the process runs with."""

from __future__ import annotations

import pytest

from entrypoints.container import build_container
from entrypoints.settings import ConfigurationError, Settings


def test_the_database_pool_size_comes_from_the_environment() -> None:
    assert Settings.from_env({}).database_pool_size == 4
    assert Settings.from_env({"ADMIN_DATABASE_POOL_SIZE": "8"}).database_pool_size == 8


@pytest.mark.parametrize("value", ["0", "-2", "four", "2.5"])
def test_a_pool_size_that_is_not_a_positive_whole_number_is_refused_by_name(value: str) -> None:
    with pytest.raises(ConfigurationError, match="ADMIN_DATABASE_POOL_SIZE"):
        Settings.from_env({"ADMIN_DATABASE_POOL_SIZE": value})


async def test_the_engine_pool_holds_the_configured_number_of_connections() -> None:
    settings = Settings(
        database_url="postgresql+asyncpg://app:secret@127.0.0.1:1/admin", database_pool_size=7
    )
    container = build_container(settings)
    engine = container.database.engine()
    try:
        assert engine.pool.size() == 7  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
