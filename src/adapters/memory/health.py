"""The in-memory database's health probe: the store is this process's memory, always there."""

from __future__ import annotations

from admin_core.health.ports import DependencyProbe


class InMemoryDependencyProbe(DependencyProbe):
    def __init__(self, name: str = "postgres") -> None:
        self.name = name

    async def check(self) -> None:
        return None
