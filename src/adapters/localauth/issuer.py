"""A local signing key under `var/` and the tokens it mints."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from adapters.keyfiles import publish_once
from admin_core.kernel.json_text import read_json


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class LocalTokenIssuer:
    """Signs RS256 session tokens with a key kept at `key_path` (created on first use, 0600).

    The `kid` is the key's RFC 7638 thumbprint, so a new key is a new `kid`.
    """

    def __init__(self, key_path: Path, *, issuer: str) -> None:
        self.issuer = issuer
        self._key = self._load_or_create(key_path)
        public_jwk: dict[str, Any] = read_json(RSAAlgorithm.to_jwk(self._key.public_key()))
        self.kid = _thumbprint(public_jwk)
        self._jwk = public_jwk | {"kid": self.kid, "use": "sig", "alg": "RS256"}

    @staticmethod
    def _load_or_create(path: Path) -> rsa.RSAPrivateKey:
        """Read the key at `path`, or make one and publish it there without ever overwriting
        (`publish_once`): processes starting at once on a fresh path all end up with the
        winner's key, and so with the same `kid`."""
        try:
            return _read_key(path)
        except FileNotFoundError:
            pass
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return key if publish_once(path, pem) else _read_key(path)

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
        """A session token in Clerk's v2 (default) or v1 claim format.

        It always carries a `sid` (the verifier accepts session tokens only) and never `aud`;
        claims that would be `null` are left out, as Clerk does.
        """
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user_id,
            "sid": f"sess_local_{secrets.token_hex(8)}",
            "iat": now,
            "nbf": now - 5,
            "exp": now + ttl_seconds,
        }
        if claims_version == 2:
            claims["v"] = 2
            if org_id:
                org: dict[str, Any] = {"id": org_id}
                if role:
                    org["rol"] = role.removeprefix("org:")
                claims["o"] = org
        elif claims_version == 1:
            if org_id:
                claims |= {"org_id": org_id, "org_permissions": []}
                if role:
                    claims["org_role"] = role
        else:
            raise ValueError(f"Clerk has no claim format version {claims_version}")
        claims |= dict(extra or {})
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})


class LocalKeyUnusable(ValueError):
    """The file at the key path exists but does not hold an unencrypted RSA private key."""


def _read_key(path: Path) -> rsa.RSAPrivateKey:
    """The RSA private key at `path`; `FileNotFoundError` when there is none."""
    data = path.read_bytes()
    advice = "delete it to have a new key made, or point the key path at another file"
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise LocalKeyUnusable(
            f"{path} is not an unencrypted PEM private key ({advice})"
        ) from error
    if not isinstance(key, rsa.RSAPrivateKey):
        raise LocalKeyUnusable(f"{path} holds a private key that is not RSA ({advice})")
    return key


def _thumbprint(jwk: Mapping[str, Any]) -> str:
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    return _b64(hashlib.sha256(canonical.encode()).digest())
