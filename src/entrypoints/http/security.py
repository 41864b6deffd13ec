"""Authentication and the permission guard.

`requires(permission)` is the one guard: it authenticates the bearer token, checks the
permission, platform scope where asked, and the reach to any `tenant_id` named in the path or
query. Handlers receive the checked `Principal` as a dependency.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from admin_core.auth.use_cases import Authenticate
from admin_core.kernel.errors import InsufficientPermission
from admin_core.kernel.principal import Permission, Principal

PRINCIPAL_KEY = "principal"


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def requires(permission: Permission, *, platform: bool = False) -> Guard:
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        authenticate: Authenticate = connection.app.state.container.authenticate()
        principal = await authenticate.execute(bearer_token(connection))
        tenant_id = connection.path_params.get("tenant_id") or connection.query_params.get(
            "tenant_id"
        )
        if not principal.can(
            permission, tenant_id=str(tenant_id) if tenant_id else None, platform=platform
        ):
            raise InsufficientPermission(details={"permission": permission.value})
        connection.scope.setdefault("state", {})[PRINCIPAL_KEY] = principal

    return guard


def current_principal(request: Request[Any, Any, Any]) -> Principal:
    principal = request.scope.get("state", {}).get(PRINCIPAL_KEY)
    if not isinstance(principal, Principal):
        raise RuntimeError("route has no `requires` guard")
    return principal
