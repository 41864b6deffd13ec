"""What the app does around serving, seen from the process that runs it."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from litestar.testing import AsyncTestClient

from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings


def test_what_start_up_built_is_frozen_while_serving_and_collectable_after(
    tmp_path: Path,
) -> None:
    """`adminctl serve`'s app: a full collection while serving walks only what requests
    made, not the container, routes and OpenAPI document start-up built (a ~40 ms pause each
    time, ADR 0047); once the app stops, the process collects all of it again."""

    async def serve() -> tuple[int, int]:
        container = build_container(
            Settings(database_url="memory://", local_key_path=tmp_path / "signing.pem")
        )
        app = create_app(container, freeze_after_start=True)
        async with AsyncTestClient(app) as client:
            assert (await client.get("/health")).status_code == 200
            serving = gc.get_freeze_count()
            gc.collect()
            tracked = len(gc.get_objects())
        return serving, tracked

    before = gc.get_freeze_count()
    frozen, tracked = asyncio.run(serve())
    assert before == 0
    assert frozen > 10_000  # the app's start-up objects
    assert tracked < frozen  # a collection no longer walks them
    assert gc.get_freeze_count() == 0


def test_an_embedded_app_leaves_the_collector_to_its_process(tmp_path: Path) -> None:
    async def serve() -> int:
        container = build_container(
            Settings(database_url="memory://", local_key_path=tmp_path / "signing.pem")
        )
        async with AsyncTestClient(create_app(container)) as client:
            assert (await client.get("/health")).status_code == 200
            return gc.get_freeze_count()

    assert asyncio.run(serve()) == 0
