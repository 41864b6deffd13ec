"""The Litestar app factory. No app is built at import time: callers pass a container."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Response
from litestar.di import Provide
from litestar.enums import MediaType
from litestar.routes import HTTPRoute
from litestar.status_codes import HTTP_204_NO_CONTENT
from litestar.types import ControllerRouterHandler, Scope

from entrypoints.container import Container, aclose
from entrypoints.http.envelope import add_request_id_header
from entrypoints.http.errors import handle_exception
from entrypoints.http.openapi import (
    finish_document,
    openapi_config,
    swagger_ui,
    swagger_ui_assets,
)
from entrypoints.http.requests import check_request
from entrypoints.http.routes.audit import AuditLogController
from entrypoints.http.routes.graph import GraphController
from entrypoints.http.routes.system import health, jwks, ready
from entrypoints.http.routes.tenants import ProviderController, TenantController
from entrypoints.http.routes.users import TenantUserController
from entrypoints.http.security import current_principal

ADMIN_SCHEMA_PATH = "/api/v1/admin/schema"
#: No admin request body comes near this; a larger one is a 413 PAYLOAD_TOO_LARGE.
MAX_BODY_BYTES = 1024 * 1024

#: The admin API, one controller per area (system routes stay out of the admin document).
ADMIN_CONTROLLERS: tuple[ControllerRouterHandler, ...] = (
    TenantController,
    ProviderController,
    TenantUserController,
    GraphController,
    AuditLogController,
)


def create_app(container: Container, *, debug: bool = False, on_startup: Any = None) -> Litestar:
    """`on_startup`, if given, is awaited with the container when the app starts, before it
    serves a request (the embedded `serve` seeds the demo data set there)."""

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        try:
            if on_startup is not None:
                await on_startup(container)
            yield
        finally:
            await aclose(container)

    handlers: list[ControllerRouterHandler] = [
        health,
        ready,
        swagger_ui_assets(),
        *ADMIN_CONTROLLERS,
    ]
    if container.settings().embedded:
        handlers.append(jwks)

    app = Litestar(
        route_handlers=handlers,
        dependencies={"principal": Provide(current_principal, sync_to_thread=False)},
        exception_handlers={Exception: handle_exception},
        before_send=[add_request_id_header],
        before_request=check_request,
        lifespan=[lifespan],
        openapi_config=openapi_config(ADMIN_SCHEMA_PATH, [swagger_ui()]),
        request_max_body_size=MAX_BODY_BYTES,
        debug=debug,
    )
    app.state.container = container
    _answer_options_with_every_method(app)
    finish_document(app, container.auth.role_policy().known_roles())
    return app


def _answer_options_with_every_method(app: Litestar) -> None:
    """`OPTIONS` lists every method of the path in `Allow`. Litestar builds its automatic
    OPTIONS handler with the first handler registered for a path and keeps it when more
    handlers join the path (`GET` and `POST /tenants` would answer `Allow: OPTIONS, POST`)."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "OPTIONS" not in route.route_handler_map:
            continue
        handler, _ = route.route_handler_map["OPTIONS"]
        allow = ", ".join(sorted(route.methods))

        def options(scope: Scope, allow: str = allow) -> Response[None]:
            return Response(
                content=None,
                status_code=HTTP_204_NO_CONTENT,
                headers={"Allow": allow},
                media_type=MediaType.TEXT,
            )

        handler._fn = options  # type: ignore[assignment]  # called as `fn(scope=...)`, synchronously
