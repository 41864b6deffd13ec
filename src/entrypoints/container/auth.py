"""Authentication: the token verifier (Clerk's JWKS, or the local issuer's when embedded), the
role policy and `Authenticate`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from dependency_injector import containers, providers

from adapters.clerk.tokens import ClerkSessionTokenVerifier, JwksCache, http_jwks_fetcher
from adapters.localauth.issuer import LocalTokenIssuer
from admin_core.auth.policy import RolePolicy
from admin_core.auth.use_cases import Authenticate
from admin_core.kernel.json_text import read_json
from entrypoints.container import choices
from entrypoints.settings import Settings


class LocalTokensRefused(RuntimeError):
    """Production never mints local tokens."""


def _issuer(settings: Settings) -> LocalTokenIssuer:
    if not choices.mints_local_tokens(settings):
        raise LocalTokensRefused("production mode never mints local tokens")
    return LocalTokenIssuer(choices.local_key_path(settings), issuer=settings.auth_issuer)


def _jwks_fetcher(
    settings: Settings, issuer: Callable[[], LocalTokenIssuer]
) -> Callable[[], Awaitable[Mapping[str, Any]]]:
    if choices.mints_local_tokens(settings):

        async def local() -> Mapping[str, Any]:
            return issuer().jwks()

        return local
    assert settings.clerk_jwks_url is not None  # required in production (Settings.problems)
    return http_jwks_fetcher(settings.clerk_jwks_url, secret_key=settings.clerk_secret_key)


def _role_policy(settings: Settings) -> RolePolicy:
    if settings.role_policy_file is None:
        return RolePolicy.default()
    return RolePolicy.from_mapping(read_json(settings.role_policy_file.read_text()))


class AuthArea(containers.DeclarativeContainer):
    runtime = providers.DependenciesContainer()
    database = providers.DependenciesContainer()

    role_policy = providers.Singleton(_role_policy, runtime.settings)
    token_issuer = providers.Singleton(_issuer, runtime.settings)
    jwks = providers.Singleton(
        JwksCache, fetch=providers.Callable(_jwks_fetcher, runtime.settings, token_issuer.provider)
    )
    token_verifier = providers.Singleton(
        ClerkSessionTokenVerifier,
        jwks,
        issuer=runtime.settings.provided.auth_issuer,
        authorized_parties=runtime.settings.provided.auth_authorized_parties,
    )
    authenticate = providers.Singleton(
        Authenticate,
        verifier=token_verifier,
        transactions=database.transactions,
        policy=role_policy,
        platform_orgs=runtime.settings.provided.platform_orgs,
        clock=runtime.clock,
        cache_ttl=providers.Callable(
            lambda s: timedelta(seconds=s.org_cache_seconds), runtime.settings
        ),
    )
