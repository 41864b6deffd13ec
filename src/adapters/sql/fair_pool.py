"""A PostgreSQL connection pool that serves its waiters in the order they came.

SQLAlchemy's asyncio pool hands a returned connection to whoever asks next: a request ready
to run as a connection comes back takes it ahead of the ones already waiting, and a waiter
woken for a connection that was taken meanwhile waits again at the back of the line. Under
load (more concurrent requests than connections) a few requests wait for hundreds of
milliseconds while later ones go straight through, and a waiter can reach the pool's timeout
while the pool serves others all along. Here nobody overtakes a caller that has waited
`OVERTAKE_FOR_S` (ADR 0047).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any, TypeVar, cast

from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util.concurrency import await_only
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty, Full

T = TypeVar("T")


#: How long the head of the line may wait while callers arriving after it take connections
#: first; once it has waited this long, nobody overtakes it.
OVERTAKE_FOR_S = 0.02

#: What a waiter is woken with when a connection went back to the idle ones: take it if it is
#: still there.
_TRY: Any = object()


class _Waiter:
    __slots__ = ("future", "since")

    def __init__(self, future: asyncio.Future[Any], since: float) -> None:
        self.future = future
        self.since = since


class FairQueue(AsyncAdaptedQueue[T]):
    """The pool's idle connections, and the callers waiting for one, in the order they came.

    A returned connection goes back to the idle ones and wakes the longest waiter. A caller
    arriving meanwhile may take it first (so a connection never sits unused while a woken
    waiter is on its way), and the waiter it overtook keeps its place at the head of the line.
    Once the head has waited `OVERTAKE_FOR_S`, nobody overtakes it: each returned connection
    is handed to it directly, and callers arriving then wait behind it."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self._idle: deque[T] = deque()
        self._waiters: deque[_Waiter] = deque()

    def empty(self) -> bool:
        return not self._idle

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._idle)

    def qsize(self) -> int:
        return len(self._idle)

    def put_nowait(self, item: T) -> None:
        head = self._head()
        if head is not None and time.monotonic() - head.since > OVERTAKE_FOR_S:
            self._waiters.popleft()
            head.future.set_result(item)
            return
        if self.full():
            raise Full()
        self._idle.append(item)
        self._wake_head()

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        self.put_nowait(item)

    def get_nowait(self) -> T:
        if not self._idle:
            raise Empty()
        return self._idle.pop() if self.use_lifo else self._idle.popleft()

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        """An idle connection, or one to come. A caller that will not wait (the pool while it
        still opens new connections, or emptying itself) takes an idle one whoever waits."""
        if not block:
            return self.get_nowait()
        head = self._head()
        if self._idle and (head is None or time.monotonic() - head.since <= OVERTAKE_FOR_S):
            return self.get_nowait()
        return await_only(self._wait(timeout))

    def _head(self) -> _Waiter | None:
        """The longest waiter still waiting, with those whose wait ended dropped (and any left
        by an event loop that was closed under them: nothing can wake those)."""
        while self._waiters and _gone(self._waiters[0].future):
            self._waiters.popleft()
        return self._waiters[0] if self._waiters else None

    def _wake_head(self) -> None:
        if self._idle and (head := self._head()) is not None:
            self._waiters.popleft()
            head.future.set_result(_TRY)

    async def _wait(self, patience: float | None) -> T:
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop.create_future(), time.monotonic())
        self._waiters.append(waiter)
        deadline = None if patience is None else loop.time() + patience
        while True:
            got = await self._turn(waiter, loop, deadline)
            if got is not _TRY:
                return cast(T, got)
            if self._idle:
                return self.get_nowait()
            waiter = _Waiter(loop.create_future(), waiter.since)  # overtaken: back to the head
            self._waiters.appendleft(waiter)

    async def _turn(
        self, waiter: _Waiter, loop: asyncio.AbstractEventLoop, deadline: float | None
    ) -> Any:
        """Wait in line until woken with a connection or `_TRY`; a caller leaving (its time
        up, or cancelled) passes on what it was given as it left."""
        future = waiter.future
        expiry = None if deadline is None else loop.call_at(deadline, _expire, future)
        try:
            return await future
        except BaseException:
            if future.done() and not future.cancelled() and future.exception() is None:
                given = future.result()
                if given is _TRY:
                    self._wake_head()
                else:
                    self.put_nowait(given)
            raise
        finally:
            if expiry is not None:
                expiry.cancel()
            if not future.done():
                future.cancel()
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)


def _gone(future: asyncio.Future[Any]) -> bool:
    return future.done() or future.get_loop().is_closed()


def _expire(future: asyncio.Future[Any]) -> None:
    """A waiter's time is up: it leaves the line, told the pool had nothing for it (`Empty`)."""
    if not future.done():
        future.set_exception(Empty())


class FairQueuePool(AsyncAdaptedQueuePool):
    """`AsyncAdaptedQueuePool` whose waiters are served in the order they came (`FairQueue`)."""

    _queue_class: Any = FairQueue
