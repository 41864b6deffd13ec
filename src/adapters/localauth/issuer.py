"""A local signing key under `var/` and the tokens it mints."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class LocalTokenIssuer:
    """Signs RS256 session tokens with a key kept at `key_path` (created on first use, 0600).

    The `kid` is the key's RFC 7638 thumbprint, so a new key is a new `kid`.
    """

    def __init__(self, key_path: Path, *, issuer: str) -> None:
        self.issuer = issuer
        self._key = self._load_or_create(key_path)
        public_jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        self.kid = _thumbprint(public_jwk)
        self._jwk = public_jwk | {"kid": self.kid, "use": "sig", "alg": "RS256"}

    @staticmethod
    def _load_or_create(path: Path) -> rsa.RSAPrivateKey:
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError(f"{path.name} does not hold an RSA private key")
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(pem)
        return key

    def jwks(self) -> Mapping[str, Any]:
        return {"keys": [self._jwk]}

    def mint(
        self,
        *,
        user_id: str,
        org_id: str | None,
        role: str | None,
        ttl_seconds: int = 3600,
        claims_version: int = 2,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """A session token in Clerk's v2 (default) or v1 claim format."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user_id,
            "sid": f"sess_local_{now}",
            "iat": now,
            "nbf": now - 5,
            "exp": now + ttl_seconds,
        }
        if claims_version == 2:
            claims["v"] = 2
            if org_id:
                claims["o"] = {"id": org_id, "rol": (role or "").removeprefix("org:")}
        elif org_id:
            claims |= {"org_id": org_id, "org_role": role, "org_permissions": []}
        claims |= dict(extra or {})
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})


def _thumbprint(jwk: Mapping[str, Any]) -> str:
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    return _b64(hashlib.sha256(canonical.encode()).digest())
