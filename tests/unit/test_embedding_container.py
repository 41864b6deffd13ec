"""The container as a service embedding the core reaches into it (docs/embedding.md, Way 2):
every provider an area declares is found under its name, to call or to override."""

from __future__ import annotations

from dependency_injector import providers

from entrypoints.container import build_container
from entrypoints.settings import Settings


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
