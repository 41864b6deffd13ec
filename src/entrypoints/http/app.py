"""The Litestar app factory. No app is built at import time: callers pass a container."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.types import ControllerRouterHandler

from admin_core.kernel.errors import FieldError, ValidationFailed
from entrypoints.container import Container, aclose
from entrypoints.http.envelope import add_request_id_header
from entrypoints.http.errors import handle_exception
from entrypoints.http.routes.audit import AuditLogController
from entrypoints.http.routes.graph import GraphController
from entrypoints.http.routes.providers import create_provider
from entrypoints.http.routes.system import health, jwks, ready
from entrypoints.http.routes.tenants import TenantController
from entrypoints.http.routes.users import TenantUserController
from entrypoints.http.security import current_principal

ADMIN_SCHEMA_PATH = "/api/v1/admin/schema"


def _use_case(factory: Callable[[], Any]) -> Provide:
    def provide() -> Any:
        return factory()

    return Provide(provide, sync_to_thread=False)


async def _reject_unknown_query(request: Request[Any, Any, Any]) -> None:
    """Unknown or repeated query parameters are an error, not silently ignored: a typo in a
    filter must not widen a query."""
    params = request.query_params
    if not params:
        return
    known = set(request.route_handler.parsed_fn_signature.parameters)
    errors = [
        FieldError(field=key, message="unknown query parameter")
        if key not in known
        else FieldError(field=key, message="given more than once")
        for key in sorted(params)
        if key not in known or len(params.getall(key)) > 1
    ]
    if errors:
        raise ValidationFailed(errors)


def create_app(container: Container, *, debug: bool = False) -> Litestar:
    settings = container.settings()

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await aclose(container)

    handlers: list[ControllerRouterHandler] = [health, ready, TenantController]
    handlers.append(GraphController)
    handlers.append(AuditLogController)
    handlers += [create_provider, TenantUserController]
    if settings.auth_mode == "local":
        handlers.append(jwks)

    app = Litestar(
        route_handlers=handlers,
        dependencies={
            "principal": Provide(current_principal, sync_to_thread=False),
            "check_readiness": _use_case(container.check_readiness),
            "list_tenants": _use_case(container.list_tenants),
            "query_audit_log": _use_case(container.query_audit_log),
            "verify_audit_chain": _use_case(container.verify_audit_chain),
            "rebuild_graph": _use_case(container.rebuild_graph),
            "graph_status": _use_case(container.graph_status),
            "create_tenant": _use_case(container.create_tenant),
            "create_provider": _use_case(container.create_provider),
            "update_tenant": _use_case(container.update_tenant),
            "map_org": _use_case(container.map_org),
            "list_tenant_users": _use_case(container.list_tenant_users),
            "grant_role": _use_case(container.grant_role),
            "revoke_role": _use_case(container.revoke_role),
        },
        exception_handlers={Exception: handle_exception},
        before_send=[add_request_id_header],
        before_request=_reject_unknown_query,
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="Admin Core — admin API",
            version="1.0.0",
            description="The admin control plane. Every route needs a Clerk session token.",
            path=ADMIN_SCHEMA_PATH,
            render_plugins=[SwaggerRenderPlugin()],
        ),
        debug=debug,
    )
    app.state.container = container
    return app
