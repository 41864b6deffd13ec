"""The checkpoint signer (an Ed25519 private key in a file) and the set of public keys
checkpoints are trusted under (docs/adr/0056-signed-audit-checkpoints.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from adapters.keyfiles import publish_once
from admin_core.audit.checkpoints import PublicKey, b64, key_id_of, unb64
from admin_core.audit.ports import CheckpointKeys, CheckpointSigner
from admin_core.kernel.json_text import read_json


class CheckpointKeyUnusable(ValueError):
    """A key file that does not hold what it should."""


def _raw(public: ed25519.Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class Ed25519CheckpointSigner(CheckpointSigner):
    """Signs with the Ed25519 private key at `key_path` (PKCS#8 PEM, unencrypted).

    `create=True` (embedded mode) makes the key on first use, 0600, safely when several
    processes start at once: each writes its own key to a temporary file and hard-links it
    into place; exactly one link succeeds and the others read the winner's key. Production
    passes `create=False`: a missing key is an error, never a new key.
    """

    def __init__(self, key_path: Path, *, create: bool) -> None:
        self.key_path = key_path
        self._key = _load_or_create(key_path) if create else _read_private(key_path)
        raw = _raw(self._key.public_key())
        self._public = PublicKey(key_id=key_id_of(raw), raw=raw)

    @property
    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, payload: bytes) -> bytes:
        return self._key.sign(payload)


def _load_or_create(path: Path) -> ed25519.Ed25519PrivateKey:
    try:
        return _read_private(path)
    except FileNotFoundError:
        pass
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key if publish_once(path, pem) else _read_private(path)  # the winner's key


def _read_private(path: Path) -> ed25519.Ed25519PrivateKey:
    """The key at `path`; `FileNotFoundError` when there is none."""
    data = path.read_bytes()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise CheckpointKeyUnusable(f"{path} is not an unencrypted PEM private key") from error
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise CheckpointKeyUnusable(f"{path} holds a private key that is not Ed25519")
    return key


def public_key_pem(key: PublicKey) -> str:
    public = ed25519.Ed25519PublicKey.from_public_bytes(key.raw)
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def public_key_jwk(key: PublicKey) -> dict[str, str]:
    """The key as a JWK (RFC 8037), `kid` being its key id."""
    return {"kty": "OKP", "crv": "Ed25519", "x": b64(key.raw), "kid": key.key_id, "use": "sig"}


def read_public_keys(data: bytes) -> list[PublicKey]:
    """Public keys from a PEM file (one or more keys; a private key gives its public half) or
    a JSON key set (`{"keys": [JWK, ...]}`, what the well-known path serves)."""
    text = data.strip()
    if text.startswith(b"{"):
        try:
            document = read_json(text)
        except ValueError as error:
            raise CheckpointKeyUnusable("not a JSON key set") from error
        return _from_jwks(document)
    keys: list[PublicKey] = []
    for block in _pem_blocks(text):
        try:
            if b"PRIVATE KEY" in block.splitlines()[0]:
                loaded: Any = serialization.load_pem_private_key(block, password=None)
                loaded = loaded.public_key()
            else:
                loaded = serialization.load_pem_public_key(block)
        except (ValueError, TypeError, UnsupportedAlgorithm) as error:
            raise CheckpointKeyUnusable("not a PEM key") from error
        if not isinstance(loaded, ed25519.Ed25519PublicKey):
            raise CheckpointKeyUnusable("a key that is not Ed25519")
        raw = _raw(loaded)
        keys.append(PublicKey(key_id=key_id_of(raw), raw=raw))
    if not keys:
        raise CheckpointKeyUnusable("no key found (expected PEM or a JSON key set)")
    return keys


def _pem_blocks(text: bytes) -> Iterable[bytes]:
    block: list[bytes] = []
    for line in text.splitlines():
        if line.startswith(b"-----BEGIN"):
            block = [line]
        elif block:
            block.append(line)
            if line.startswith(b"-----END"):
                yield b"\n".join(block) + b"\n"
                block = []


def _from_jwks(document: Mapping[str, Any]) -> list[PublicKey]:
    jwks = document.get("keys", [])
    if not isinstance(jwks, list):
        raise CheckpointKeyUnusable("a key set whose `keys` is not a list")
    keys: list[PublicKey] = []
    for jwk in jwks:
        if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            continue
        try:
            raw = unb64(str(jwk["x"]))
        except (KeyError, ValueError) as error:
            raise CheckpointKeyUnusable("a JWK without a valid `x`") from error
        if len(raw) != 32:
            raise CheckpointKeyUnusable("an Ed25519 JWK whose `x` is not 32 bytes")
        keys.append(PublicKey(key_id=key_id_of(raw), raw=raw))
    if not keys:
        raise CheckpointKeyUnusable("the key set holds no Ed25519 key")
    return keys


class Ed25519CheckpointKeys(CheckpointKeys):
    """Verifies checkpoints under a set of public keys, looked up by key id."""

    def __init__(self, keys: Sequence[PublicKey]) -> None:
        self._keys = list({k.key_id: k for k in keys}.values())
        self._by_id = {
            k.key_id: ed25519.Ed25519PublicKey.from_public_bytes(k.raw) for k in self._keys
        }

    def public_keys(self) -> Sequence[PublicKey]:
        return self._keys

    def verify(self, key_id: str, payload: bytes, signature: bytes) -> bool | None:
        key = self._by_id.get(key_id)
        if key is None:
            return None
        try:
            key.verify(signature, payload)
        except InvalidSignature:
            return False
        return True
