"""Contract of the intent log (`IntentLog`), on every adapter: what an intent holds reads
back as written; its end is recorded once; reconcile finds what is left pending; at most one
intent of a subject is pending at a time; an add still committing elsewhere can be waited
for."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from admin_core.audit.model import AuditRecord
from admin_core.kernel.transaction import Transactions
from admin_core.side_effects.model import Intent, IntentStatus
from admin_core.side_effects.ports import IntentSubjectBusy

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
RECORD = AuditRecord(
    tenant_id="apollo",
    actor_id="user_ops",
    actor_role="org:admin",
    action="user_role.assign",
    event_type="ADMIN_USER_ROLE_ASSIGN",
    resource_type="user_role",
    resource_id="user_a",
    request_id="req-1",
    before={"roles": []},
    after={"roles": ["org:admin"], "nested": {"n": 1.5}},
)


def intent(
    intent_id: str,
    *,
    at: datetime = T0,
    subject: str | None = None,
    kind: str = "identity.membership",
) -> Intent:
    return Intent(
        id=intent_id,
        kind=kind,
        key=f"key-{intent_id}",
        tenant_id="apollo",
        payload={"org_id": "org_a", "user_id": "user_a", "target": None, "list": [1, "two"]},
        audit=(RECORD,),
        status=IntentStatus.PENDING,
        created_at=at,
        updated_at=at,
        lease_until=at + timedelta(seconds=60),
        subject=subject,
    )


async def add(uow: Transactions, *intents: Intent) -> None:
    async with uow() as tx:
        for each in intents:
            await tx.intents.add(each)
        await tx.commit()


async def test_an_intent_reads_back_as_written(uow: Transactions) -> None:
    written = intent("int_1", subject="membership:org_a:user_a")
    await add(uow, written)
    async with uow() as tx:
        assert await tx.intents.get("int_1") == written
        assert await tx.intents.get("int_1", lock=True) == written
        assert await tx.intents.get("int_missing") is None


async def test_an_intent_ends_once(uow: Transactions) -> None:
    await add(uow, intent("int_1"))
    later = T0 + timedelta(seconds=5)
    async with uow() as tx:
        assert await tx.intents.settle(
            "int_1", IntentStatus.DONE, at=later, result={"provider": "ok"}
        )
        await tx.commit()
    async with uow() as tx:
        assert not await tx.intents.settle("int_1", IntentStatus.FAILED, at=later, error="late")
        await tx.commit()
    async with uow() as tx:
        ended = await tx.intents.get("int_1")
    assert ended is not None
    assert (ended.status, ended.attempts, ended.error, ended.result, ended.lease_until) == (
        IntentStatus.DONE,
        1,
        None,
        {"provider": "ok"},
        None,
    )


async def test_a_pending_answer_counts_an_attempt_and_releases_the_lease(
    uow: Transactions,
) -> None:
    await add(uow, intent("int_1"))
    async with uow() as tx:
        assert await tx.intents.settle(
            "int_1", IntentStatus.PENDING, at=T0, error="the provider could not be asked"
        )
        await tx.commit()
    async with uow() as tx:
        pending = await tx.intents.get("int_1")
        await tx.intents.lease("int_1", until=T0 + timedelta(minutes=2), at=T0)
        await tx.commit()
    assert pending is not None
    assert (pending.status, pending.attempts, pending.lease_until) == (
        IntentStatus.PENDING,
        1,
        None,
    )
    async with uow() as tx:
        leased = await tx.intents.get("int_1")
    assert leased is not None
    assert leased.lease_until == T0 + timedelta(minutes=2)


async def test_reassigning_replaces_the_entries_a_pending_intent_writes_and_nothing_else(
    uow: Transactions,
) -> None:
    await add(uow, intent("int_1"), intent("int_2"))
    taken_over = replace(RECORD, actor_id="user_b", request_id="req-2", after={"reason": "b"})
    async with uow() as tx:
        await tx.intents.reassign("int_1", [taken_over])
        await tx.commit()
    async with uow() as tx:
        assert await tx.intents.get("int_1") == replace(intent("int_1"), audit=(taken_over,))
        assert await tx.intents.get("int_2") == intent("int_2")
    async with uow() as tx:  # rolled back with its transaction
        await tx.intents.reassign("int_2", [taken_over])
    async with uow() as tx:
        assert await tx.intents.get("int_2") == intent("int_2")


async def test_reconcile_finds_older_pending_intents_oldest_first(uow: Transactions) -> None:
    await add(
        uow,
        intent("int_b", at=T0 + timedelta(seconds=2)),
        intent("int_a", at=T0 + timedelta(seconds=1)),
        intent("int_c", at=T0 + timedelta(seconds=3)),
        intent("int_new", at=T0 + timedelta(minutes=5)),
        intent("int_done", at=T0),
    )
    async with uow() as tx:
        await tx.intents.settle("int_done", IntentStatus.DONE, at=T0)
        await tx.commit()
    async with uow() as tx:
        found = await tx.intents.pending(created_before=T0 + timedelta(minutes=1), limit=10)
        first_two = await tx.intents.pending(created_before=T0 + timedelta(minutes=1), limit=2)
    assert [i.id for i in found] == ["int_a", "int_b", "int_c"]
    assert [i.id for i in first_two] == ["int_a", "int_b"]


async def test_reconcile_reads_pending_intents_page_by_page_and_by_kind(
    uow: Transactions,
) -> None:
    await add(
        uow,
        intent("int_a", at=T0 + timedelta(seconds=1)),
        intent("int_r1", at=T0 + timedelta(seconds=1), kind="payments.refund"),
        intent("int_b", at=T0 + timedelta(seconds=2)),
        intent("int_r2", at=T0 + timedelta(seconds=3), kind="payments.refund"),
        intent("int_c", at=T0 + timedelta(seconds=3)),
    )
    before = T0 + timedelta(minutes=1)
    async with uow() as tx:
        refunds = await tx.intents.pending(
            created_before=before, limit=10, kinds=["payments.refund"]
        )
        first = await tx.intents.pending(created_before=before, limit=2)
        second = await tx.intents.pending(created_before=before, limit=2, after=first[-1])
        third = await tx.intents.pending(created_before=before, limit=2, after=second[-1])
    assert [i.id for i in refunds] == ["int_r1", "int_r2"]
    assert [i.id for i in (*first, *second, *third)] == [
        "int_a",
        "int_r1",
        "int_b",
        "int_c",
        "int_r2",
    ]


async def test_one_pending_intent_per_subject(uow: Transactions) -> None:
    subject = "membership:org_a:user_a"
    await add(uow, intent("int_1", subject=subject), intent("int_other", subject="membership:x"))
    async with uow() as tx:
        found = await tx.intents.pending_of(subject)
        assert found is not None
        assert found.id == "int_1"
        assert await tx.intents.pending_of("membership:nobody") is None
        with pytest.raises(IntentSubjectBusy):
            await tx.intents.add(intent("int_2", subject=subject))
        # The refusal leaves the transaction usable.
        await tx.intents.add(intent("int_free"))
        await tx.commit()
    async with uow() as tx:
        assert await tx.intents.get("int_2") is None
        assert await tx.intents.get("int_free") is not None
        await tx.intents.settle("int_1", IntentStatus.FAILED, at=T0)
        await tx.commit()
    async with uow() as tx:
        assert await tx.intents.pending_of(subject) is None
        await tx.intents.add(intent("int_2", subject=subject))  # free again once it ended
        await tx.commit()
    async with uow() as tx:
        found = await tx.intents.pending_of(subject)
        ended = await tx.intents.get("int_1")
    assert found is not None
    assert found.id == "int_2"
    assert ended == replace(
        intent("int_1", subject=subject),
        status=IntentStatus.FAILED,
        attempts=1,
        lease_until=None,
    )


async def test_a_lease_is_renewed_only_by_the_caller_holding_it_and_only_while_pending(
    uow: Transactions,
) -> None:
    first = intent("int_renew")
    await add(uow, first)
    held = first.lease_until
    assert held is not None
    later = held + timedelta(seconds=60)
    async with uow() as tx:
        assert await tx.intents.renew("int_renew", held_until=held, until=later, at=T0)
        await tx.commit()
    async with uow() as tx:
        stored = await tx.intents.get("int_renew")
        assert stored is not None
        assert stored.lease_until == later
        # the lease read before that renewal is no longer this caller's
        assert not await tx.intents.renew("int_renew", held_until=held, until=later, at=T0)
        # another caller takes it over
        await tx.intents.lease("int_renew", until=later + timedelta(seconds=5), at=T0)
        await tx.commit()
    async with uow() as tx:
        assert not await tx.intents.renew(
            "int_renew", held_until=later, until=later + timedelta(seconds=60), at=T0
        )
        stored = await tx.intents.get("int_renew")
        assert stored is not None
        assert stored.lease_until == later + timedelta(seconds=5)
        taken = later + timedelta(seconds=5)
        assert await tx.intents.settle("int_renew", IntentStatus.DONE, at=T0)
        await tx.commit()
    async with uow() as tx:
        assert not await tx.intents.renew("int_renew", held_until=taken, until=taken, at=T0)
        assert not await tx.intents.renew("int_unknown", held_until=taken, until=taken, at=T0)


async def test_a_lease_renewed_to_none_is_ended_for_any_caller(uow: Transactions) -> None:
    first = intent("int_let_go")
    await add(uow, first)
    held = first.lease_until
    assert held is not None
    async with uow() as tx:
        assert await tx.intents.renew("int_let_go", held_until=held, until=None, at=T0)
        await tx.commit()
    async with uow() as tx:
        stored = await tx.intents.get("int_let_go")
    assert stored is not None
    assert (stored.status, stored.lease_until) == (IntentStatus.PENDING, None)


@pytest.mark.parametrize("commits", [True, False], ids=["committed", "rolled_back"])
async def test_await_add_returns_once_the_transaction_adding_the_intent_has_ended(
    uow: Transactions, commits: bool
) -> None:
    """A caller cancelled while its add was committing withdraws the intent: after
    `await_add`, it reads the intent exactly when that add was committed, and finds no
    other left by the wait."""
    added = intent("int_1", subject="flags:apollo")
    adding = asyncio.Event()

    async def add_and_end_later() -> None:
        async with uow() as tx:
            await tx.intents.add(added)
            adding.set()
            await asyncio.sleep(0.3)  # the commit's answer on its way, the caller gone
            if commits:
                await tx.commit()

    other = asyncio.create_task(add_and_end_later())
    await adding.wait()
    async with uow() as tx:  # rolled back, as the caller of `await_add` does
        await tx.intents.await_add(added)
    async with uow() as tx:
        assert await tx.intents.get("int_1") == (added if commits else None)
        assert (await tx.intents.pending_of("flags:apollo")) == (added if commits else None)
    await other
