"""Redis's health probe: `PING` (answered `PONG`) on a connection kept between checks. A
connection error is tried once more, on a new connection: the kept one may have been closed
by the server (its idle `timeout`, a restart, a proxy in between) while Redis answers, and a
refused connection is refused again. A timeout is not retried: the caller bounds the time."""

from __future__ import annotations

import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from admin_core.health.ports import DependencyDown, DependencyProbe


class RedisDependencyProbe(DependencyProbe):
    name = "redis"

    def __init__(self, *, url: str, timeout_seconds: float) -> None:
        self._client = redis.asyncio.Redis.from_url(
            url,
            socket_connect_timeout=timeout_seconds,
            socket_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
        )

    async def check(self) -> None:
        try:
            answer = await self._client.ping()
        except redis.exceptions.AuthenticationError:
            raise DependencyDown("credentials refused") from None
        except redis.exceptions.ResponseError as error:
            raise DependencyDown(f"refused PING ({type(error).__name__})") from None
        except (redis.exceptions.RedisError, OSError) as error:
            raise DependencyDown.unreachable(error) from None
        if answer is not True:
            raise DependencyDown("unexpected answer to PING")

    async def aclose(self) -> None:
        await self._client.aclose()
