"""How a controller declares the use cases it needs: `use_case(lambda c: c.tenants.list_tenants)`
in its own `dependencies`, read from the container the app was built with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request
from litestar.di import Provide

from entrypoints.container import Container


def use_case(pick: Callable[[Container], Callable[[], Any]]) -> Provide:
    """A dependency that builds the use case `pick` names, per request."""

    def provide(request: Request[Any, Any, Any]) -> Any:
        return pick(request.app.state.container)()

    return Provide(provide, sync_to_thread=False)
