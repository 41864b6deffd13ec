"""A clock tests set and move by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from admin_core.kernel.runtime import Clock


class ManualClock(Clock):
    """`now()` returns the current time, then moves it on by `step` (zero: time stands still)."""

    def __init__(
        self,
        start: datetime = datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
        step: timedelta = timedelta(seconds=1),
    ) -> None:
        self.current = start
        self.step = step

    def now(self) -> datetime:
        value = self.current
        self.current += self.step
        return value

    def set(self, value: datetime) -> None:
        self.current = value


class LaterClock(Clock):
    """The system's time moved on by `offset`: a process that runs later than this one."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset
