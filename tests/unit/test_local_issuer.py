"""The embedded issuer's key: made once, safely, even when several processes start together;
and the tokens it mints pass the same verifier as Clerk's."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from adapters.clerk.tokens import ClerkSessionTokenVerifier, JwksCache
from adapters.localauth.issuer import LocalKeyUnusable, LocalTokenIssuer
from admin_core.auth.policy import normalise_role

ISSUER = "http://localhost:8000"
PROCESSES = 5


def _start_issuer(key_path: str, barrier: Barrier, results: Any) -> None:
    """Runs in a spawned process: wait for the others, then start an issuer on the path."""
    barrier.wait(timeout=60)
    try:
        issuer = LocalTokenIssuer(Path(key_path), issuer=ISSUER)
    except Exception as error:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put(("error", f"{type(error).__name__}: {error}"))
    else:
        results.put(("kid", issuer.kid))


def test_processes_starting_together_on_a_fresh_path_share_one_key(tmp_path: Path) -> None:
    key_path = tmp_path / "var" / "local-signing-key.pem"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    processes = [
        context.Process(target=_start_issuer, args=(str(key_path), barrier, results))
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert [process.exitcode for process in processes] == [0] * PROCESSES
    assert [kind for kind, _ in outcomes] == ["kid"] * PROCESSES, outcomes
    kids = {kid for _, kid in outcomes}
    assert len(kids) == 1
    assert LocalTokenIssuer(key_path, issuer=ISSUER).kid in kids
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert os.listdir(key_path.parent) == [key_path.name]  # no temporary file left behind


def test_a_new_key_is_private_and_leaves_nothing_else(tmp_path: Path) -> None:
    key_path = tmp_path / "nested" / "dir" / "key.pem"
    issuer = LocalTokenIssuer(key_path, issuer=ISSUER)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert os.listdir(key_path.parent) == ["key.pem"]
    assert issuer.jwks()["keys"][0]["kid"] == issuer.kid


def test_an_existing_key_is_reused(tmp_path: Path) -> None:
    key_path = tmp_path / "key.pem"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    key_path.write_bytes(pem)
    first = LocalTokenIssuer(key_path, issuer=ISSUER)
    second = LocalTokenIssuer(key_path, issuer=ISSUER)
    assert first.kid == second.kid
    assert key_path.read_bytes() == pem  # never rewritten
    published = first.jwks()["keys"][0]
    expected = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    assert (published["n"], published["e"]) == (expected["n"], expected["e"])


def _ec_key_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _encrypted_rsa_key_pem() -> bytes:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not an unencrypted PEM private key"),
        (b"not a key at all\n", "not an unencrypted PEM private key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not an unencrypted"),
        (_encrypted_rsa_key_pem(), "not an unencrypted PEM private key"),
        (_ec_key_pem(), "not RSA"),
    ],
    ids=["empty", "text", "truncated", "encrypted", "ec-key"],
)
def test_a_file_that_is_not_an_rsa_key_gives_a_clear_error(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    key_path = tmp_path / "key.pem"
    key_path.write_bytes(content)
    with pytest.raises(LocalKeyUnusable, match=reason) as caught:
        LocalTokenIssuer(key_path, issuer=ISSUER)
    assert str(key_path) in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert key_path.read_bytes() == content  # left for the operator to look at


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> LocalTokenIssuer:
    return LocalTokenIssuer(tmp_path_factory.mktemp("key") / "key.pem", issuer=ISSUER)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize(
    ("org_id", "role"),
    [
        ("org_1", "org:admin"),
        ("org_1", "admin"),
        ("org_1", None),
        (None, None),
        (None, "org:admin"),
    ],
)
async def test_minted_tokens_pass_the_verifier(
    issuer: LocalTokenIssuer, version: int, org_id: str | None, role: str | None
) -> None:
    async def fetch() -> Any:
        return issuer.jwks()

    verifier = ClerkSessionTokenVerifier(JwksCache(fetch), issuer=ISSUER)
    token = issuer.mint(user_id="user_1", org_id=org_id, role=role, claims_version=version)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["sid"].startswith("sess_")
    assert "aud" not in payload
    assert None not in payload.values()
    claims = await verifier.verify(token)
    assert claims.user_id == "user_1"
    assert claims.session_id == payload["sid"]
    assert claims.org_id == org_id
    assert normalise_role(claims.org_role) == (normalise_role(role) if org_id else None)
    assert claims.org_permissions == ()


def test_sessions_get_distinct_ids(issuer: LocalTokenIssuer) -> None:
    sids = {
        jwt.decode(
            issuer.mint(user_id="user_1", org_id=None, role=None),
            options={"verify_signature": False},
        )["sid"]
        for _ in range(5)
    }
    assert len(sids) == 5


def test_an_unknown_claim_format_is_refused(issuer: LocalTokenIssuer) -> None:
    with pytest.raises(ValueError, match="version 3"):
        issuer.mint(user_id="user_1", org_id="org_1", role="org:admin", claims_version=3)
