"""Authentication and the permission guard.

`requires(permission)` is the one guard: it authenticates the bearer token, checks the
permission, platform scope where asked, and the reach to every tenant the request names —
in the path, in the query, or as `tenant_id` in a JSON body. Handlers receive the checked
`Principal`, carrying the request id, as the `principal` dependency.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from admin_core.kernel.errors import InsufficientPermission
from admin_core.kernel.principal import Permission, Principal
from entrypoints.http.envelope import ensure_request_id
from entrypoints.http.requests import check_request

PRINCIPAL_KEY = "principal"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def named_tenants(connection: ASGIConnection[Any, Any, Any, Any]) -> set[str]:
    """Every tenant id the request names: path, query, and a JSON body's `tenant_id`."""
    named = {
        str(value)
        for value in (
            connection.path_params.get("tenant_id"),
            connection.query_params.get("tenant_id"),
        )
        if value
    }
    if isinstance(connection, Request) and connection.method in _BODY_METHODS:
        await check_request(connection)  # content type and depth, before the body is parsed
        body = await connection.body()
        if body:
            try:
                document = msgspec.json.decode(body)
            except msgspec.DecodeError:
                document = None  # the handler answers a body it cannot read
            if isinstance(document, dict):
                tenant_id = document.get("tenant_id")
                if isinstance(tenant_id, str) and tenant_id:
                    named.add(tenant_id)
    return named


def requires(permission: Permission, *, platform: bool = False) -> Guard:
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        authenticate = connection.app.state.container.auth.authenticate()
        principal: Principal = await authenticate.execute(bearer_token(connection))
        if not principal.can(permission, platform=platform):
            raise InsufficientPermission(details={"permission": permission.value})
        for tenant_id in sorted(await named_tenants(connection)):
            if not principal.can(permission, tenant_id=tenant_id, platform=platform):
                raise InsufficientPermission(
                    details={"permission": permission.value, "tenant_id": tenant_id}
                )
        request_id = ensure_request_id(connection.scope)
        connection.scope.setdefault("state", {})[PRINCIPAL_KEY] = replace(
            principal, request_id=request_id
        )

    return guard


def current_principal(request: Request[Any, Any, Any]) -> Principal:
    principal = request.scope.get("state", {}).get(PRINCIPAL_KEY)
    if not isinstance(principal, Principal):
        raise RuntimeError("route has no `requires` guard")
    return principal
