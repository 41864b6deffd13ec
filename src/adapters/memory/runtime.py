"""Deterministic clock and ids for tests and reproducible demos."""

from __future__ import annotations

from datetime import datetime, timedelta

from admin_core.kernel.runtime import Clock, IdGenerator


class FixedClock(Clock):
    """A clock that moves only when told to."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class SequentialIds(IdGenerator):
    """`<prefix>_000001`, `<prefix>_000002`, ... for deterministic tests."""

    def __init__(self) -> None:
        self._counter = 0

    def new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_{self._counter:06d}"
