"""Neo4j's health probe: the driver's `verify_connectivity()` (a connection opened and
authenticated, nothing read), on a driver of its own."""

from __future__ import annotations

import neo4j
import neo4j.exceptions

from adapters.neo4j.graph import create_driver
from admin_core.health.ports import DependencyDown, DependencyProbe


class Neo4jDependencyProbe(DependencyProbe):
    name = "neo4j"

    def __init__(self, driver: neo4j.AsyncDriver) -> None:
        self._driver = driver

    @classmethod
    def connect(
        cls, url: str, user: str | None, password: str | None, *, timeout_seconds: float
    ) -> Neo4jDependencyProbe:
        return cls(create_driver(url, user, password, connection_timeout=timeout_seconds))

    async def check(self) -> None:
        try:
            await self._driver.verify_connectivity()
        except neo4j.exceptions.AuthError:
            raise DependencyDown("credentials refused") from None
        except (neo4j.exceptions.DriverError, neo4j.exceptions.Neo4jError, OSError) as error:
            raise DependencyDown.unreachable(error) from None

    async def aclose(self) -> None:
        await self._driver.close()
