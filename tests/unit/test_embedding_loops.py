"""What a container keeps between calls may serve one event loop after another: nothing it
holds is an asyncio primitive tied to the first loop that waited on it."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

from admin_core.kernel.loops import LoopLock
from entrypoints.container import aclose, build_container
from entrypoints.settings import Settings

OURS = ("adapters", "admin_core", "entrypoints")
LOOP_BOUND = (asyncio.Lock, asyncio.Event, asyncio.Condition, asyncio.Semaphore, asyncio.Queue)


def _loop_bound(root: object) -> list[str]:
    """Paths to every asyncio primitive reachable from `root` through attributes and
    containers (not through modules, classes or functions)."""
    found: list[str] = []
    seen: set[int] = set()
    stack: list[tuple[str, object]] = [("", root)]
    while stack:
        path, value = stack.pop()
        if id(value) in seen or isinstance(value, (str, bytes, int, float, type, LoopLock)):
            continue
        seen.add(id(value))
        if isinstance(value, LOOP_BOUND):
            found.append(path)
            continue
        if callable(value) and not hasattr(value, "__dict__") and not hasattr(value, "__slots__"):
            continue
        children: list[tuple[str, Any]] = []
        if isinstance(value, dict):
            children = [(f"{path}[{k!r}]", v) for k, v in value.items()]
        elif isinstance(value, (list, tuple, set, frozenset)):
            children = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
        else:
            if type(value).__module__.split(".")[0] not in OURS:
                continue
            names = list(getattr(value, "__dict__", {}))
            for klass in type(value).__mro__:
                names += list(getattr(klass, "__slots__", ()))
            children = [(f"{path}.{n}", getattr(value, n, None)) for n in names]
        stack.extend(children)
    return found


def test_no_object_a_container_keeps_is_tied_to_one_event_loop(tmp_path: Path) -> None:
    container = build_container(
        Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'admin_core.db'}",
            flagsmith_server_key="ser.embedder",
            flagsmith_admin_key="admin-embedder",
            flagsmith_environment_key="env-embedder",
        )
    )
    tied = []
    try:
        for provider in container.traverse(types=[providers.Singleton]):
            built = provider()
            tied += [f"{type(built).__name__}{path}" for path in _loop_bound(built)]
    finally:
        asyncio.run(aclose(container))
    assert tied == []


async def _contend(lock: LoopLock) -> None:
    async def second() -> None:
        async with lock:
            pass

    async with lock:
        waiting = asyncio.create_task(second())
        await asyncio.sleep(0)
    await waiting


def test_a_loop_lock_serves_one_event_loop_after_another() -> None:
    lock = LoopLock()
    asyncio.run(_contend(lock))
    asyncio.run(_contend(lock))
    assert not lock.locked()


def test_a_loop_lock_held_on_a_running_loop_refuses_another_loop() -> None:
    lock = LoopLock()
    holding, done = threading.Event(), threading.Event()

    async def hold() -> None:
        async with lock:
            holding.set()
            await asyncio.to_thread(done.wait, 5)

    other = threading.Thread(target=asyncio.run, args=(hold(),))
    other.start()
    try:
        assert holding.wait(5)
        with pytest.raises(RuntimeError, match="held by a task of another event loop"):
            asyncio.run(asyncio.wait_for(lock.acquire(), 1))
    finally:
        done.set()
        other.join(5)
