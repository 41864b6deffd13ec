"""`adminctl db upgrade` on PostgreSQL as replicas run it when they start: several at once on
a fresh database take turns, and each says what it changed."""

from __future__ import annotations

import asyncio
import secrets
from urllib.parse import urlsplit, urlunsplit

from adapters.sql.migrate import upgrade
from tests.support.services import _create_database, _drop_database, service_url


async def test_upgrades_started_at_once_take_turns_and_one_does_the_work() -> None:
    super_url, owner_url = service_url("POSTGRES_SUPER"), service_url("POSTGRES_OWNER")
    owner = urlsplit(owner_url)
    name = f"upgrade_race_{secrets.token_hex(3)}"
    await _create_database(super_url, name, owner.path.lstrip("/"))
    try:
        fresh = urlunsplit(owner._replace(path=f"/{name}"))
        done = await asyncio.gather(*(upgrade(fresh) for _ in range(3)))
    finally:
        await _drop_database(super_url, name)
    assert sorted(d.changed for d in done) == [False, False, True]
    [first] = [d for d in done if d.changed]
    assert first.before is None
    assert {d.after for d in done} == {first.after}
