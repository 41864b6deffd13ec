"""What the app does around serving, seen from the process that runs it."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from entrypoints.container import build_container
from entrypoints.demo.seed import seed_demo
from entrypoints.http.app import create_app
from entrypoints.logs import RequestIdFilter
from entrypoints.settings import Settings

#: Guards against a hang, never a measure of speed.
GUARD_S = 60.0


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


def test_a_resource_that_never_closes_does_not_keep_the_stopped_app(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """After SIGTERM the orchestrator waits some 30 s, then kills: a client whose close hangs
    (a peer that stopped answering) is named in the log and left behind, the others closed,
    rather than holding the process until it is killed."""
    closed: list[str] = []

    async def hang() -> None:
        await asyncio.Event().wait()

    async def close_cache() -> None:
        closed.append("cache client")

    async def serve() -> list[str]:
        container = build_container(
            Settings(database_url="memory://", local_key_path=tmp_path / "signing.pem")
        )
        resources = container.runtime.resources()
        resources.add("cache client", close_cache)
        resources.add("stuck client", hang)
        async with AsyncTestClient(create_app(container)) as client:
            assert (await client.get("/health")).status_code == 200
        return resources.left_open

    left_open: list[list[str]] = []
    stopping = threading.Thread(target=lambda: left_open.append(asyncio.run(serve())), daemon=True)
    with caplog.at_level(logging.WARNING, logger="admin_core.container"):
        stopping.start()
        stopping.join(GUARD_S)
    assert not stopping.is_alive(), "the app did not stop"
    assert left_open == [["stuck client"]]
    assert closed == ["cache client"]
    assert any("stuck client did not close" in r.getMessage() for r in caplog.records)


def test_a_stopped_app_seals_the_entries_written_since_its_last_checkpoint(
    tmp_path: Path,
) -> None:
    """Checkpoints are written every so often while the app runs; the entries of the last
    minutes before a stop are sealed on the way out, not left until some later start."""
    checkpoints = tmp_path / "checkpoints"

    async def serve() -> None:
        container = build_container(
            Settings(
                database_url="memory://",
                local_key_path=tmp_path / "signing.pem",
                audit_checkpoint_dir=checkpoints,
            )
        )
        app = create_app(container, on_startup=seed_demo, checkpoint_every=3600)
        async with AsyncTestClient(app) as client:
            assert (await client.get("/health")).status_code == 200

    asyncio.run(serve())
    assert [p.name for p in checkpoints.glob("checkpoint-*.json")] == [
        "checkpoint-000000000001.json"
    ]


def test_a_line_of_the_stop_after_the_last_checkpoint_is_not_the_checkpoints(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each line names the request or background pass it was written for: what the stop
    logs once the last checkpoint is written belongs to no pass."""

    async def fail() -> None:
        raise OSError("the peer reset the connection")

    async def serve() -> None:
        container = build_container(
            Settings(
                database_url="memory://",
                local_key_path=tmp_path / "signing.pem",
                audit_checkpoint_dir=tmp_path / "checkpoints",
            )
        )
        container.runtime.resources().add("cache client", fail)
        app = create_app(container, on_startup=seed_demo, checkpoint_every=3600)
        async with AsyncTestClient(app) as client:
            assert (await client.get("/health")).status_code == 200

    caplog.handler.addFilter(RequestIdFilter())  # as the server's handlers have it
    asyncio.run(serve())
    [line] = [r for r in caplog.records if "closing cache client failed" in r.getMessage()]
    assert line.request_id == "-"
