"""A lock for objects that outlive an event loop."""

from __future__ import annotations

import asyncio
from types import TracebackType


class LoopLock:
    """`asyncio.Lock` for an object that may serve one event loop after another: a container
    that a test suite shares between the loops of its tests (`asyncio.run` twice,
    pytest-asyncio's loop per test). An `asyncio.Lock` that once made a caller wait belongs to
    that loop, and refuses every later one ("bound to a different event loop"). This one starts
    afresh on another loop whenever it is free there, or held by a task of a loop that has
    been closed (which can never release it). Held by a task of a loop that can still run, it
    refuses the other loop with a `RuntimeError` that says so: it serves one loop at a time."""

    __slots__ = ("_lock", "_loop")

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def _here(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        served = self._loop
        if served is not loop:
            if served is not None and not served.is_closed() and self._lock.locked():
                raise RuntimeError(
                    "this lock is held by a task of another event loop: an object that holds"
                    " one (a container, its adapters) serves one event loop at a time"
                )
            self._lock, self._loop = asyncio.Lock(), loop
        return self._lock

    async def acquire(self) -> None:
        await self._here().acquire()

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
