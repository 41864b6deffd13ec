"""The PostgreSQL pool's line of waiters (`FairQueue`): a caller that has waited long enough
is never overtaken, a waiter whose time is up leaves the line, and no connection is lost by
a caller that leaves as one is handed to it."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.util.concurrency import greenlet_spawn
from sqlalchemy.util.queue import Empty

from adapters.sql import fair_pool
from adapters.sql.fair_pool import OVERTAKE_FOR_S, FairQueue

LONG_ENOUGH = OVERTAKE_FOR_S * 2


def _take(
    queue: FairQueue[str],
    order: list[str],
    name: str,
    timeout: float = 5.0,
    after: asyncio.Event | None = None,
) -> asyncio.Task[str]:
    async def take() -> str:
        if after is not None:
            await after.wait()
        item = await greenlet_spawn(queue.get, True, timeout)
        order.append(name)
        return item

    return asyncio.ensure_future(take())


async def test_callers_who_waited_long_enough_are_served_in_the_order_they_came() -> None:
    queue: FairQueue[str] = FairQueue(1)
    order: list[str] = []
    waiting = []
    for name in "ABC":
        waiting.append(_take(queue, order, name))
        await asyncio.sleep(0)
    await asyncio.sleep(LONG_ENOUGH)

    newcomers = []
    for _ in range(3):  # each connection comes back just as a newcomer asks for one
        arrived = asyncio.Event()
        newcomers.append(_take(queue, order, "newcomer", after=arrived))
        await asyncio.sleep(0)
        arrived.set()  # the newcomer runs before anyone woken by the return below
        queue.put_nowait("connection")
        await waiting.pop(0)

    assert order == ["A", "B", "C"]
    for newcomer in newcomers:  # and the newcomers after them
        queue.put_nowait("connection")
        await newcomer
    assert order == ["A", "B", "C", "newcomer", "newcomer", "newcomer"]


async def test_a_caller_takes_an_idle_connection_at_once_when_nobody_waits() -> None:
    queue: FairQueue[str] = FairQueue(2)
    queue.put_nowait("first")
    queue.put_nowait("second")

    assert await greenlet_spawn(queue.get, True, 0.0) == "first"
    assert queue.qsize() == 1


async def test_a_waiter_whose_time_is_up_leaves_the_line_and_the_next_is_served() -> None:
    queue: FairQueue[str] = FairQueue(1)
    order: list[str] = []
    impatient = _take(queue, order, "impatient", timeout=0.01)
    patient = _take(queue, order, "patient")

    with pytest.raises(Empty):
        await impatient
    queue.put_nowait("connection")

    assert await patient == "connection"
    assert order == ["patient"]


@pytest.mark.parametrize("waited", [0.0, LONG_ENOUGH], ids=["woken", "handed-over"])
async def test_a_caller_cancelled_as_a_connection_reaches_it_passes_it_on(waited: float) -> None:
    queue: FairQueue[str] = FairQueue(1)
    order: list[str] = []
    leaving = _take(queue, order, "leaving")
    await asyncio.sleep(0)
    staying = _take(queue, order, "staying")
    await asyncio.sleep(waited)

    queue.put_nowait("connection")  # reaches the head of the line ...
    leaving.cancel()  # ... which leaves before it runs

    assert await staying == "connection"
    with pytest.raises(asyncio.CancelledError):
        await leaving


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["arrive", "return", "cancel", "run", "wait"]), max_size=40))
def test_no_connection_is_lost_or_left_idle_while_a_caller_waits(steps: list[str]) -> None:
    """However callers arrive, give up and return connections (a caller may give up in the
    same turn of the loop as a connection reaches it), once the loop has run every connection
    is idle or held by exactly one caller, and nobody waits while one is idle."""

    async def run() -> None:
        queue: FairQueue[str] = FairQueue(2)
        queue.put_nowait("one")
        queue.put_nowait("two")
        callers: list[asyncio.Task[str]] = []
        held: list[str] = []

        async def settle() -> None:
            for _ in range(8):
                await asyncio.sleep(0)
            for caller in [c for c in callers if c.done()]:
                callers.remove(caller)
                held.append(caller.result())
            assert sorted(held + list(queue._idle)) == ["one", "two"]
            assert not (callers and queue.qsize()), "a caller waits while a connection is idle"

        for step in steps:
            if step == "arrive":
                callers.append(asyncio.ensure_future(greenlet_spawn(queue.get, True, 60.0)))
            elif step == "return" and held:
                queue.put_nowait(held.pop(0))
            elif step == "cancel" and callers:
                callers.pop(0).cancel()
            elif step == "run":
                await settle()
            elif step == "wait":
                await asyncio.sleep(LONG_ENOUGH)
                await settle()
        await settle()
        for caller in callers:
            caller.cancel()
        await asyncio.gather(*callers, return_exceptions=True)

    asyncio.run(run())


def test_a_waiter_left_behind_by_a_closed_event_loop_takes_no_connection() -> None:
    """A container an embedding service uses from one `asyncio.run` after another: a caller
    still waiting when its loop was closed can never be woken, so it is passed over."""
    queue: FairQueue[str] = FairQueue(1)
    left: list[asyncio.Future[str]] = []

    async def leave_one_waiting() -> None:
        left.append(asyncio.ensure_future(greenlet_spawn(queue.get, True, 60.0)))
        for _ in range(4):
            await asyncio.sleep(0)

    old = asyncio.new_event_loop()
    old.run_until_complete(leave_one_waiting())
    old.close()
    assert not left[0].done()

    async def later() -> str:
        queue.put_nowait("connection")
        item: str = await greenlet_spawn(queue.get, True, 1.0)
        return item

    assert asyncio.run(later()) == "connection"


async def test_a_pool_emptying_itself_takes_every_idle_connection_whoever_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`dispose` empties the pool without waiting: it must not leave an idle connection open
    because a caller has waited long, or the connection stays open for good."""
    queue: FairQueue[str] = FairQueue(1)
    order: list[str] = []
    woken, long_waiting = _take(queue, order, "woken"), _take(queue, order, "long waiting")
    await asyncio.sleep(0.001)
    queue.put_nowait("connection")  # idle, and the head of the line woken to take it ...
    monkeypatch.setattr(fair_pool, "OVERTAKE_FOR_S", 0.0)  # ... while the next has waited long

    assert await greenlet_spawn(queue.get, False) == "connection"
    assert queue.qsize() == 0
    for caller in (woken, long_waiting):
        caller.cancel()
    await asyncio.gather(woken, long_waiting, return_exceptions=True)
