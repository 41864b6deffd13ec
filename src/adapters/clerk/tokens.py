"""Verify Clerk session JWTs: RS256 only, keys by `kid` from a cached JWKS."""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, Final, cast

import httpx
import jwt
from jwt.algorithms import RSAAlgorithm

from adapters.http.answers import json_body
from admin_core.auth.ports import SessionClaims, SessionTokenVerifier
from admin_core.kernel.errors import AuthTokenExpired, AuthTokenInvalid
from admin_core.kernel.json_text import finite_number, no_constant, read_json
from admin_core.kernel.loops import LoopLock
from admin_core.users.errors import IdentityProviderUnavailable

JwksFetcher = Callable[[], Awaitable[Mapping[str, Any]]]

_JWS: Final = jwt.PyJWS()

MAX_TOKEN_LENGTH: Final = 16 * 1024
"""Longer bearer tokens are refused before any decoding (Clerk keeps its own under 4 KB)."""


def http_jwks_fetcher(
    url: str, *, secret_key: str | None = None, timeout: float = 5.0
) -> JwksFetcher:
    """Fetch a JWKS document over HTTP (Clerk's `/v1/jwks` wants the secret key)."""
    headers = {"Authorization": f"Bearer {secret_key}"} if secret_key else {}

    async def fetch() -> Mapping[str, Any]:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(url, headers=headers)
            response.raise_for_status()
            document: Mapping[str, Any] = json_body(response)
            return document

    return fetch


