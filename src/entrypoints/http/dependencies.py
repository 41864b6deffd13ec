"""How a controller declares the use cases it needs: `use_case(lambda c: c.tenants.list_tenants)`
in its own `dependencies`, read from the container the app was built with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide

from admin_core.kernel.principal import Principal
from entrypoints.container import Container


def use_case(pick: Callable[[Container], Callable[[], Any]]) -> Provide:
    """A dependency that builds the use case `pick` names, per request, for an authenticated
    route. It takes the principal, so Litestar resolves the two one after the other: two
    independent dependencies are resolved concurrently in a task group, which costs far more
    than building both."""

    def provide(request: Request[Any, Any, Any], principal: NamedDependency[Principal]) -> Any:
        return pick(request.app.state.container)()

    return Provide(provide, sync_to_thread=False)


def open_use_case(pick: Callable[[Container], Callable[[], Any]]) -> Provide:
    """`use_case` for a route without authentication (readiness)."""

    def provide(request: Request[Any, Any, Any]) -> Any:
        return pick(request.app.state.container)()

    return Provide(provide, sync_to_thread=False)
