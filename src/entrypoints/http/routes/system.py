"""Liveness, readiness, the embedded token issuer's JWKS and the audit checkpoints' public keys
(not in the admin schema)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency

from adapters.ed25519.keys import public_key_jwk
from admin_core.health.errors import NotReady
from admin_core.health.use_cases import CheckReadiness
from admin_core.kernel.errors import error_views
from entrypoints.http.dependencies import open_use_case
from entrypoints.http.envelope import error_response, ok
from entrypoints.http.schemas import ErrorEnvelope, StatusOut, SuccessEnvelope


@get("/health", include_in_schema=False, sync_to_thread=False)
def health(request: Request[Any, Any, Any]) -> Response[SuccessEnvelope[StatusOut]]:
    return ok(request, StatusOut(status="ok"))


@get(
    "/ready",
    include_in_schema=False,
    dependencies={"check_readiness": open_use_case(lambda c: c.health.check_readiness)},
)
async def ready(
    request: Request[Any, Any, Any], check_readiness: NamedDependency[CheckReadiness]
) -> Response[SuccessEnvelope[StatusOut]] | Response[ErrorEnvelope]:
    try:
        await check_readiness.execute()
    except NotReady as not_ready:  # logged already, in full: no second line per probe
        return error_response(request, 503, error_views(not_ready))
    return ok(request, StatusOut(status="ready"))


@get("/.well-known/jwks.json", include_in_schema=False, sync_to_thread=False)
def jwks(request: Request[Any, Any, Any]) -> Mapping[str, Any]:
    """The embedded issuer's public keys, in the same format Clerk publishes."""
    result: Mapping[str, Any] = request.app.state.container.auth.token_issuer().jwks()
    return result


@get("/.well-known/audit-checkpoint-keys", include_in_schema=False, sync_to_thread=False)
def audit_checkpoint_keys(request: Request[Any, Any, Any]) -> Mapping[str, Any]:
    """The public keys audit checkpoints verify under (the signer's first, then former keys),
    as a JSON key set: what `adminctl audit verify-export --public-key` takes."""
    keys = request.app.state.container.audit.checkpoint_keys().public_keys()
    return {"keys": [public_key_jwk(key) for key in keys]}
