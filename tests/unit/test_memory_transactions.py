"""The in-memory store admits one transaction at a time (docs/embedding.md): an embedder who
calls a use case while holding a transaction open on the same store is told so at once."""

from __future__ import annotations

import asyncio

import pytest

from adapters.memory.runtime import SequentialIds
from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryTransactions, TransactionAlreadyOpen
from admin_core.audit.use_cases import AuditQuery, QueryAuditLog
from admin_core.kernel.principal import Principal
from admin_core.tenants.use_cases import ListTenants, ListTenantsQuery
from tests.support.clock import ManualClock

#: Only keeps a regression from hanging the run; nothing here is about time.
GUARD_SECONDS = 30


def transactions() -> InMemoryTransactions:
    return InMemoryTransactions(InMemoryStore(), ManualClock(), SequentialIds())


async def test_a_use_case_called_inside_an_open_transaction_is_refused_at_once() -> None:
    txs = transactions()
    operator = Principal.operator("ops", request_id="req-1")

    async def nested() -> None:
        async with txs():
            await QueryAuditLog(txs).execute(operator, AuditQuery())

    with pytest.raises(TransactionAlreadyOpen, match="already holds a transaction"):
        await asyncio.wait_for(nested(), GUARD_SECONDS)

    # The refusal left the store usable: the outer transaction was closed as usual.
    page = await ListTenants(txs).execute(operator, ListTenantsQuery())
    assert page.total == 0


async def test_transactions_of_other_tasks_still_wait_their_turn() -> None:
    txs = transactions()
    order: list[str] = []

    async def second() -> None:
        async with txs():
            order.append("second")

    async with txs():
        waiting = asyncio.create_task(second())
        await asyncio.sleep(0)
        order.append("first")
    await asyncio.wait_for(waiting, GUARD_SECONDS)
    assert order == ["first", "second"]
