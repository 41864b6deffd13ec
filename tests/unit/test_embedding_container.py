"""The container as a service embedding the core reaches into it (docs/embedding.md, Way 2):
every provider an area declares is found under its name, to call or to override."""

from __future__ import annotations

from pathlib import Path

from dependency_injector import providers

from entrypoints.container import aclose, build_container
from entrypoints.http.app import create_app
from entrypoints.logs import REQUEST_ID
from entrypoints.settings import Settings
from tests.support.http import raw_call


def test_every_provider_of_every_area_is_reached_by_its_name() -> None:
    """A name that a dependency-injector provider already has (`provider`, `provided`,
    `override`, ...) would reach that attribute of the sub-container instead: an embedder
    overriding `container.flags.provider` would override something else."""
    container = build_container(Settings(database_url="memory://"))
    shadowed = [
        f"{area}.{name}"
        for area, sub in container.providers.items()
        if isinstance(sub, providers.Container)
        for name, provider in sub.container.providers.items()
        if getattr(sub, name) is not provider
    ]
    assert shadowed == []


async def test_a_host_that_calls_the_app_in_its_own_task_keeps_its_request_id(
    tmp_path: Path,
) -> None:
    """A host's router hands a request to the app inside the host's own task (a mount): the
    app names its log lines with the request's id while it serves it, and the host's lines
    after it are its own again."""
    container = build_container(
        Settings(database_url="memory://", local_key_path=tmp_path / "signing.pem")
    )
    app = create_app(container)
    host = REQUEST_ID.set("host-request-7")
    try:
        answer = await raw_call(app, "GET", "/health", [("X-Request-ID", "admin-request-1")])
        assert answer.status == 200
        assert REQUEST_ID.get() == "host-request-7"
    finally:
        REQUEST_ID.reset(host)
        await aclose(container)
