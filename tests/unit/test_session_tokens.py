"""Clerk session-token verification: every way a token can be wrong is refused."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import time
from collections.abc import Mapping
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.clerk.tokens import MAX_TOKEN_LENGTH, ClerkSessionTokenVerifier, JwksCache
from admin_core.auth.policy import normalise_role
from admin_core.auth.ports import SessionClaims
from admin_core.kernel.errors import AuthTokenExpired, AuthTokenInvalid
from admin_core.users.errors import IdentityProviderUnavailable
from tests.support import tokens as support
from tests.support.tokens import ISSUER, JwksServer, SigningKey, rsa_key


def claims(**kwargs: Any) -> dict[str, Any]:
    """The shared helper's claims plus the `sid` every session token carries (SPEC §5)."""
    return support.claims(**({"sid": "sess_1"} | kwargs))


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


# --- Claim types, session tokens only, v1/v2 permissions, size: fixed time, raw signing ---

NOW = 1_800_000_000
ALLOWED_PARTY = "https://admin.example"
KEY = SigningKey(kid="key-1")
DOCS_PERMISSIONS = ("org:dashboard:manage", "org:dashboard:read", "org:teams:read")
Refused = (AuthTokenInvalid, AuthTokenExpired)


def fixed_verifier(
    *keys: SigningKey, authorized_parties: tuple[str, ...] = (ALLOWED_PARTY,)
) -> tuple[ClerkSessionTokenVerifier, JwksServer]:
    jwks = JwksServer(*(keys or (KEY,)))
    verifier = ClerkSessionTokenVerifier(
        JwksCache(jwks.fetch),
        issuer=ISSUER,
        authorized_parties=authorized_parties,
        now=lambda: NOW,
    )
    return verifier, jwks


def sign_raw(
    body: Mapping[str, Any] | bytes,
    key: SigningKey = KEY,
    headers: Mapping[str, Any] | None = None,
) -> str:
    """Sign any payload, even one PyJWT's `encode` would refuse to build."""
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return jwt.PyJWS().encode(
        payload, key.private, algorithm="RS256", headers={"kid": key.kid, **(headers or {})}
    )


def verify_now(body: Mapping[str, Any] | bytes, **kwargs: Any) -> SessionClaims:
    verifier, _ = fixed_verifier(**kwargs)
    return asyncio.run(verifier.verify(sign_raw(body)))


def session(**overrides: Any) -> dict[str, Any]:
    """Every claim a Clerk session token carries by default, valid at `NOW`."""
    return {
        "iss": ISSUER,
        "sub": "user_1",
        "sid": "sess_1",
        "iat": NOW - 10,
        "nbf": NOW - 10,
        "exp": NOW + 60,
        "azp": ALLOWED_PARTY,
        "sts": "active",
    } | overrides


def full_claims(version: int) -> dict[str, Any]:
    """A token carrying every claim the verifier reads for that format (Clerk docs' example)."""
    if version == 1:
        return session(
            org_id="org_1",
            org_role="org:admin",
            org_slug="acme",
            org_permissions=list(DOCS_PERMISSIONS),
        )
    return session(
        v=2,
        fea="o:dashboard,o:teams",
        o={"id": "org_1", "rol": "admin", "slg": "acme", "per": "manage,read", "fpm": "3,2"},
    )


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)

# Every claim the verifier reads, with the one JSON type it accepts (`aud`: none at all).
COMMON_CLAIMS = {
    "iss": "string",
    "sub": "string",
    "sid": "string",
    "exp": "number",
    "nbf": "number",
    "iat": "number",
    "azp": "string",
    "sts": "string",
    "aud": "none",
}
V1_CLAIMS = {"org_id": "string", "org_role": "string", "org_slug": "string"}
V1_CLAIMS |= {"org_permissions": "array"}
V2_CLAIMS = {"v": "number", "fea": "string", "o": "object", "o.id": "string", "o.rol": "string"}
V2_CLAIMS |= {"o.slg": "string", "o.per": "string", "o.fpm": "string"}
CLAIM_CASES = [(1, name, kind) for name, kind in (COMMON_CLAIMS | V1_CLAIMS).items()] + [
    (2, name, kind) for name, kind in (COMMON_CLAIMS | V2_CLAIMS).items()
]


