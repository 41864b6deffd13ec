"""Clerk session-token verification: every way a token can be wrong is refused."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from adapters.clerk.tokens import ClerkSessionTokenVerifier, JwksCache
from admin_core.kernel.errors import AuthTokenExpired, AuthTokenInvalid
from tests.support.tokens import ISSUER, JwksServer, SigningKey, claims, rsa_key


@pytest.fixture
def key() -> SigningKey:
    return SigningKey(kid="key-1")


@pytest.fixture
def jwks(key: SigningKey) -> JwksServer:
    return JwksServer(key)


@pytest.fixture
def clock() -> list[float]:
    return [1000.0]


@pytest.fixture
def verifier(jwks: JwksServer, clock: list[float]) -> ClerkSessionTokenVerifier:
    cache = JwksCache(jwks.fetch, min_refetch_interval=30, monotonic=lambda: clock[0])
    return ClerkSessionTokenVerifier(
        cache, issuer=ISSUER, authorized_parties=["https://admin.example"]
    )


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_v2_claims_are_normalised(
    verifier: ClerkSessionTokenVerifier, key: SigningKey
) -> None:
    token = key.sign(claims(org_id="org_1", role="org:admin", version=2, sid="sess_1"))
    result = await verifier.verify(token)
    assert (result.user_id, result.org_id, result.org_role, result.session_id) == (
        "user_1",
        "org_1",
        "admin",
        "sess_1",
    )


async def test_v1_claims_are_normalised(
    verifier: ClerkSessionTokenVerifier, key: SigningKey
) -> None:
    token = key.sign(claims(org_id="org_1", role="org:coordinator", version=1))
    result = await verifier.verify(token)
    assert (result.org_id, result.org_role) == ("org_1", "org:coordinator")


async def test_a_token_without_organisation_is_valid(
    verifier: ClerkSessionTokenVerifier, key: SigningKey
) -> None:
    result = await verifier.verify(key.sign(claims()))
    assert result.org_id is None
    assert result.org_role is None


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "Bearer x", "eyJhbGciOi.eyJ.sig"])
async def test_garbage_is_invalid(verifier: ClerkSessionTokenVerifier, garbage: str) -> None:
    with pytest.raises(AuthTokenInvalid):
        await verifier.verify(garbage)


async def test_wrong_signature_is_invalid(verifier: ClerkSessionTokenVerifier) -> None:
    impostor = SigningKey(kid="key-1", private=rsa_key("impostor"))  # same kid, other key
    with pytest.raises(AuthTokenInvalid):
        await verifier.verify(impostor.sign(claims()))


async def test_tampered_payload_is_invalid(
    verifier: ClerkSessionTokenVerifier, key: SigningKey
) -> None:
    header, _, signature = key.sign(claims(org_id="org_1", role="org:coordinator")).split(".")
    forged = b64(claims(org_id="org_1", role="org:super_admin"))
    with pytest.raises(AuthTokenInvalid):
        await verifier.verify(f"{header}.{forged}.{signature}")


async def test_alg_none_is_refused(verifier: ClerkSessionTokenVerifier) -> None:
    token = f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': 'key-1'})}.{b64(claims())}."
    with pytest.raises(AuthTokenInvalid):
        await verifier.verify(token)


async def test_hs256_signed_with_the_public_key_is_refused(
    verifier: ClerkSessionTokenVerifier, key: SigningKey
) -> None:
    public_pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64({"alg": "HS256", "typ": "JWT", "kid": "key-1"})
    payload = b64(claims())
    import hashlib
    import hmac

    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    with pytest.raises(AuthTokenInvalid):
        await verifier.verify(token)


async def test_expired_beyond_leeway_is_expired(
    verifier: ClerkSessionTokenVerifier, key: SigningKey
) -> None:
    now = int(time.time())
    token = key.sign(claims(iat=now - 120, nbf=now - 120, exp=now - 10))
    with pytest.raises(AuthTokenExpired):
        await verifier.verify(token)


async def test_expiry_within_leeway_is_accepted(
    verifier: ClerkSessionTokenVerifier, key: SigningKey
) -> None:
    now = int(time.time())
    token = key.sign(claims(iat=now - 60, nbf=now - 60, exp=now - 2))
    assert (await verifier.verify(token)).user_id == "user_1"


async def test_not_yet_valid_is_invalid(
    verifier: ClerkSessionTokenVerifier, key: SigningKey
) -> None:
    now = int(time.time())
    token = key.sign(claims(nbf=now + 60, exp=now + 120))
    with pytest.raises(AuthTokenInvalid):
        await verifier.verify(token)


async def test_wrong_issuer_is_invalid(
    verifier: ClerkSessionTokenVerifier, key: SigningKey
) -> None:
    with pytest.raises(AuthTokenInvalid):
        await verifier.verify(key.sign(claims(issuer="https://evil.example")))


async def test_missing_exp_is_invalid(verifier: ClerkSessionTokenVerifier, key: SigningKey) -> None:
    body = claims()
    del body["exp"]
    with pytest.raises(AuthTokenInvalid):
        await verifier.verify(key.sign(body))


async def test_azp_outside_the_allow_list_is_invalid(
    verifier: ClerkSessionTokenVerifier, key: SigningKey
) -> None:
    with pytest.raises(AuthTokenInvalid):
        await verifier.verify(key.sign(claims(azp="https://evil.example")))
    allowed = await verifier.verify(key.sign(claims(azp="https://admin.example")))
    assert allowed.user_id == "user_1"


async def test_pending_session_is_refused(
    verifier: ClerkSessionTokenVerifier, key: SigningKey
) -> None:
    with pytest.raises(AuthTokenInvalid):
        await verifier.verify(key.sign(claims(sts="pending")))
    active = await verifier.verify(key.sign(claims(sts="active")))
    assert active.user_id == "user_1"


async def test_unknown_kid_refetches_once_and_key_rotation_works(
    verifier: ClerkSessionTokenVerifier, jwks: JwksServer, key: SigningKey, clock: list[float]
) -> None:
    await verifier.verify(key.sign(claims()))
    assert jwks.fetches == 1
    clock[0] += 31
    rotated = SigningKey(kid="key-2")
    with pytest.raises(AuthTokenInvalid):
        await verifier.verify(rotated.sign(claims()))  # not published yet: one refetch
    assert jwks.fetches == 2
    jwks.keys.append(rotated)
    with pytest.raises(AuthTokenInvalid):
        await verifier.verify(rotated.sign(claims()))  # refetch is rate-limited
    assert jwks.fetches == 2
    clock[0] += 31
    assert (await verifier.verify(rotated.sign(claims()))).user_id == "user_1"
    assert jwks.fetches == 3
    await verifier.verify(key.sign(claims()))  # known keys need no fetch
    assert jwks.fetches == 3


async def test_a_flood_of_unknown_kids_costs_one_fetch(
    verifier: ClerkSessionTokenVerifier, jwks: JwksServer
) -> None:
    for n in range(20):
        forged = SigningKey(kid=f"forged-{n}", private=rsa_key("impostor"))
        with pytest.raises(AuthTokenInvalid):
            await verifier.verify(forged.sign(claims()))
    assert jwks.fetches == 1


async def test_token_without_kid_is_invalid(
    verifier: ClerkSessionTokenVerifier, key: SigningKey
) -> None:
    token = jwt.encode(claims(), key.private, algorithm="RS256")
    with pytest.raises(AuthTokenInvalid):
        await verifier.verify(token)
