"""The one list of things to close: every driver, pool and client registers itself when it
is opened, and `aclose` closes them all, newest first, whatever fails."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("admin_core.container")


class Resources:
    def __init__(self) -> None:
        self._closers: list[tuple[str, Callable[[], Awaitable[None]]]] = []

    def add(self, name: str, close: Callable[[], Awaitable[None]]) -> None:
        self._closers.append((name, close))

    async def aclose(self) -> None:
        """Close everything opened so far; a failure is logged and the rest still closed."""
        while self._closers:
            name, close = self._closers.pop()
            try:
                await close()
            except Exception:
                log.exception("closing %s failed", name)
