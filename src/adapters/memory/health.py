"""The in-memory database's health probe and schema: the store is this process's memory,
always there, and always of this code's shape."""

from __future__ import annotations

from admin_core.health.model import SchemaAge, SchemaRevision
from admin_core.health.ports import DatabaseSchema, DependencyProbe


class InMemoryDependencyProbe(DependencyProbe):
    def __init__(self, name: str = "postgres") -> None:
        self.name = name

    async def check(self) -> None:
        return None


class InMemoryDatabaseSchema(DatabaseSchema):
    async def revision(self) -> SchemaRevision:
        return SchemaRevision(found="memory", needed="memory", age=SchemaAge.CURRENT)
