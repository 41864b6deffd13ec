"""Test signing keys served as a JWKS, and tokens in Clerk's v1 and v2 formats."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ISSUER = "https://clerk.test.example"


@functools.cache
def rsa_key(name: str) -> rsa.RSAPrivateKey:
    """RSA keys are slow to make; each test session makes each named key once."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.private is None:
            self.private = rsa_key(self.kid)

    def jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return jwk | {"kid": self.kid, "use": "sig", "alg": "RS256"}

    def sign(self, claims: Mapping[str, Any], *, headers: Mapping[str, Any] | None = None) -> str:
        return jwt.encode(
            dict(claims),
            self.private,
            algorithm="RS256",
            headers={"kid": self.kid, **(headers or {})},
        )


class JwksServer:
    """A JWKS document that tests can rotate, counting how often it was fetched."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.fetches = 0

    async def fetch(self) -> Mapping[str, Any]:
        self.fetches += 1
        return {"keys": [k.jwk() for k in self.keys]}


def claims(
    *,
    sub: str = "user_1",
    org_id: str | None = None,
    role: str | None = None,
    version: int = 2,
    issuer: str = ISSUER,
    lifetime: int = 60,
    **extra: Any,
) -> dict[str, Any]:
    now = int(time.time())
    body: dict[str, Any] = {
        "iss": issuer,
        "sub": sub,
        "sid": "sess_1",
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
    }
    if version == 2:
        body["v"] = 2
        if org_id:
            body["o"] = {"id": org_id, "rol": (role or "").removeprefix("org:"), "per": ""}
    elif org_id:
        body |= {"org_id": org_id, "org_role": role, "org_permissions": []}
    return body | extra
