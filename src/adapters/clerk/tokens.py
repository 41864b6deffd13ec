"""Verify Clerk session JWTs: RS256 only, keys by `kid` from a cached JWKS."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import httpx
import jwt
from jwt.algorithms import RSAAlgorithm

from admin_core.auth.ports import SessionClaims, SessionTokenVerifier
from admin_core.kernel.errors import AuthTokenExpired, AuthTokenInvalid

JwksFetcher = Callable[[], Awaitable[Mapping[str, Any]]]


def http_jwks_fetcher(
    url: str, *, secret_key: str | None = None, timeout: float = 5.0
) -> JwksFetcher:
    """Fetch a JWKS document over HTTP (Clerk's `/v1/jwks` wants the secret key)."""
    headers = {"Authorization": f"Bearer {secret_key}"} if secret_key else {}

    async def fetch() -> Mapping[str, Any]:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(url, headers=headers)
            response.raise_for_status()
            document: Mapping[str, Any] = response.json()
            return document

    return fetch


class JwksCache:
    """Public keys by `kid`.

    Keys are fetched on first use and kept. A token with an unknown `kid` triggers one refetch
    (concurrent callers share it), at most once per `min_refetch_interval` seconds, so a flood
    of forged `kid`s cannot turn into a flood of JWKS requests. Rotation works: the new key is
    found by that refetch.
    """

    def __init__(
        self,
        fetch: JwksFetcher,
        *,
        min_refetch_interval: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._min_interval = min_refetch_interval
        self._monotonic = monotonic
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._fetches = 0
        self._lock = asyncio.Lock()

    @property
    def fetch_count(self) -> int:
        """How many times the JWKS was fetched (observable rate limiting)."""
        return self._fetches

    async def key(self, kid: str) -> Any | None:
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            if kid in self._keys:
                return self._keys[kid]
            now = self._monotonic()
            if self._fetched_at is not None and now - self._fetched_at < self._min_interval:
                return None
            self._fetched_at = now
            self._fetches += 1
            try:
                document = await self._fetch()
            except (httpx.HTTPError, ValueError) as error:
                raise AuthTokenInvalid("The signing keys could not be fetched.") from error
            self._keys = _rsa_keys(document)
            return self._keys.get(kid)


def _rsa_keys(document: Mapping[str, Any]) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for jwk in document.get("keys", []):
        if jwk.get("kty") == "RSA" and jwk.get("kid") and jwk.get("use", "sig") == "sig":
            keys[jwk["kid"]] = RSAAlgorithm.from_jwk(jwk)
    return keys


class ClerkSessionTokenVerifier(SessionTokenVerifier):
    """Checks signature (RS256 pinned), `iss`, `exp`/`nbf` with leeway, `azp` against the
    allow-list when the claim is present, and refuses pending sessions (`sts: pending`).
    Reads v1 (`org_id`, `org_role`, `org_permissions`) and v2 (`v: 2`, `o: {id, rol, per}`)."""

    def __init__(
        self,
        jwks: JwksCache,
        *,
        issuer: str,
        authorized_parties: Collection[str] = (),
        leeway_seconds: float = 5.0,
    ) -> None:
        self._jwks = jwks
        self._issuer = issuer
        self._authorized_parties = frozenset(authorized_parties)
        self._leeway = leeway_seconds

    async def verify(self, token: str) -> SessionClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as error:
            raise AuthTokenInvalid("The session token is malformed.") from error
        if header.get("alg") != "RS256":
            raise AuthTokenInvalid("The session token must be signed with RS256.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthTokenInvalid("The session token has no key id.")
        key = await self._jwks.key(kid)
        if key is None:
            raise AuthTokenInvalid("The session token is signed by an unknown key.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "sub"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as error:
            raise AuthTokenExpired() from error
        except jwt.ImmatureSignatureError as error:
            raise AuthTokenInvalid("The session token is not valid yet.") from error
        except jwt.InvalidIssuerError as error:
            raise AuthTokenInvalid("The session token was issued by someone else.") from error
        except jwt.InvalidTokenError as error:
            raise AuthTokenInvalid() from error
        azp = claims.get("azp")
        if azp is not None and self._authorized_parties and azp not in self._authorized_parties:
            raise AuthTokenInvalid("The session token's authorized party is not allowed.")
        if claims.get("sts") == "pending":
            raise AuthTokenInvalid("The session is pending and cannot be used yet.")
        return _normalise(claims)


def _normalise(claims: Mapping[str, Any]) -> SessionClaims:
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise AuthTokenInvalid("The session token has no subject.")
    if claims.get("v") == 2:
        org = claims.get("o")
        if org is not None and not isinstance(org, Mapping):
            raise AuthTokenInvalid("The session token's organisation claim is malformed.")
        org = org or {}
        org_id, role, permissions = org.get("id"), org.get("rol"), org.get("per")
        if isinstance(permissions, list):
            perms = tuple(str(p) for p in permissions)
        else:
            perms = tuple(p for p in str(permissions or "").split(",") if p)
    else:
        org_id, role = claims.get("org_id"), claims.get("org_role")
        raw = claims.get("org_permissions") or []
        perms = tuple(str(p) for p in raw) if isinstance(raw, list) else ()
    if org_id is not None and not isinstance(org_id, str):
        raise AuthTokenInvalid("The session token's organisation id is malformed.")
    if role is not None and not isinstance(role, str):
        raise AuthTokenInvalid("The session token's organisation role is malformed.")
    sid = claims.get("sid")
    return SessionClaims(
        user_id=subject,
        session_id=sid if isinstance(sid, str) else None,
        org_id=org_id or None,
        org_role=role or None,
        org_permissions=perms,
    )
