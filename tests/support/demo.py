"""The demo data set seeded through the real use cases into any database's transactions."""

from __future__ import annotations

from typing import Any

from dependency_injector import providers

from admin_core.kernel.transaction import Transactions
from entrypoints.container import aclose, build_container
from entrypoints.demo.seed import seed_demo
from entrypoints.settings import Settings


async def seed_demo_into(transactions: Transactions[Any]) -> None:
    """Seed the demo set into the database behind `transactions` (an embedded container whose
    database is overridden by it)."""
    container = build_container(Settings(database_url="memory://"))
    container.database.transactions.override(providers.Object(transactions))
    try:
        await seed_demo(container)
    finally:
        await aclose(container)
