"""The one list of things to close: every driver, pool and client registers itself when it
is opened, and `aclose` closes them all at once, within a bound, whatever fails."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("admin_core.container")

#: How long closing may take, all resources together: after SIGTERM, `serve` gives requests
#: in flight 25 s of the 30 s an orchestrator waits before it kills; closing gets most of
#: the rest. A close still running then (a peer that stopped answering) is left behind.
CLOSE_WITHIN_S = 4.0
#: How long a close that was cancelled has to stop before it is abandoned.
_CANCEL_GRACE_S = 0.25


class Resources:
    def __init__(self, close_within: float = CLOSE_WITHIN_S) -> None:
        self._closers: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        self._close_within = close_within
        #: What the last `aclose` did not close: it failed, or did not end in time.
        self.left_open: list[str] = []

    def add(self, name: str, close: Callable[[], Awaitable[None]]) -> None:
        self._closers.append((name, close))

    async def aclose(self) -> None:
        """Close everything opened so far, concurrently (each adapter's client is its own),
        within `close_within` seconds. A close that fails or is still running then is logged
        by name and kept in `left_open`; the others are closed all the same.

        Each call closes everything again: a database pool that opened anew since the last
        call (the container used on a later event loop) is closed too, and what stayed closed
        has nothing more to close. So closing twice is safe."""
        closers = self._closers[::-1]
        closing = {asyncio.ensure_future(_close(name, close)): name for name, close in closers}
        if not closing:
            return
        _, pending = await asyncio.wait(closing, timeout=self._close_within)
        for task in pending:
            task.cancel()
            log.error("%s did not close within %g s: left open", closing[task], self._close_within)
        if pending:
            await asyncio.wait(pending, timeout=_CANCEL_GRACE_S)
        self.left_open = [
            name for task, name in closing.items() if task in pending or not task.result()
        ]


async def _close(name: str, close: Callable[[], Awaitable[None]]) -> bool:
    try:
        await close()
    except Exception:
        log.exception("closing %s failed", name)
        return False
    return True
