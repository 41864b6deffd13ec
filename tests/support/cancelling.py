"""Cancelling a coroutine at each of its suspensions in turn, as `asyncio.timeout`, an ASGI
server or an embedder's `task.cancel()` would: the k-th time it waits on the event loop, its
task is cancelled and the `CancelledError` arrives at that `await`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

#: More suspensions than any one operation under test makes: a run past it is a runaway.
MAX_STEPS = 400


class _CancelAt:
    """`coroutine` awaited step by step; before its `k`-th suspension the running task is
    cancelled, so the future it waits on is cancelled and the error is thrown in there."""

    def __init__(self, coroutine: Coroutine[Any, Any, Any], k: int, *, again: bool) -> None:
        self._coroutine = coroutine
        self._k = k
        self._again = again
        self.suspensions = 0

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine = self._coroutine
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                waited = coroutine.throw(error) if error is not None else coroutine.send(value)
            except StopIteration as stop:
                return stop.value
            if self.suspensions == self._k or (self._again and self.suspensions > self._k):
                task = asyncio.current_task()
                assert task is not None
                task.cancel()
            self.suspensions += 1
            try:
                value, error = (yield waited), None
            except BaseException as thrown:  # noqa: BLE001 - thrown in by the task: passed on
                value, error = None, thrown


async def cancelled_at(
    k: int, operation: Callable[[], Coroutine[Any, Any, Any]], *, again: bool = False
) -> bool | None:
    """Run `operation` in a task of its own, cancelled at its `k`-th suspension. True: it was
    cancelled there; None: it finished before it suspended `k` times (there is no k-th point);
    False: it was cancelled there and finished all the same. `again`: cancelled again at every
    suspension after the k-th (a server cancelling a task that is still cleaning up)."""
    stepper = _CancelAt(operation(), k, again=again)

    async def run() -> Any:
        return await stepper

    task = asyncio.create_task(run())
    try:
        await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise  # the caller itself was cancelled
        return True
    return None if stepper.suspensions <= k else False


async def at_every_suspension(
    operation: Callable[[], Coroutine[Any, Any, Any]],
    check: Callable[[int], Awaitable[None]],
    *,
    again: bool = False,
) -> int:
    """Cancel `operation` at its first suspension, then (a new run) at its second, and so on
    until a run finishes before it is cancelled; `check(k)` after each run (`operation` is
    called anew for each). Returns how many points were cancelled at."""
    for k in range(MAX_STEPS):
        outcome = await cancelled_at(k, operation, again=again)
        await check(k)
        if outcome is None:
            return k
    raise AssertionError(f"still suspending after {MAX_STEPS} steps")