def with_claim(body: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    body = json.loads(json.dumps(body))
    *parents, name = path.split(".")
    target = body
    for parent in parents:
        target = target[parent]
    target[name] = value
    return body


@pytest.mark.parametrize("version", [1, 2])
def test_the_full_claim_sets_are_accepted(version: int) -> None:
    result = verify_now(full_claims(version))
    assert (result.org_id, normalise_role(result.org_role)) == ("org_1", "org:admin")
    assert result.org_permissions == DOCS_PERMISSIONS


@pytest.mark.parametrize(("version", "claim", "kind"), CLAIM_CASES)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(value=JSON_VALUES)
def test_a_claim_of_another_json_type_is_a_401_never_an_error(
    version: int, claim: str, kind: str, value: object
) -> None:
    if json_type(value) == kind:
        return
    with pytest.raises(Refused):
        verify_now(with_claim(full_claims(version), claim, value))


ORG_CLAIM_NAMES = ["id", "rol", "slg", "per", "fpm"]
TOP_CLAIM_NAMES = [*COMMON_CLAIMS, *V1_CLAIMS, "v", "fea", "o", "act", "fva"]


@settings(max_examples=300, deadline=None)
@given(
    version=st.sampled_from([1, 2]),
    overrides=st.dictionaries(st.sampled_from(TOP_CLAIM_NAMES), JSON_VALUES, max_size=4),
    org_overrides=st.dictionaries(st.sampled_from(ORG_CLAIM_NAMES), JSON_VALUES, max_size=3),
    removed=st.sets(st.sampled_from(TOP_CLAIM_NAMES), max_size=3),
)
def test_any_claims_give_a_session_or_a_401(
    version: int,
    overrides: dict[str, Any],
    org_overrides: dict[str, Any],
    removed: set[str],
) -> None:
    body = full_claims(version)
    if version == 2:
        body["o"] |= org_overrides
    body = {k: v for k, v in (body | overrides).items() if k not in removed}
    try:
        result = verify_now(body)
    except Refused:
        return
    assert isinstance(result.user_id, str)
    assert result.user_id
    assert isinstance(result.session_id, str)
    assert result.session_id
    assert result.org_id is None or isinstance(result.org_id, str)
    assert result.org_role is None or isinstance(result.org_role, str)
    assert all(isinstance(p, str) for p in result.org_permissions)
    assert "aud" not in body


# --- v2 `o.per`/`o.fpm`/`fea` read as v1's `org_permissions` (Clerk docs, "Decode o.fpm") ---


def test_the_clerk_docs_example_decodes_to_v1_permission_keys() -> None:
    # fea `o:dashboard,o:teams`, o.per `manage,read`, o.fpm `3,2` →
    # dashboard: 0b11 → manage, read; teams: 0b10 → read (bit 0 = first name in o.per).
    v2 = verify_now(full_claims(2))
    v1 = verify_now(full_claims(1))
    assert v2.org_permissions == v1.org_permissions == DOCS_PERMISSIONS
    assert dataclasses.replace(v2, org_role=normalise_role(v2.org_role)) == v1


NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(grants=st.dictionaries(NAMES, st.sets(NAMES, max_size=4), max_size=4), data=st.data())
def test_v1_and_v2_tokens_with_the_same_permissions_give_the_same_claims(
    grants: dict[str, set[str]], data: st.DataObject
) -> None:
    keys = [f"org:{feature}:{name}" for feature, names in grants.items() for name in names]
    v1 = session(
        org_id="org_1",
        org_role="org:admin",
        org_permissions=data.draw(st.permutations(keys)),
    )
    # Encoded as the Clerk docs describe: one mask per `fea` feature, bit i = o.per[i].
    per = data.draw(st.permutations(sorted(set().union(*grants.values()))))
    features = list(grants)
    masks = [sum(1 << per.index(name) for name in grants[feature]) for feature in features]
    org = {"id": "org_1", "rol": "admin", "per": ",".join(per)}
    org |= {"fpm": ",".join(map(str, masks))} if features else {}
    v2 = session(v=2, fea=",".join(f"o:{feature}" for feature in features), o=org)
    from_v1, from_v2 = verify_now(v1), verify_now(v2)
    assert set(from_v1.org_permissions) == set(keys)
    assert dataclasses.replace(from_v2, org_role=normalise_role(from_v2.org_role)) == from_v1


def test_v2_without_a_feature_permission_map_grants_no_permission() -> None:
    body = full_claims(2)
    del body["o"]["fpm"]
    assert verify_now(body).org_permissions == ()


@pytest.mark.parametrize(
    ("fea", "per", "fpm"),
    [
        ("o:dashboard", "manage,read", "3,2"),  # more masks than features
        ("o:dashboard,o:teams", "manage,read", "3"),  # fewer masks than features
        ("o:dashboard,o:teams", "manage,read", "3,4"),  # bit 2 names no permission
        ("o:dashboard,o:teams", "manage,read", "3,x"),
        ("o:dashboard,o:teams", "manage,read", "3,-1"),
        ("o:dashboard,o:teams", "manage,read", "3,1_0"),
        ("o:dashboard,o:teams", "manage,read", "3,\u0663"),  # an Arabic-Indic digit
        ("o:dashboard,o:teams", "manage,read", "3," + "9" * 5000),
        ("o:dashboard,o:teams", "manage,,read", "3,2"),
        ("o:dashboard,o:teams", "manage,manage", "3,2"),
        ("o:dashboard,o:teams", "org:manage,read", "3,2"),
        ("o:dashboard,teams", "manage,read", "3,2"),  # no scope
        ("o:dashboard,x:teams", "manage,read", "3,2"),  # unknown scope
        ("o:dashboard,o:", "manage,read", "3,2"),
        ("o:dashboard,o:dashboard", "manage,read", "3,2"),
        ("u:profile,o:dashboard,o:teams", "manage,read", "3,2"),  # positions are ambiguous
        (None, "manage,read", "3,2"),
    ],
)
def test_malformed_v2_permissions_are_refused(fea: str | None, per: str, fpm: str) -> None:
    body = full_claims(2)
    body["o"] |= {"per": per, "fpm": fpm}
    if fea is None:
        del body["fea"]
    else:
        body["fea"] = fea
    with pytest.raises(AuthTokenInvalid):
        verify_now(body)


def test_user_features_without_an_organisation_are_fine() -> None:
    body = session(v=2, fea="u:profile,u:export")
    assert verify_now(body).org_id is None


# --- Session tokens only ---


@pytest.mark.parametrize("sid", [None, "", "absent"])
def test_a_token_without_a_session_id_is_refused(sid: str | None) -> None:
    body = full_claims(2)
    if sid == "absent":
        del body["sid"]
    else:
        body["sid"] = sid
    with pytest.raises(AuthTokenInvalid):
        verify_now(body)


@pytest.mark.parametrize("sub", [None, "", "absent"])
def test_a_token_without_a_subject_is_refused(sub: str | None) -> None:
    body = full_claims(2)
    if sub == "absent":
        del body["sub"]
    else:
        body["sub"] = sub
    with pytest.raises(AuthTokenInvalid):
        verify_now(body)


@pytest.mark.parametrize("aud", ["convex", ["convex", "other"], None, ""])
def test_a_jwt_template_token_carrying_aud_is_refused(aud: object) -> None:
    with pytest.raises(AuthTokenInvalid):
        verify_now(session(aud=aud))


@pytest.mark.parametrize("azp", [[ALLOWED_PARTY], {ALLOWED_PARTY: True}, {}, []])
@pytest.mark.parametrize("authorized_parties", [(ALLOWED_PARTY,), ()])
def test_azp_as_a_list_or_an_object_is_a_401(
    azp: object, authorized_parties: tuple[str, ...]
) -> None:
    with pytest.raises(AuthTokenInvalid):
        verify_now(session(azp=azp), authorized_parties=authorized_parties)


@pytest.mark.parametrize("version", [1, 3, 0, -2])
def test_an_unknown_claim_format_is_refused(version: int) -> None:
    with pytest.raises(AuthTokenInvalid):
        verify_now(full_claims(2) | {"v": version})


@pytest.mark.parametrize("status", ["revoked", "ended", "", "Active"])
def test_only_active_sessions_are_accepted(status: str) -> None:
    with pytest.raises(AuthTokenInvalid):
        verify_now(session(sts=status))


def test_organisation_claims_without_an_organisation_are_refused() -> None:
    with pytest.raises(AuthTokenInvalid):
        verify_now(session(org_role="org:admin"))
    with pytest.raises(AuthTokenInvalid):
        verify_now(session(v=2, o={"rol": "admin"}))


def test_v1_org_permissions_must_be_strings() -> None:
    for permissions in ([1], [None], [""], [["org:a:b"]], [{"k": "v"}]):
        with pytest.raises(AuthTokenInvalid):
            verify_now(full_claims(1) | {"org_permissions": permissions})


# --- Times and numbers ---


def test_times_compare_without_overflow() -> None:
    assert verify_now(session(exp=10**400)).user_id == "user_1"
    with pytest.raises(AuthTokenExpired):
        verify_now(session(exp=-(10**400)))
    with pytest.raises(AuthTokenInvalid):
        verify_now(session(nbf=10**400))
    with pytest.raises(AuthTokenInvalid):
        verify_now(session(iat=10**400))
    assert verify_now(session(exp=NOW + 60.5, nbf=NOW - 0.5)).user_id == "user_1"


def test_the_leeway_is_five_seconds() -> None:
    assert verify_now(session(exp=NOW - 4)).user_id == "user_1"
    with pytest.raises(AuthTokenExpired):
        verify_now(session(exp=NOW - 5))
    assert verify_now(session(nbf=NOW + 5, iat=NOW + 5)).user_id == "user_1"
    with pytest.raises(AuthTokenInvalid):
        verify_now(session(nbf=NOW + 6))


@pytest.mark.parametrize(
    "payload",
    [
        b'{"iss": "%s", "sub": "user_1", "sid": "s", "exp": NaN}',
        b'{"iss": "%s", "sub": "user_1", "sid": "s", "exp": Infinity}',
        b'{"iss": "%s", "sub": "user_1", "sid": "s", "exp": 1e400}',
        b'{"iss": "%s", "sub": "user_1", "sid": "s", "exp": 1' + b"0" * 5000 + b"}",
        b'{"iss": "%s", "sub": "user_1", "sid": "s", "sub": "user_2", "exp": 1900000000}',
        b'{"iss": "%s", "sub": "user_1", "sid": "s", "o": {"id": "a", "id": "b"}, "v": 2,'
        b' "exp": 1900000000}',
        b'["not", "an", "object"]',
        b"not json",
        b"[" * 10_000,
    ],
)
def test_a_payload_that_is_not_strict_json_is_refused(payload: bytes) -> None:
    token = sign_raw(payload.replace(b"%s", ISSUER.encode()))
    verifier, _ = fixed_verifier()
    with pytest.raises(AuthTokenInvalid):
        asyncio.run(verifier.verify(token))


# --- Size, headers and the JWKS document ---


async def test_a_token_over_16_kib_is_refused_before_any_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert MAX_TOKEN_LENGTH == 16 * 1024
    verifier, jwks = fixed_verifier()
    short = sign_raw(session(pad=""))
    # Base64 turns 3 payload bytes into 4 characters: fill up to just under the limit.
    fitting = sign_raw(session(pad="x" * ((MAX_TOKEN_LENGTH - len(short)) * 3 // 4 - 3)))
    assert MAX_TOKEN_LENGTH - 8 < len(fitting) <= MAX_TOKEN_LENGTH
    assert (await verifier.verify(fitting)).user_id == "user_1"

    def no_decoding(token: str) -> None:
        raise AssertionError("a long token must be refused before it is decoded")

    monkeypatch.setattr(jwt, "get_unverified_header", no_decoding)
    fetches = jwks.fetches
    too_long = sign_raw(session(pad="x" * (MAX_TOKEN_LENGTH * 3 // 4)))
    for token in (too_long, "a" * (MAX_TOKEN_LENGTH + 1), "a." * 100_000):
        with pytest.raises(AuthTokenInvalid):
            await verifier.verify(token)
    assert jwks.fetches == fetches


@pytest.mark.parametrize("token", ["\u00e9a.b.c", "\ud800.a.b", "a.b.c\x00"])
async def test_non_ascii_tokens_are_invalid(token: str) -> None:
    verifier, _ = fixed_verifier()
    with pytest.raises(AuthTokenInvalid):
        await verifier.verify(token)


def sign_with_header(header: Mapping[str, Any], body: Mapping[str, Any]) -> str:
    """A validly signed token with exactly this header, which PyJWT's `encode` may refuse."""
    signing_input = f"{b64(dict(header))}.{b64(dict(body))}"
    signature = KEY.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


@pytest.mark.parametrize(
    "extra",
    [{"crit": ["exp"]}, {"crit": []}, {"b64": True}, {"kid": ["key-1"]}, {"kid": ""}, {"kid": 1}],
)
async def test_unexpected_headers_are_refused(extra: dict[str, Any]) -> None:
    verifier, _ = fixed_verifier()
    header = {"alg": "RS256", "typ": "JWT", "kid": KEY.kid}
    assert (await verifier.verify(sign_with_header(header, session()))).user_id == "user_1"
    with pytest.raises(AuthTokenInvalid):
        await verifier.verify(sign_with_header(header | extra, session()))


class JunkJwks(JwksServer):
    """A JWKS document with entries that are not RSA signing keys next to the real one."""

    async def fetch(self) -> Mapping[str, Any]:
        document = dict(await super().fetch())
        junk: list[object] = [
            None,
            "key",
            [],
            {"kty": "RSA"},
            {"kty": "RSA", "kid": ["x"], "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "kid": "junk-1", "n": 5, "e": "AQAB"},
            {"kty": "RSA", "kid": "junk-2", "n": "!!", "e": "AQAB"},
            {"kty": "EC", "kid": "junk-3", "crv": "P-256", "x": "a", "y": "b"},
            {**KEY.jwk(), "kid": "junk-4", "use": "enc"},
            {**KEY.jwk(), "kid": "junk-5", "alg": "HS256"},
        ]
        return {"keys": [*junk, *document["keys"]]}


async def test_entries_of_the_jwks_that_are_not_rsa_signing_keys_are_skipped() -> None:
    jwks = JunkJwks(KEY)
    verifier = ClerkSessionTokenVerifier(JwksCache(jwks.fetch), issuer=ISSUER, now=lambda: NOW)
    assert (await verifier.verify(sign_raw(session()))).user_id == "user_1"
    for kid in ("junk-4", "junk-5"):
        with pytest.raises(AuthTokenInvalid):
            await verifier.verify(sign_raw(session(), headers={"kid": kid}))


@pytest.mark.parametrize("document", [[], "keys", {"keys": "none"}, {"keys": None}, {}])
async def test_a_jwks_document_of_the_wrong_shape_is_a_401(document: Any) -> None:
    async def fetch() -> Any:
        return document

    verifier = ClerkSessionTokenVerifier(JwksCache(fetch), issuer=ISSUER, now=lambda: NOW)
    with pytest.raises(AuthTokenInvalid):
        await verifier.verify(sign_raw(session()))


async def test_clerk_out_of_reach_stays_a_503_until_the_keys_may_be_fetched_again() -> None:
    """The refetch limit keeps an outage from being asked about on every request; the
    requests it holds back are told of the outage too, never that their key is unknown, and
    the first one after the limit gets its keys."""
    clock = [1000.0]
    down = True
    jwks = JwksServer(KEY)

    async def fetch() -> Any:
        if down:
            raise httpx.ConnectError("connection refused")
        return await jwks.fetch()

    cache = JwksCache(fetch, min_refetch_interval=30, monotonic=lambda: clock[0])
    verifier = ClerkSessionTokenVerifier(cache, issuer=ISSUER, now=lambda: NOW)
    token = sign_raw(session())
    for _ in range(3):
        with pytest.raises(IdentityProviderUnavailable):
            await verifier.verify(token)
        clock[0] += 5
    down = False
    clock[0] += 30
    assert (await verifier.verify(token)).user_id == "user_1"


async def test_clerk_out_of_reach_is_a_503_not_a_bad_token() -> None:
    """A Clerk outage must not tell clients their tokens are bad (they would sign users out)."""

    async def fetch() -> Any:
        raise httpx.ConnectError("connection refused")

    verifier = ClerkSessionTokenVerifier(JwksCache(fetch), issuer=ISSUER, now=lambda: NOW)
    with pytest.raises(IdentityProviderUnavailable):
        await verifier.verify(sign_raw(session()))
