"""A verified session token is remembered for a short while: the requests it authorises cost
one signature check, and what a token may do never outlives its own validity."""

from __future__ import annotations

import time

import pytest

from adapters.clerk.tokens import ClerkSessionTokenVerifier, JwksCache
from admin_core.kernel.errors import AuthTokenExpired, AuthTokenInvalid
from tests.support.tokens import ISSUER, JwksServer, SigningKey, claims, rsa_key


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world() -> tuple[ClerkSessionTokenVerifier, JwksServer, SigningKey, Clock]:
    key = SigningKey(kid="cache-key")
    server = JwksServer(key)
    clock = Clock()
    jwks = JwksCache(server.fetch, min_refetch_interval=0, max_age=60, monotonic=clock)
    verifier = ClerkSessionTokenVerifier(jwks, issuer=ISSUER, now=clock, recheck_seconds=30)
    return verifier, server, key, clock


async def test_a_token_verified_once_is_not_verified_again_within_the_recheck_time(
    world: tuple[ClerkSessionTokenVerifier, JwksServer, SigningKey, Clock],
) -> None:
    verifier, server, key, clock = world
    token = key.sign(claims(lifetime=300))
    first = await verifier.verify(token)
    server.keys = []  # the key is withdrawn from the JWKS
    fetches = server.fetches
    clock.now += 29
    assert await verifier.verify(token) == first
    assert server.fetches == fetches  # remembered: no key lookup, no signature check
    clock.now += 32  # past the recheck time and the keys' age: the JWKS is fetched again
    with pytest.raises(AuthTokenInvalid):
        await verifier.verify(token)
    assert server.fetches == fetches + 1


async def test_a_remembered_token_still_expires_on_time(
    world: tuple[ClerkSessionTokenVerifier, JwksServer, SigningKey, Clock],
) -> None:
    verifier, _, key, clock = world
    token = key.sign(claims(lifetime=10))
    await verifier.verify(token)
    clock.now += 16  # past exp and the 5 s leeway, within the recheck time
    with pytest.raises(AuthTokenExpired):
        await verifier.verify(token)


async def test_a_refused_token_is_not_remembered(
    world: tuple[ClerkSessionTokenVerifier, JwksServer, SigningKey, Clock],
) -> None:
    verifier, _, _, _ = world
    forger = SigningKey(kid="cache-key", private=rsa_key("forger"))  # same kid, another key
    forged = forger.sign(claims(sub="user_forged"))
    for _ in range(2):
        with pytest.raises(AuthTokenInvalid):
            await verifier.verify(forged)


async def test_only_so_many_tokens_are_remembered(
    world: tuple[ClerkSessionTokenVerifier, JwksServer, SigningKey, Clock],
) -> None:
    _, server, key, clock = world
    jwks = JwksCache(server.fetch, min_refetch_interval=0, max_age=10, monotonic=clock)
    verifier = ClerkSessionTokenVerifier(jwks, issuer=ISSUER, now=clock, remembered=3)
    tokens = [key.sign(claims(sub=f"user_{n}", lifetime=300)) for n in range(5)]
    for token in tokens:
        await verifier.verify(token)
    server.keys = []
    clock.now += 11  # the keys are stale: a token not remembered is checked against none
    for token in tokens[-3:]:
        assert (await verifier.verify(token)).user_id.startswith("user_")
    with pytest.raises(AuthTokenInvalid):
        await verifier.verify(tokens[0])


async def test_stale_keys_keep_serving_while_the_jwks_cannot_be_fetched(
    world: tuple[ClerkSessionTokenVerifier, JwksServer, SigningKey, Clock],
) -> None:
    _, server, _, clock = world
    fail = False

    async def fetch() -> object:
        if fail:
            raise ValueError("the JWKS endpoint is down")
        return await server.fetch()

    jwks = JwksCache(fetch, min_refetch_interval=0, max_age=10, monotonic=clock)
    assert await jwks.key("cache-key") is not None
    fail = True
    clock.now += 11
    assert await jwks.key("cache-key") is not None
