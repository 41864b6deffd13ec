"""The named lock of a PostgreSQL database (`held_exclusively`): a waiter takes it as soon as
its holder lets go, and a database it cannot reach is DATABASE_UNAVAILABLE at once rather
than a wait or a crash."""

from __future__ import annotations

import asyncio
import secrets
import time
from urllib.parse import urlsplit, urlunsplit

import pytest

from adapters.sql.locks import held_exclusively
from admin_core.kernel.errors import DatabaseUnavailable
from tests.support.services import service_url

pytestmark = pytest.mark.postgres

#: Guards against a hang, never a measure of speed.
GUARD_S = 30.0


def lock_name() -> str:
    """A lock of this test's own: the database is shared with other tests."""
    return f"test_lock_{secrets.token_hex(4)}"


async def test_a_waiter_takes_the_lock_as_soon_as_its_holder_lets_go() -> None:
    url, name = service_url("POSTGRES_OWNER"), lock_name()
    held, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with held_exclusively(url, name):
            held.set()
            await release.wait()

    holding = asyncio.create_task(holder())
    await asyncio.wait_for(held.wait(), GUARD_S)
    taken_at: list[float] = []

    async def waiter() -> None:
        async with held_exclusively(url, name, wait=GUARD_S):
            taken_at.append(time.monotonic())

    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0.3)
    assert not waiting.done()  # still waiting, not refused
    released_at = time.monotonic()
    release.set()
    await asyncio.wait_for(asyncio.gather(holding, waiting), GUARD_S)
    assert taken_at
    assert taken_at[0] - released_at < 2.0  # its pauses are short (0.2 s at most)


async def test_a_database_that_cannot_be_reached_is_unavailable_without_waiting() -> None:
    owner = urlsplit(service_url("POSTGRES_OWNER"))
    nowhere = urlunsplit(owner._replace(netloc=f"{owner.username}@127.0.0.1:18189"))
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable):
        async with held_exclusively(nowhere, lock_name(), wait=GUARD_S):
            pytest.fail("a lock of a database nobody answers for")
    assert time.monotonic() - started < GUARD_S / 2  # not the lock's wait
