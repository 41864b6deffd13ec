"""Authentication and the permission check of every admin operation.

An operation declares what it needs with `opt=requires(permission, platform=...)` (on the
handler or its controller). Before anything else about the request is looked at,
`authenticate` verifies the bearer token (401) and checks the permission and platform scope
(403), and `reach_url` the reach to the tenants the path and query name (403); once the query
and the body's form (JSON, UTF-8, depth, no name given twice) have been checked, and before
the body's type is, `admit` checks the reach to the tenant a JSON body names as `tenant_id`
(403).
Handlers receive the checked `Principal`, carrying the request id, as the `principal`
dependency.

This is a `before_request` step rather than a Litestar guard: a guard is handed a copy of the
route handler on every call, which cost more than the whole check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection

from admin_core.kernel.errors import AuthTokenInvalid
from admin_core.kernel.principal import Permission, Principal, denied
from entrypoints.http.envelope import ensure_request_id

PRINCIPAL_KEY = "principal"
REQUIRES = "requires"


@dataclass(frozen=True, slots=True)
class Requirement:
    permission: Permission
    platform: bool


def requires(permission: Permission, *, platform: bool = False) -> dict[str, Requirement]:
    """The `opt` of an operation that needs `permission` (with platform scope, if asked)."""
    return {REQUIRES: Requirement(permission, platform)}


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The request's bearer token; None without one. Two `Authorization` lines are refused,
    equal or not: the field is given once (RFC 9110 §11.6.2), and which line counts must not
    rest on the reader (a proxy in front may read the other)."""
    if len(connection.headers.getall("authorization", [])) > 1:
        raise AuthTokenInvalid("The request carries more than one Authorization header.")
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(request: Request[Any, Any, Any], requirement: Requirement) -> Principal:
    """The caller, if the token is valid and carries the permission at all (401 / 403)."""
    principal: Principal = await request.app.state.container.auth.authenticate().execute(
        bearer_token(request), request_id=ensure_request_id(request.scope)
    )
    if not principal.can(requirement.permission, platform=requirement.platform):
        raise denied(requirement.permission, platform=requirement.platform)
    return principal


def body_tenant(body: bytes) -> str | None:
    """A JSON body's top-level `tenant_id`, when it is a string (a body that cannot be read
    is left to the operation's validation)."""
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    if isinstance(document, dict):
        tenant_id = document.get("tenant_id")
        if isinstance(tenant_id, str) and tenant_id:
            return tenant_id
    return None


def _url_tenants(request: Request[Any, Any, Any]) -> set[str]:
    """The tenants the path and the query name (every `tenant_id` given, even twice)."""
    path = request.path_params.get("tenant_id")
    named = {str(path)} if path else set()
    return named | {value for value in request.query_params.getall("tenant_id", []) if value}


def _reach(principal: Principal, requirement: Requirement, named: set[str]) -> None:
    for tenant_id in sorted(named):
        if not principal.can(
            requirement.permission, tenant_id=tenant_id, platform=requirement.platform
        ):
            raise denied(requirement.permission, tenant_id=tenant_id, platform=requirement.platform)


def reach_url(
    request: Request[Any, Any, Any], principal: Principal, requirement: Requirement
) -> None:
    """The reach to the tenants the URL names, checked before anything else about the
    request: naming another tenant is a 403 whatever the rest of the request holds."""
    _reach(principal, requirement, _url_tenants(request))


def admit(
    request: Request[Any, Any, Any], principal: Principal, requirement: Requirement, body: bytes
) -> None:
    """Check the reach to a tenant the body names (the URL's were checked by `reach_url`),
    then hand the principal to the handler."""
    if body and (tenant_id := body_tenant(body)) is not None:
        _reach(principal, requirement, {tenant_id})
    request.scope.setdefault("state", {})[PRINCIPAL_KEY] = principal


def current_principal(request: Request[Any, Any, Any]) -> Principal:
    principal = request.scope.get("state", {}).get(PRINCIPAL_KEY)
    if not isinstance(principal, Principal):
        raise RuntimeError("the operation declares no `requires(...)`")
    return principal