class JwksCache:
    """Public keys by `kid`.

    Keys are fetched on first use and kept for `max_age` seconds. A token with an unknown `kid`
    triggers one refetch (concurrent callers share it), at most once per
    `min_refetch_interval` seconds, so a flood of forged `kid`s cannot turn into a flood of
    JWKS requests. Rotation works: the new key is found by that refetch. A key withdrawn from
    the JWKS stops verifying once the keys are older than `max_age` and fetched again; if that
    fetch fails, the keys in hand keep serving (an outage of the JWKS endpoint does not lock
    every caller out). A token whose key is not in hand while the last fetch failed is told
    why until the next fetch may be made (503 for an outage), never that its key is unknown.
    """

    def __init__(
        self,
        fetch: JwksFetcher,
        *,
        min_refetch_interval: float = 30.0,
        max_age: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._min_interval = min_refetch_interval
        self._max_age = max_age
        self._monotonic = monotonic
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        #: Why the last fetch failed (None: it did not), said again to the callers it left
        #: without a key until the next fetch may be made.
        self._failure: IdentityProviderUnavailable | AuthTokenInvalid | None = None
        self._lock = LoopLock()

    def _fresh(self) -> bool:
        return self._fetched_at is not None and (
            self._monotonic() - self._fetched_at < self._max_age
        )

    async def key(self, kid: str) -> Any | None:
        if kid in self._keys and self._fresh():
            return self._keys[kid]
        async with self._lock:
            if kid in self._keys and self._fresh():
                return self._keys[kid]
            now = self._monotonic()
            stale = kid in self._keys
            if (
                not stale
                and self._fetched_at is not None
                and (now - self._fetched_at < self._min_interval)
            ):
                if self._failure is not None:  # the kid is unknown only for want of keys
                    raise type(self._failure)(str(self._failure))
                return None
            self._fetched_at = now
            try:
                keys = _rsa_keys(await self._fetch())
            except httpx.HTTPError as error:  # Clerk down: not the token's fault (503)
                self._failure = IdentityProviderUnavailable(
                    "Clerk's signing keys could not be fetched; try again shortly."
                )
                if stale:
                    return self._keys[kid]
                raise self._failure from error
            except (ValueError, AuthTokenInvalid) as error:
                self._failure = AuthTokenInvalid("The signing keys could not be read.")
                if stale:
                    return self._keys[kid]
                raise self._failure from error
            self._keys = keys
            self._failure = None
            return self._keys.get(kid)


def _rsa_keys(document: object) -> dict[str, Any]:
    """The RSA signing keys of a JWKS document; entries that are not one are skipped."""
    entries = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(entries, list):
        raise AuthTokenInvalid("The signing keys could not be read.")
    keys: dict[str, Any] = {}
    for jwk in entries:
        if not isinstance(jwk, Mapping):
            continue
        kid = jwk.get("kid")
        if (
            jwk.get("kty") != "RSA"
            or not isinstance(kid, str)
            or not kid
            or jwk.get("use", "sig") != "sig"
            or jwk.get("alg", "RS256") != "RS256"
            or "d" in jwk  # a private key has no place in a JWKS
            or not isinstance(jwk.get("n"), str)
            or not isinstance(jwk.get("e"), str)
        ):
            continue
        try:
            keys[kid] = RSAAlgorithm.from_jwk({"kty": "RSA", "n": jwk["n"], "e": jwk["e"]})
        except (jwt.InvalidKeyError, ValueError):
            continue
    return keys


class ClerkSessionTokenVerifier(SessionTokenVerifier):
    """Accepts Clerk *session* tokens only (SPEC §5); everything else is `AuthTokenInvalid`
    (or `AuthTokenExpired`), never another error.

    Rules, stricter than Clerk's SDK where noted:
    - at most `MAX_TOKEN_LENGTH` characters, checked before any decoding;
    - signature RS256 only (pinned), by a key found by `kid` in the JWKS; no `crit` header;
    - the payload is a JSON object with no duplicate names and no NaN/Infinity;
    - `iss` equals the configured issuer; `sub` and `sid` are required non-empty strings;
    - a token carrying `aud` is a JWT-template token, not a session token: refused;
    - `exp` is required; `exp`/`nbf`/`iat` are numbers (not booleans), with `leeway_seconds`;
    - `azp`, when present, is a string in the allow-list (when one is configured);
    - `sts`, when present, must be `active` (`pending` and any other status are refused);
    - every claim read must have its JSON type (see `_ClaimReader`); a wrong type is a 401.
    Reads v1 (no `v`: `org_id`, `org_role`, `org_permissions`) and v2 (`v: 2`: `o: {id, rol,
    slg, per, fpm}` with `fea`); any other `v` is refused. Only the claims of the token's own
    version are read: a v2 token may carry custom claims named like v1's, and they are ignored.
    `org_permissions` come out sorted and without duplicates, identical for equivalent v1 and
    v2 tokens. The v2 role keeps Clerk's form (`admin`); the core adds the `org:` prefix.

    A verified token is remembered for up to `recheck_seconds` (and never past its `exp`), so
    the many requests one session token authorises cost one signature check, not one each;
    after that its signature is checked again against the JWKS as `JwksCache` then holds it.
    """

    def __init__(
        self,
        jwks: JwksCache,
        *,
        issuer: str,
        authorized_parties: Collection[str] = (),
        leeway_seconds: float = 5.0,
        now: Callable[[], float] = time.time,
        recheck_seconds: float = 30.0,
        remembered: int = 10_000,
    ) -> None:
        self._jwks = jwks
        self._issuer = issuer
        self._authorized_parties = frozenset(authorized_parties)
        self._leeway = leeway_seconds
        self._now = now
        self._recheck = recheck_seconds
        self._remembered = remembered
        #: token → (its claims, its `exp`, when to check its signature again); oldest first.
        self._verified: OrderedDict[str, tuple[SessionClaims, float, float]] = OrderedDict()

    async def verify(self, token: str) -> SessionClaims:
        known = self._verified.get(token)
        if known is not None:
            claims, expires, recheck_at = known
            now = self._now()
            if now < recheck_at:
                if expires <= now - self._leeway:
                    raise AuthTokenExpired()
                return claims
            del self._verified[token]
        claims, expires = await self._verify(token)
        self._verified[token] = (claims, expires, self._now() + self._recheck)
        if len(self._verified) > self._remembered:
            self._verified.popitem(last=False)
        return claims

    async def _verify(self, token: str) -> tuple[SessionClaims, float]:
        if len(token) > MAX_TOKEN_LENGTH:
            raise AuthTokenInvalid("The session token is too long.")
        if not token.isascii():
            raise AuthTokenInvalid("The session token is malformed.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as error:
            raise AuthTokenInvalid("The session token is malformed.") from error
        if header.get("alg") != "RS256":
            raise AuthTokenInvalid("The session token must be signed with RS256.")
        if "crit" in header or "b64" in header:
            raise AuthTokenInvalid("The session token uses a JWS extension that is not accepted.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthTokenInvalid("The session token has no key id.")
        key = await self._jwks.key(kid)
        if key is None:
            raise AuthTokenInvalid("The session token is signed by an unknown key.")
        try:
            signed = _JWS.decode_complete(token, key, algorithms=["RS256"])
        except jwt.InvalidTokenError as error:
            raise AuthTokenInvalid() from error
        return self._check(_ClaimReader(_parse_payload(signed["payload"])))

    def _check(self, claims: _ClaimReader) -> tuple[SessionClaims, float]:
        if claims.present("aud"):
            raise AuthTokenInvalid("A JWT-template token (with `aud`) is not a session token.")
        issuer = claims.required_text("iss")
        subject = claims.required_text("sub")
        session_id = claims.required_text("sid")
        expires = claims.required_number("exp")
        not_before = claims.number("nbf")
        issued_at = claims.number("iat")
        party = claims.text("azp")
        status = claims.text("sts")
        version = claims.integer("v")
        if version is None:
            org_id, role, permissions = _v1_organisation(claims)
        elif version == 2:
            org_id, role, permissions = _v2_organisation(claims)
        else:
            raise AuthTokenInvalid("The session token's claim format (`v`) is not supported.")

        if issuer != self._issuer:
            raise AuthTokenInvalid("The session token was issued by someone else.")
        now = self._now()
        # Compare, never add to, the claimed numbers: a huge integer cannot overflow a float.
        if expires <= now - self._leeway:
            raise AuthTokenExpired()
        for moment in (not_before, issued_at):
            if moment is not None and moment > now + self._leeway:
                raise AuthTokenInvalid("The session token is not valid yet.")
        if party is not None and self._authorized_parties and party not in self._authorized_parties:
            raise AuthTokenInvalid("The session token's authorized party is not allowed.")
        if status == "pending":
            raise AuthTokenInvalid("The session is pending and cannot be used yet.")
        if status is not None and status != "active":
            raise AuthTokenInvalid("The session is not active.")
        verified = SessionClaims(
            user_id=subject,
            session_id=session_id,
            org_id=org_id,
            org_role=role,
            org_permissions=tuple(sorted(set(permissions))),
        )
        return verified, expires


_Organisation = tuple[str | None, str | None, list[str]]


def _v1_organisation(claims: _ClaimReader) -> _Organisation:
    org_id = claims.text("org_id", non_empty=True)
    role = claims.text("org_role") or None
    claims.text("org_slug")
    permissions = list(claims.texts("org_permissions") or ())
    if org_id is None and (role is not None or permissions):
        raise AuthTokenInvalid("The session token has organisation claims but no organisation.")
    return org_id, role, permissions


def _v2_organisation(claims: _ClaimReader) -> _Organisation:
    features = _features(claims.text("fea"))
    org = claims.object("o")
    if org is None:
        return None, None, []
    org_id = org.required_text("id")
    role = org.text("rol") or None
    org.text("slg")
    permissions = _v2_permissions(features, names=org.text("per"), masks=org.text("fpm"))
    return org_id, role, permissions


_SCOPES: Final = {"o": True, "ou": True, "uo": True, "u": False}
_DECIMAL: Final = re.compile(r"[0-9]+")


def _items(value: str | None, claim: str, *, unique: bool = True) -> list[str]:
    """A comma-separated claim: no item may be empty, and names may not repeat."""
    if not value:
        return []
    items = [item.strip() for item in value.split(",")]
    if any(not item for item in items) or (unique and len(set(items)) != len(items)):
        raise AuthTokenInvalid(f"The session token's `{claim}` claim is malformed.")
    return items


def _features(fea: str | None) -> list[tuple[str, bool]]:
    """`fea` (`o:dashboard,u:teams`) as (feature, is an organisation feature) pairs."""
    features = []
    for item in _items(fea, "fea"):
        scope, _, name = item.partition(":")
        if scope not in _SCOPES or not name or ":" in name:
            raise AuthTokenInvalid("The session token's `fea` claim is malformed.")
        features.append((name, _SCOPES[scope]))
    return features


def _v2_permissions(
    features: list[tuple[str, bool]], *, names: str | None, masks: str | None
) -> list[str]:
    """Clerk v2 permissions as v1's full keys (`org:<feature>:<permission>`).

    From Clerk's session-token reference ("Decode o.fpm manually") and its SDK
    (`@clerk/shared` jwtPayloadParser): `o.per` lists permission names; `o.fpm` holds one
    decimal bitmask per organisation feature of `fea`, in order; bit i (least significant
    first) grants `o.per[i]` for that feature. Where the docs leave things open we read them
    strictly and refuse the token (the SDK instead guesses or drops silently):
    - `o.fpm` must hold exactly one mask per organisation feature (SDK: extra features get
      nothing, extra masks are ignored);
    - a mask is plain ASCII digits and sets no bit beyond the last name in `o.per`;
    - `fea` items are `scope:name` with scope `o`, `u`, `ou` or `uo`, and names hold no `:`;
    - the docs place a mask "in the same position in the `fea` claim" while the SDK counts
      organisation features only; the two differ when `fea` holds user-only (`u:`) features,
      so such a token with a non-empty `o.fpm` is refused as ambiguous;
    - no name repeats in `o.per` or `fea`, and none is empty.
    Without `o.fpm` the token grants no organisation permission.
    """
    permission_names = _items(names, "o.per")
    if any(":" in name for name in permission_names):
        raise AuthTokenInvalid("The session token's `o.per` claim is malformed.")
    bitmasks = _items(masks, "o.fpm", unique=False)
    if not bitmasks:
        return []
    if not all(is_org for _, is_org in features):
        raise AuthTokenInvalid("The session token's `fea` and `o.fpm` claims are ambiguous.")
    if len(bitmasks) != len(features):
        raise AuthTokenInvalid("The session token's `fea` and `o.fpm` claims do not match.")
    permissions = []
    for (feature, _), mask in zip(features, bitmasks, strict=True):
        if not _DECIMAL.fullmatch(mask):
            raise AuthTokenInvalid("The session token's `o.fpm` claim is malformed.")
        try:
            bits = int(mask)
        except ValueError as error:  # more digits than Python converts
            raise AuthTokenInvalid("The session token's `o.fpm` claim is malformed.") from error
        if bits >> len(permission_names):
            raise AuthTokenInvalid("The session token's `o.fpm` names unknown permissions.")
        permissions += [
            f"org:{feature}:{name}"
            for index, name in enumerate(permission_names)
            if bits >> index & 1
        ]
    return permissions


def _parse_payload(payload: bytes) -> dict[str, object]:
    """The payload as a JSON object: duplicate names, NaN and Infinity are refused."""

    def no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
        result = dict(pairs)
        if len(result) != len(pairs):
            raise ValueError("duplicate name")
        return result

    try:
        claims = read_json(
            payload,
            object_pairs_hook=no_duplicates,
            parse_float=finite_number,
            parse_constant=no_constant,
        )
    except ValueError as error:
        raise AuthTokenInvalid("The session token's payload is malformed.") from error
    if not isinstance(claims, dict):
        raise AuthTokenInvalid("The session token's payload is malformed.")
    return claims


class _ClaimReader:
    """Reads each claim once, with the JSON type it must have, so no other type ever reaches
    a comparison.

    An absent optional claim reads as `None`; a claim present with another type — `null`
    included — is `AuthTokenInvalid`. JSON booleans are not numbers.
    """

    def __init__(self, claims: Mapping[str, object], prefix: str = "") -> None:
        self._claims = claims
        self._prefix = prefix

    def present(self, name: str) -> bool:
        return name in self._claims

    def _read(self, name: str, *, required: bool, accepts: Callable[[object], bool]) -> object:
        if name not in self._claims:
            if required:
                raise AuthTokenInvalid(f"The session token has no `{self._prefix}{name}` claim.")
            return None
        value = self._claims[name]
        if not accepts(value):
            raise AuthTokenInvalid(
                f"The session token's `{self._prefix}{name}` claim is malformed."
            )
        return value

    def text(self, name: str, *, non_empty: bool = False) -> str | None:
        def accepts(value: object) -> bool:
            return isinstance(value, str) and bool(value or not non_empty)

        return cast(str | None, self._read(name, required=False, accepts=accepts))

    def required_text(self, name: str) -> str:
        """A non-empty string that must be there."""

        def accepts(value: object) -> bool:
            return isinstance(value, str) and bool(value)

        return cast(str, self._read(name, required=True, accepts=accepts))

    def number(self, name: str) -> int | float | None:
        return cast(int | float | None, self._read(name, required=False, accepts=_is_number))

    def required_number(self, name: str) -> int | float:
        return cast(int | float, self._read(name, required=True, accepts=_is_number))

    def integer(self, name: str) -> int | None:
        def accepts(value: object) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        return cast(int | None, self._read(name, required=False, accepts=accepts))

    def texts(self, name: str) -> tuple[str, ...] | None:
        """A list of non-empty strings."""

        def accepts(value: object) -> bool:
            return isinstance(value, list) and all(isinstance(v, str) and v for v in value)

        value = cast(list[str] | None, self._read(name, required=False, accepts=accepts))
        return None if value is None else tuple(value)

    def object(self, name: str) -> _ClaimReader | None:
        def accepts(value: object) -> bool:
            return isinstance(value, dict)

        value = cast(dict[str, object] | None, self._read(name, required=False, accepts=accepts))
        return None if value is None else _ClaimReader(value, prefix=f"{self._prefix}{name}.")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
