"""Settings: one typed definition, read from the environment and validated at once.

Every setting is a field of `Settings` whose metadata names its variable, how to read it and
what it means; the README table and `.env.example` are generated from the same definition
(`python -m entrypoints.settings`, kept in sync by a test). Nothing is read at import time.

Two modes (docs/adr/0040-run-modes.md):
- `embedded` (the default) runs with no external service: SQLite under `var/`, a local token
  issuer, the in-process graph and the demo identity provider, and seeds the demo data set
  into a database it created;
- `production` needs PostgreSQL, Clerk and Neo4j, never seeds, never mints local tokens and
  never falls back to an in-memory adapter. A missing or invalid setting stops start-up with
  one message that names every problem (`ConfigurationError`).
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import ipaddress
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import sqlalchemy as sa

from adapters.config_files import PROJECT_CONFIG
from admin_core.kernel.json_text import read_json
from admin_core.tenants.rules import ORG_ID

EMBEDDED_DATABASE = "sqlite+aiosqlite:///var/admin_core.db"
#: The project's `config/` folder (the flag catalogue, the matching registry), wherever the
#: command runs from.
CONFIG = PROJECT_CONFIG
PREFIX = "ADMIN_"
#: Variables of the test and benchmark tooling, not of the application.
_TOOLING_PREFIX = "ADMIN_TEST_"
#: Variables the documentation has operators export that are no setting: the bearer token
#: of the README's and the embedded welcome's `curl` lines.
_OPERATOR_VARIABLES = frozenset({"ADMIN_TOKEN"})


class Mode(enum.StrEnum):
    EMBEDDED = "embedded"
    PRODUCTION = "production"


class ConfigurationError(Exception):
    """The configuration cannot run; `problems` names every one of them."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"- {p}" for p in problems))


# --------------------------------------------------------------------------- readers


def _text(value: str) -> str:
    return value


def _integer(low: int, high: int) -> Callable[[str], int]:
    def read(value: str) -> int:
        text = value.strip()
        if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return int(text)

    return read


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError("must be a number of seconds") from None
    if not 0 <= seconds <= 86_400:
        raise ValueError("must be between 0 and 86400 seconds")
    return seconds


def _positive_seconds(value: str) -> float:
    seconds = _seconds(value)
    if seconds == 0:
        raise ValueError("must be more than 0 seconds")
    return seconds


def _period(value: str) -> float:
    """0 (never) or at least a second: a shorter period would keep a writer busy."""
    seconds = _seconds(value)
    if 0 < seconds < 1:
        raise ValueError("must be 0 (never) or at least 1 second")
    return seconds


def _probe_timeout(value: str) -> float:
    seconds = _seconds(value)
    if not 0 < seconds <= 30:
        raise ValueError("must be more than 0 and at most 30 seconds")
    return seconds


def _flag(value: str) -> bool:
    text = value.strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be true or false")


def _path(value: str) -> Path:
    return Path(value)


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _paths(value: str) -> tuple[Path, ...]:
    return tuple(Path(part) for part in _csv(value))


def _org_ids(value: str) -> tuple[str, ...]:
    orgs = _csv(value)
    if not orgs:
        raise ValueError("must name at least one organisation")
    bad = [org for org in orgs if not ORG_ID.fullmatch(org)]
    if bad:
        raise ValueError(f"{', '.join(bad)} is not a Clerk organisation id (org_...)")
    return orgs


#: The readers of URL settings: a `Settings(...)` built in code is checked with them too.
_URL_READERS: set[Callable[[str], str]] = set()
_BAD_PORT = "has a port that is not a whole number from 1 to 65535"


def _url(*schemes: str) -> Callable[[str], str]:
    """A URL of one of `schemes` whose port, if it names one, is a port: a typo there is
    named with the other settings, not met as a driver's traceback at the first call. The
    value is never echoed: it may hold a password."""

    def read(value: str) -> str:
        try:
            parts = urlsplit(value.strip())
        except ValueError:  # an unclosed `[` of an IPv6 host
            raise ValueError("is not a URL: its host's brackets do not match") from None
        located = parts.netloc or parts.path or parts.scheme == "memory"  # memory:// names none
        if parts.scheme not in schemes or not located:
            raise ValueError(
                f"must be a URL starting with {' or '.join(f'{s}://' for s in schemes)}"
            )
        try:
            port = parts.port
        except ValueError:
            raise ValueError(_BAD_PORT) from None
        if port == 0:
            raise ValueError(_BAD_PORT)
        return value.strip()

    _URL_READERS.add(read)
    return read


_DATABASE_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg", "memory")


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and 1 <= int(text) <= 65535


def _database(value: str) -> str:
    """A database URL as SQLAlchemy reads it (a password may hold `/`, `#` or `?`, which end
    the authority of any other URL) that asyncpg can be handed: its ports, in the host part,
    `?port=` and `?host=host:port`, are ports. The value is never echoed."""
    url = value.strip()
    scheme, separator, rest = url.partition("://")
    if scheme not in _DATABASE_SCHEMES or not separator or not (rest or scheme == "memory"):
        raise ValueError(
            f"must be a URL starting with {' or '.join(f'{s}://' for s in _DATABASE_SCHEMES)}"
        )
    if scheme == "memory":
        return url
    try:
        parsed = sa.make_url(url)
    except ValueError:  # int() of the port
        raise ValueError(_BAD_PORT) from None
    except sa.exc.ArgumentError:  # SQLAlchemy's message holds the password
        raise ValueError("is not a database URL (scheme://user:password@host:port/db)") from None
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise ValueError(_BAD_PORT)
    if parsed.get_backend_name() != "postgresql":
        return url
    ports = _query_values(parsed, "port")
    ports += [port for _, port in map(_host_and_port, _query_values(parsed, "host")) if port]
    if not all(_is_port(port) for port in ports):
        raise ValueError(_BAD_PORT)
    try:  # what the engine does with it: several hosts need a port each
        parsed.get_dialect()().create_connect_args(parsed)
    except (ValueError, sa.exc.ArgumentError) as error:
        raise ValueError(f"cannot be handed to asyncpg: {error}") from None
    _check_asyncpg_query(url)
    return url


#: What the engine takes from a PostgreSQL URL's query besides `asyncpg.connect`'s own
#: arguments: SQLAlchemy's, and libpq's `sslmode` (read as `ssl`).
_QUERY_TAKEN_BY_ENGINE = frozenset(
    {"prepared_statement_cache_size", "prepared_statement_name_func", "sslmode"}
)
#: What libpq reads from a URL that asyncpg takes another way.
_QUERY_HINTS = {
    "sslrootcert": "name the server's CA file with PGSSLROOTCERT instead",
}
#: The `ssl=` modes asyncpg knows (libpq's), `-` or `_` alike.
_SSL_MODES = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})


def _check_asyncpg_query(url: str) -> None:
    """A query parameter asyncpg does not take, or an `ssl=` mode it does not know, fails
    every connection (a TypeError, an error asyncpg raises before connecting): said here,
    with the other settings, by its name only (the URL holds a password)."""
    import asyncpg

    from adapters.sql.engine import libpq_ssl_mode

    taken = set(inspect.signature(asyncpg.connect).parameters) | _QUERY_TAKEN_BY_ENGINE
    query = libpq_ssl_mode(url).query
    for name in query:
        if name not in taken:
            hint = f"; {_QUERY_HINTS[name]}" if name in _QUERY_HINTS else ""
            raise ValueError(f"has ?{name}=, which asyncpg does not take{hint}")
    modes = query.get("ssl") or ()
    for mode in (modes,) if isinstance(modes, str) else modes:
        if mode.lower().replace("_", "-") not in _SSL_MODES:
            raise ValueError(
                "has an ssl mode asyncpg does not know: use disable, allow, prefer, require,"
                " verify-ca or verify-full"
            )


def _server_key(value: str) -> str:
    if not value.startswith("ser."):
        raise ValueError("must be a server-side environment key (ser....) for local evaluation")
    return value


def _prefixed(*prefixes: str) -> Callable[[str], str]:
    """A key of a provider that marks its kinds of key by prefix (a publishable key where a
    secret one is needed fails every call; say so before)."""

    def read(value: str) -> str:
        if not value.strip().startswith(prefixes):
            raise ValueError(f"must be a secret key ({' or '.join(p + '...' for p in prefixes)})")
        return value.strip()

    return read


_HOSTNAME = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+")


def listen_host(value: str) -> str:
    """An IP address or a host name to listen on."""
    text = value.strip()
    try:
        ipaddress.ip_address(text)
    except ValueError:
        if not _HOSTNAME.fullmatch(text):
            raise ValueError("must be an IP address or a host name") from None
    return text


def _mode(value: str) -> Mode:
    try:
        return Mode(value.strip().lower())
    except ValueError:
        raise ValueError("must be embedded or production") from None


_URL_READERS.add(_database)
_DATABASE = _database


def setting(
    default: Any,
    doc: str,
    *,
    read: Callable[[str], Any] = _text,
    secret: bool = False,
    shown_default: str | None = None,
    production: str | None = None,
    example: str | None = None,
) -> Any:
    """A field of `Settings`: its variable is `ADMIN_<FIELD NAME>`. `production`, when given,
    says why production needs the setting set to a value of its own (the embedded default
    does not count); `example` is what `.env.example` shows for it."""
    metadata = {
        "doc": doc,
        "read": read,
        "secret": secret,
        "shown_default": shown_default,
        "production": production,
        "example": example,
    }
    return field(default=default, metadata=metadata)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    mode: Mode = setting(
        Mode.EMBEDDED,
        "`embedded` (SQLite, demo data, local tokens) or `production` (PostgreSQL, Clerk, Neo4j,"
        " Flagsmith, a checkpoint key and directory)",
        read=_mode,
    )
    database_url: str = setting(
        EMBEDDED_DATABASE,
        "`postgresql+asyncpg://...` (required in production, with `?ssl=verify-full` or"
        " `require` unless on this host); embedded: SQLite, `memory://` or PostgreSQL",
        read=_DATABASE,
        secret=True,
        shown_default="embedded: `sqlite+aiosqlite:///var/admin_core.db`",
        production="production needs PostgreSQL (postgresql+asyncpg://...)",
        example=(
            "postgresql+asyncpg://admin_app:secret@db.internal:5432/admin_core?ssl=verify-full"
        ),
    )
    migration_database_url: str | None = setting(
        None,
        "owner role used by `adminctl db upgrade` (default: the database URL)",
        read=_DATABASE,
        secret=True,
        example=(
            "postgresql+asyncpg://admin_owner:secret@db.internal:5432/admin_core?ssl=verify-full"
        ),
    )
    database_app_role: str | None = setting(
        None,
        "PostgreSQL role the app connects as; migrations grant it exactly what it needs",
        example="admin_app",
    )
    database_pool_size: int = setting(
        4,
        "PostgreSQL connections per process for transactions, no overflow (ADR 0007); at least"
        " 2: a graph rebuild reads its source on one for its whole length (the advisory locks"
        " connect apart)",
        read=_integer(2, 100),
    )
    database_statement_timeout_seconds: float = setting(
        30.0,
        "how long a statement of a request or command may go unanswered by PostgreSQL (a"
        " stalled server or network, a lock never let go) before it gives up with"
        " DATABASE_UNAVAILABLE (`adminctl db upgrade` waits as long as it takes)",
        read=_positive_seconds,
    )
    auth_issuer: str = setting(
        "http://127.0.0.1:8000",
        "required `iss` of session tokens (production: your Clerk instance's URL)",
        read=_url("http", "https"),
        shown_default="embedded: `http://127.0.0.1:8000`",
        production="production needs your Clerk instance's issuer URL",
        example="https://clerk.example.com",
    )
    auth_authorized_parties: tuple[str, ...] = setting(
        (),
        "comma list; a token's `azp`, when present, must be one of them (required in"
        " production; embedded: not checked while empty)",
        read=_csv,
        production="production accepts session tokens only from the frontends it names",
        example="https://admin.example.com",
    )
    clerk_jwks_url: str | None = setting(
        None,
        "Clerk JWKS endpoint (required in production)",
        read=_url("http", "https"),
        production="production verifies Clerk session tokens against Clerk's JWKS",
        example="https://api.clerk.com/v1/jwks",
    )
    clerk_secret_key: str | None = setting(
        None,
        "Clerk Backend API key, `sk_...` (required in production)",
        secret=True,
        read=_prefixed("sk_"),
        production="production checks users and roles with Clerk's Backend API",
        example="sk_live_replace_me",
    )
    clerk_api_url: str = setting(
        "https://api.clerk.com/v1", "Clerk Backend API base URL", read=_url("http", "https")
    )
    platform_orgs: tuple[str, ...] = setting(
        ("org_platform",),
        "comma list of the Clerk organisations whose members act on every tenant; the first"
        " holds the platform's roles (required in production)",
        read=_org_ids,
        shown_default="embedded: `org_platform`",
        production="production names the Clerk organisations of its platform operators",
        example="org_2abcPlatformOps",
    )
    role_policy_file: Path | None = setting(
        None, "JSON role → permission map replacing the default (SPEC §5)", read=_path
    )
    org_cache_seconds: float = setting(
        30.0, "how long an org → tenant mapping is cached per replica", read=_seconds
    )
    local_key_path: Path | None = setting(
        None,
        "embedded only: the local token issuer's private key",
        read=_path,
        shown_default="embedded: `keys/local-signing.pem` beside the SQLite database"
        " (`var/keys/` for `memory://` or PostgreSQL)",
    )
    demo_seed: bool = setting(
        True,
        "embedded only: seed the demo data set into an empty database"
        " (no tenant, audit entry or platform role)",
        read=_flag,
    )
    host: str = setting("127.0.0.1", "where `adminctl serve` listens", read=listen_host)
    port: int = setting(8000, "the port `adminctl serve` listens on", read=_integer(1, 65535))
    http_header_timeout_seconds: float = setting(
        10.0,
        "how long `adminctl serve` waits for a request's line and headers once its first byte"
        " came; then it answers 408 REQUEST_TIMEOUT and closes the connection",
        read=_positive_seconds,
    )
    http_body_timeout_seconds: float = setting(
        30.0,
        "how long a request's body may take to arrive once it is read; then 408"
        " REQUEST_TIMEOUT, and `adminctl serve` closes the connection",
        read=_positive_seconds,
    )
    http_keep_alive_seconds: float = setting(
        5.0,
        "how long `adminctl serve` keeps a connection open without a request (once opened, and"
        " between requests); behind a load balancer that reuses connections, set it above the"
        " balancer's idle timeout",
        read=_positive_seconds,
    )
    http_max_connections: int = setting(
        1000,
        "how many connections `adminctl serve` holds at once; a request on one more is answered"
        " 503 SERVER_BUSY with `Retry-After`, and its connection closed",
        read=_integer(1, 1_000_000),
    )
    neo4j_url: str | None = setting(
        None,
        "Neo4j for the graph projection (required in production, `bolt+s://` or `neo4j+s://`"
        " unless on this host; embedded: the in-process graph when unset)",
        read=_url("bolt", "bolt+s", "neo4j", "neo4j+s"),
        production="production projects the graph into Neo4j",
        example="neo4j+s://neo4j.internal:7687",
    )
    neo4j_user: str | None = setting(None, "Neo4j user", example="neo4j")
    neo4j_password: str | None = setting(None, "Neo4j password", secret=True, example="replace_me")
    neo4j_statement_timeout_seconds: float = setting(
        60.0,
        "how long one statement of a graph rebuild or status (a batch's upsert, a sweep of"
        " stale items) may go unanswered by Neo4j before it fails as unreachable (503"
        " GRAPH_REBUILD_FAILED) and lets the rebuild lock go",
        read=_positive_seconds,
    )
    flag_catalogue_file: Path = setting(
        CONFIG / "flags.yaml",
        "the flag catalogue: which flags exist and the values they allow (SPEC §6.2)",
        read=_path,
        shown_default="`config/flags.yaml` of this project",
        example="/etc/admin-core/flags.yaml",
    )
    flags_cache_seconds: float = setting(
        5.0, "how long a tenant's flags are cached per replica", read=_seconds
    )
    flagsmith_api_url: str = setting(
        "https://edge.api.flagsmith.com/api/v1/",
        "Flagsmith's flags API (the environment document)",
        read=_url("http", "https"),
    )
    flagsmith_server_key: str | None = setting(
        None,
        "Flagsmith server-side environment key, `ser....` (required in production; embedded:"
        " flags in the database when unset)",
        read=_server_key,
        secret=True,
        production="production reads flags from Flagsmith (local evaluation)",
        example="ser.replace_me",
    )
    flagsmith_admin_api_url: str = setting(
        "https://api.flagsmith.com/api/v1/",
        "Flagsmith's Admin API (identity overrides)",
        read=_url("http", "https"),
    )
    flagsmith_admin_key: str | None = setting(
        None,
        "Flagsmith Admin API key (required in production; embedded: with the server key)",
        secret=True,
        production="production writes tenants' overrides with Flagsmith's Admin API",
        example="replace_me",
    )
    flagsmith_environment_key: str | None = setting(
        None,
        "the Flagsmith environment's key, whose identities hold the overrides (required in"
        " production; embedded: with the server key)",
        production="production needs the Flagsmith environment the overrides go to",
        example="replace_me",
    )
    flagsmith_refresh_seconds: float = setting(
        10.0,
        "how often the Flagsmith environment document is fetched again",
        read=_positive_seconds,
    )
    stripe_api_key: str | None = setting(
        None,
        "Stripe secret key `sk_...`, or a restricted key `rk_...` allowed to write refunds:"
        " refunds of sessions Stripe took the money for (unset: embedded refunds them in the"
        " sandbox, production answers PAYMENT_PROVIDER_NOT_CONFIGURED)",
        secret=True,
        read=_prefixed("sk_", "rk_"),
        example="sk_live_replace_me",
    )
    stripe_api_url: str = setting(
        "https://api.stripe.com", "Stripe's API", read=_url("http", "https")
    )
    razorpay_key_id: str | None = setting(
        None,
        "Razorpay key id: refunds of sessions Razorpay took the money for (with the secret;"
        " unset as for Stripe)",
        example="rzp_live_replace_me",
    )
    razorpay_key_secret: str | None = setting(
        None, "Razorpay key secret (with the key id)", secret=True, example="replace_me"
    )
    razorpay_api_url: str = setting(
        "https://api.razorpay.com", "Razorpay's API", read=_url("http", "https")
    )
    payment_timeout_seconds: float = setting(
        10.0,
        "how long one attempt at a payment provider may take (Stripe's SDK tries a refund up to"
        " 3 times with the same idempotency key; Razorpay is tried once)",
        read=_positive_seconds,
    )
    redis_url: str | None = setting(
        None,
        "Redis, for the health probe (production: `rediss://` unless on this host)",
        read=_url("redis", "rediss"),
        secret=True,
        example="rediss://redis.internal:6380/0",
    )
    daily_api_key: str | None = setting(
        None,
        "Daily API key (video consultations); unset: the health check says not_configured",
        secret=True,
        example="replace_me",
    )
    daily_api_url: str = setting(
        "https://api.daily.co/v1", "Daily's REST API", read=_url("http", "https")
    )
    qdrant_url: str | None = setting(
        None,
        "Qdrant (the vector store); unset: the health check says not_configured",
        read=_url("http", "https"),
        example="https://qdrant.internal:6333",
    )
    qdrant_api_key: str | None = setting(
        None, "Qdrant API key (with the URL, when Qdrant asks for one)", secret=True
    )
    anthropic_api_key: str | None = setting(
        None,
        "Anthropic API key, `sk-ant-...`; unset: the health check says not_configured",
        secret=True,
        example="sk-ant-replace_me",
    )
    anthropic_api_url: str = setting(
        "https://api.anthropic.com", "Anthropic's API", read=_url("http", "https")
    )
    langfuse_url: str | None = setting(
        None,
        "Langfuse (LLM tracing), e.g. `https://cloud.langfuse.com`; unset: the health check"
        " says not_configured",
        read=_url("http", "https"),
        example="https://cloud.langfuse.com",
    )
    langfuse_public_key: str | None = setting(
        None,
        "Langfuse public key, `pk-lf-...` (with the URL); with the secret key the health check"
        " proves Langfuse takes them",
        example="pk-lf-replace_me",
    )
    langfuse_secret_key: str | None = setting(
        None,
        "Langfuse secret key, `sk-lf-...` (with the URL)",
        secret=True,
        example="sk-lf-replace_me",
    )
    health_timeout_seconds: float = setting(
        2.0,
        "how long each external dependency's health probe may take (they run at once), and"
        " `/ready`'s check of the database",
        read=_probe_timeout,
    )
    health_cache_seconds: float = setting(
        5.0,
        "how long the external dependencies' health is reused per replica (one probe each"
        " meanwhile, however many ask)",
        read=_seconds,
    )
    audit_checkpoint_key_file: Path | None = setting(
        None,
        "Ed25519 private key (PEM) that signs audit checkpoints; never in the database"
        " (required in production; embedded: made on first use beside the local signing key)",
        read=_path,
        shown_default="embedded: `keys/audit-checkpoint-ed25519.pem` beside the SQLite database",
        production="production signs audit checkpoints with a key kept outside the database",
        example="/run/secrets/audit-checkpoint-ed25519.pem",
    )
    audit_checkpoint_trusted_keys: tuple[Path, ...] = setting(
        (),
        "comma list of public key files (PEM or JSON key set) of former checkpoint keys, so"
        " checkpoints signed before a key rotation still verify",
        read=_paths,
        example="/etc/admin-core/audit-checkpoint-2025.pub.pem",
    )
    audit_checkpoint_dir: Path | None = setting(
        None,
        "the checkpoint sink: a directory (one file per checkpoint, never rewritten) on storage"
        " the database's administrators cannot rewrite (required in production; embedded:"
        " beside the SQLite file)",
        read=_path,
        shown_default="embedded: `audit-checkpoints` beside the SQLite database;"
        " `var/audit-checkpoints/<host>-<port>-<database>` for PostgreSQL; memory for `memory://`",
        production="production publishes audit checkpoints outside the database",
        example="/mnt/audit-checkpoints",
    )
    audit_checkpoint_seconds: float = setting(
        60.0,
        "how often `adminctl serve` writes a signed checkpoint of the audit chains when they"
        " moved (one writer across replicas; 0: never)",
        read=_period,
    )

    def __repr__(self) -> str:
        """Every setting as `config check` shows it, secrets masked: a process that prints or
        logs its settings gives away no key or password."""
        shown = ", ".join(f"{f.name}={_shown(self, f)!r}" for f in dataclasses.fields(self))
        return f"Settings({shown})"

    @property
    def embedded(self) -> bool:
        return self.mode is Mode.EMBEDDED

    @property
    def migrations_url(self) -> str:
        return self.migration_database_url or self.database_url

    @property
    def platform_org(self) -> str | None:
        """The platform organisation whose memberships mirror the platform's roles."""
        return self.platform_orgs[0] if self.platform_orgs else None

    def problems(self) -> list[str]:
        """What stops this configuration from running in its mode (empty: it can run)."""
        problems: list[str] = []
        malformed = _malformed_urls(self)  # a Settings built in code, not from_env
        problems += malformed
        problems += [
            problem
            for name in ("database_url", "migration_database_url")
            if not any(p.startswith(f"{env_name(name)}:") for p in malformed)
            for problem in _sqlite_file_problems(name, getattr(self, name))
        ]
        problems += [
            problem
            for name in ("database_url", "migration_database_url")
            if not any(p.startswith(f"{env_name(name)}:") for p in malformed)
            for problem in _certificate_authority_problems(name, getattr(self, name))
        ]
        if self.role_policy_file is not None:
            problems += _policy_file_problems(self.role_policy_file)
        key_file = self.audit_checkpoint_key_file
        if key_file is not None and (not self.embedded or key_file.exists()):
            problems += _checkpoint_key_problems(key_file)  # embedded makes a missing one
        problems += _trusted_keys_problems(self.audit_checkpoint_trusted_keys)
        if self.audit_checkpoint_dir is not None:
            problems += _checkpoint_dir_problems(self.audit_checkpoint_dir)
        problems += _flag_catalogue_problems(self.flag_catalogue_file)
        problems += _matching_problems()
        if self.flagsmith_server_key and self.embedded:
            problems += [
                f"{env_name(name)}: needed with {env_name('flagsmith_server_key')}"
                for name in ("flagsmith_admin_key", "flagsmith_environment_key")
                if not getattr(self, name)
            ]
        if bool(self.razorpay_key_id) != bool(self.razorpay_key_secret):
            problems.append(
                f"{env_name('razorpay_key_id')} and {env_name('razorpay_key_secret')}:"
                " set both or neither"
            )
        if self.embedded:
            return problems
        for f in dataclasses.fields(self):
            reason = f.metadata["production"]
            value = getattr(self, f.name)
            if reason and (value is None or value == f.default):
                problems.append(f"{env_name(f.name)}: {reason}")
        for name in ("database_url", "migration_database_url"):
            url = getattr(self, name)
            if any(p.startswith(f"{env_name(name)}:") for p in malformed):
                continue
            if url and url != _default(name) and not url.startswith("postgresql+asyncpg://"):
                problems.append(
                    f"{env_name(name)}: production needs PostgreSQL, not {mask_url(url)!r}"
                )
        problems += [
            f"{env_name(name)}: must be https in production, as it carries {what} (plain http"
            f" only to a loopback host), not {mask_url(url)!r}"
            for name, keys, what in _KEYED_URLS
            if (url := getattr(self, name))
            and (not keys or any(getattr(self, key) for key in keys))
            and _plaintext_off_host(url)
        ]
        problems += [
            f"{env_name(name)}: must be encrypted in production, as it carries {what} (plain"
            f" text only to a loopback host): {how}, not {mask_url(url)!r}"
            for name, what, how in _CONNECTED_URLS
            if (url := getattr(self, name))
            and not any(p.startswith(f"{env_name(name)}:") for p in problems)
            and _plaintext_off_host(url)
        ]
        migrations = self.migration_database_url
        if (
            migrations
            and _user(migrations) != _user(self.database_url)
            and not self.database_app_role
        ):
            problems.append(
                f"{env_name('database_app_role')}: needed when {env_name('migration_database_url')}"
                " is another role's: the role of the database URL, which `db upgrade` grants the"
                " tables"
            )
        return problems

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every setting; raises `ConfigurationError` naming all problems."""
        settings, problems = cls.read_env(env)
        if problems:
            raise ConfigurationError(problems)
        return settings

    @classmethod
    def read_env(cls, env: Mapping[str, str] | None = None) -> tuple[Settings, list[str]]:
        """Every setting that could be read (the default for one that could not), and every
        problem of the configuration: what `adminctl config check` shows."""
        environ = os.environ if env is None else env
        values: dict[str, Any] = {}
        problems: list[str] = []
        unreadable: set[str] = set()
        for f in dataclasses.fields(cls):
            raw = environ.get(env_name(f.name), "")
            if raw == "":
                continue
            if _NOT_UTF8.search(raw):  # a byte that is not UTF-8 (PEP 383)
                problems.append(
                    f"{env_name(f.name)}: must be UTF-8 text (it holds bytes that are not)"
                )
                unreadable.add(env_name(f.name))
                continue
            try:
                values[f.name] = f.metadata["read"](raw)
            except ValueError as error:
                problems.append(f"{env_name(f.name)}: {error}")
                unreadable.add(env_name(f.name))
        settings = cls(**values)
        if not settings.embedded:
            problems += _production_only_problems(environ)
        # A variable that could not be read is named once, for what is wrong with its value,
        # not again as missing ("production needs ...") because its default stood in for it.
        problems += [
            p
            for p in settings.problems()
            if p not in problems and p.split(":", 1)[0] not in unreadable
        ]
        return settings, problems

    def check(self) -> Settings:
        """This configuration, or `ConfigurationError` naming every problem."""
        problems = self.problems()
        if problems:
            raise ConfigurationError(problems)
        return self

    def effective(self) -> list[tuple[str, str]]:
        """(variable, value) of every setting, secrets masked."""
        return [
            (
                env_name(f.name),
                "(not used in production)"
                if not self.embedded and f.name in _EMBEDDED_ONLY
                else _shown(self, f),
            )
            for f in dataclasses.fields(self)
        ]


def env_name(field_name: str) -> str:
    return f"{PREFIX}{field_name.upper()}"


def _default(name: str) -> Any:
    return next(f.default for f in dataclasses.fields(Settings) if f.name == name)


_EMBEDDED_ONLY = ("local_key_path", "demo_seed")
_RENAMED = {"ADMIN_AUTH_MODE": "ADMIN_MODE (production verifies Clerk tokens)"}


def _production_only_problems(environ: Mapping[str, str]) -> list[str]:
    """Variables that make no sense in production: embedded-only ones and unknown names."""
    problems = [
        f"{env_name(name)}: only used in embedded mode; unset it in production"
        for name in _EMBEDDED_ONLY
        if environ.get(env_name(name))
    ]
    return problems + unknown_variables(environ)


#: A lone surrogate: what Python makes of a byte of the environment that is not UTF-8.
_NOT_UTF8 = re.compile(r"[\ud800-\udfff]")


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """`ADMIN_*` variables that are no setting (a typo, a retired name), each with what to
    do: production refuses them; the embedded mode runs, and the CLI says so."""
    environ = os.environ if environ is None else environ
    known = {env_name(f.name) for f in dataclasses.fields(Settings)}
    unknown = []
    for name in sorted(environ):
        if not name.startswith(PREFIX) or name.startswith(_TOOLING_PREFIX):
            continue
        if name in known or name in _OPERATOR_VARIABLES:
            continue
        if not environ[name]:
            continue
        hint = f"; use {_RENAMED[name]}" if name in _RENAMED else ""
        unknown.append(f"{name}: not a setting of Admin Core{hint}")
    return unknown


def _policy_file_problems(path: Path) -> list[str]:
    name = env_name("role_policy_file")
    try:
        raw = read_json(path.read_text())
    except OSError as error:
        return [f"{name}: cannot read {path}: {error.strerror}"]
    except ValueError as error:
        return [f"{name}: {path} is not JSON: {error}"]
    from admin_core.auth.policy import RolePolicy

    try:
        RolePolicy.from_mapping(raw)
    except (AttributeError, TypeError, ValueError) as error:
        return [f"{name}: {path} is not a role policy: {error}"]
    return []


def _checkpoint_key_problems(path: Path) -> list[str]:
    from adapters.ed25519.keys import CheckpointKeyUnusable, Ed25519CheckpointSigner

    name = env_name("audit_checkpoint_key_file")
    try:
        Ed25519CheckpointSigner(path, create=False)
    except OSError as error:
        return [f"{name}: cannot read {path}: {error.strerror}"]
    except CheckpointKeyUnusable as error:
        return [f"{name}: {error}"]
    return []


def _malformed_urls(settings: Settings) -> list[str]:
    """The URLs `from_env` would have refused: a `Settings(...)` an embedding process builds
    skips the readers, and `postgresql://` (no `+asyncpg`) or a port that is no number would
    otherwise fail only at the first call, with a driver's traceback."""
    problems: list[str] = []
    for f in dataclasses.fields(settings):
        url = getattr(settings, f.name)
        if not isinstance(url, str) or f.metadata["read"] not in _URL_READERS:
            continue
        try:
            f.metadata["read"](url)
        except ValueError as error:
            problems.append(f"{env_name(f.name)}: {error}")
    return problems


#: The first bytes of every SQLite database file (an empty file is one not yet written).
_SQLITE_HEADER = b"SQLite format 3\x00"


def _sqlite_file_problems(name: str, url: str | None) -> list[str]:
    """A SQLite URL naming something that is there but is no database (a directory, a file
    of another kind) or that this process may not write: a configuration problem, which
    trying again does not fix, not an unreachable database. A file not there yet is fine:
    `db upgrade` makes it."""
    if not url or not url.startswith("sqlite"):
        return []
    database = sa.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return []
    path = Path(database)
    if not path.exists():
        return []
    try:
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except IsADirectoryError:
        return [f"{env_name(name)}: {path} is not a SQLite database: it is a directory"]
    except OSError as error:
        return [f"{env_name(name)}: cannot read {path}: {error.strerror}"]
    if header and header != _SQLITE_HEADER:
        return [f"{env_name(name)}: {path} is not a SQLite database"]
    if not os.access(path, os.W_OK):
        return [f"{env_name(name)}: {path} is not writable by this process"]
    return []


def _certificate_authority_problems(name: str, url: str | None) -> list[str]:
    """The CA file asyncpg checks a PostgreSQL server's certificate with, as it looks for it:
    `PGSSLROOTCERT`, else `~/.postgresql/root.crt`. `verify-ca` and `verify-full` need one;
    `require` reads the one `PGSSLROOTCERT` names. One that cannot be read fails every
    connection before it is tried, which is no outage: said here."""
    if not url or not url.startswith("postgresql+asyncpg://"):
        return []
    from adapters.sql.engine import libpq_ssl_mode

    modes = libpq_ssl_mode(url).query.get("ssl") or ()
    mode = ((modes,) if isinstance(modes, str) else modes or ("",))[-1]
    mode = mode.lower().replace("_", "-")
    named = os.environ.get("PGSSLROOTCERT", "")
    if mode not in ("require", "verify-ca", "verify-full") or (mode == "require" and not named):
        return []
    where = Path(named) if named else Path.home() / ".postgresql" / "root.crt"
    try:
        where.read_bytes()
    except OSError as error:
        said = "PGSSLROOTCERT" if named else "the default place"
        return [
            f"{env_name(name)}: ?ssl={mode} checks the server's certificate with the CA file"
            f" at {said}, {where}, which cannot be read ({error.strerror}): put the server's"
            " CA there, or name its file with PGSSLROOTCERT"
        ]
    return []


def _trusted_keys_problems(paths: Sequence[Path]) -> list[str]:
    """Each former key's file must hold public keys: a missing or unreadable one would stop
    every verification of the audit log, not only of the checkpoints it signed."""
    from adapters.ed25519.keys import read_public_keys

    name = env_name("audit_checkpoint_trusted_keys")
    problems: list[str] = []
    for path in paths:
        try:
            read_public_keys(path.read_bytes())
        except OSError as error:
            problems.append(f"{name}: cannot read {path}: {error.strerror}")
        except (ValueError, AttributeError, TypeError) as error:  # not PEM nor a key set
            problems.append(f"{name}: {path} holds no usable public key: {error}")
    return problems


def _checkpoint_dir_problems(path: Path) -> list[str]:
    """The sink must be a directory this process can write, or one it can make."""
    name = env_name("audit_checkpoint_dir")
    existing = next(p for p in (path, *path.parents) if p.exists() or p == p.parent)
    if not existing.is_dir():
        return [f"{name}: {existing} is not a directory"]
    if not os.access(existing, os.W_OK | os.X_OK):
        return [f"{name}: {existing} is not writable by this process"]
    return []


def _flag_catalogue_problems(path: Path) -> list[str]:
    from adapters.config_files.flags import load_flag_catalogue
    from admin_core.flags.errors import FlagCatalogueInvalid

    try:
        load_flag_catalogue(path)
    except FlagCatalogueInvalid as error:
        return [f"{env_name('flag_catalogue_file')}: {problem}" for problem in error.problems]
    return []


def _matching_problems() -> list[str]:
    from adapters.config_files.matching import check_matching_configuration

    return [f"matching registry: {p}" for p in check_matching_configuration(CONFIG / "matching")]


#: Query parameters that carry credentials (`?password=`, `?token=`, `?api_key=` ...).
_SECRET_PARAMETER = re.compile(r"pass|pwd|secret|token|key|auth|credential", re.IGNORECASE)


#: The credentials of a URL as SQLAlchemy reads them (`make_url`): a user up to the first `:`,
#: then a password up to the last `@`, which may hold `#`, `/` or `?` (a parser that ends
#: the authority at those would show the rest of it).
_CREDENTIALS = re.compile(
    r"^(?P<head>[\w+.-]+://[^:/@]*:)(?P<password>.*)(?P<tail>@[^@]*)$", re.DOTALL
)


#: The URLs production sends a secret key to, with the settings holding those keys (none:
#: always), and what travels: over plain http anyone on the way reads the key, or — for the
#: JWKS — swaps in a key of their own and signs themselves any role.
_KEYED_URLS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("clerk_jwks_url", (), "the Clerk secret key and the keys session tokens are checked with"),
    ("clerk_api_url", ("clerk_secret_key",), "the Clerk secret key"),
    ("flagsmith_api_url", ("flagsmith_server_key",), "the Flagsmith server key"),
    ("flagsmith_admin_api_url", ("flagsmith_admin_key",), "the Flagsmith admin key"),
    ("stripe_api_url", ("stripe_api_key",), "the Stripe key"),
    ("razorpay_api_url", ("razorpay_key_secret",), "the Razorpay key secret"),
    ("daily_api_url", ("daily_api_key",), "the Daily API key"),
    ("qdrant_url", ("qdrant_api_key",), "the Qdrant API key"),
    ("anthropic_api_url", ("anthropic_api_key",), "the Anthropic API key"),
    ("langfuse_url", ("langfuse_secret_key",), "the Langfuse keys"),
)


#: The services production connects to with a password of its own, what travels to them,
#: and how their URL asks for TLS: over plain text anyone on the way reads the password and
#: every row or node the process reads or writes.
_CONNECTED_URLS: tuple[tuple[str, str, str], ...] = (
    (
        "database_url",
        "the database password and its data, patients' included",
        "add ?ssl=verify-full (or require; libpq's sslmode= alike)",
    ),
    (
        "migration_database_url",
        "the owner's password and the database's data",
        "add ?ssl=verify-full (or require; libpq's sslmode= alike)",
    ),
    ("neo4j_url", "the Neo4j password and the graph", "use bolt+s:// or neo4j+s://"),
    ("redis_url", "the Redis password", "use rediss://"),
)
#: The schemes that speak plain text to their host, where another scheme says TLS.
_PLAIN_SCHEMES = frozenset({"http", "bolt", "neo4j", "redis"})
#: asyncpg's `ssl=` modes that never fall back to plain text (`prefer` and `allow` do).
_TLS_MODES = frozenset({"require", "verify-ca", "verify_ca", "verify-full", "verify_full"})


def _plaintext_off_host(url: str) -> bool:
    """Whether `url` speaks plain text to a host other than this one (a loopback address or
    `localhost`: a local TLS-terminating proxy, or a test double; a Unix socket): plain http,
    `bolt://`, `neo4j://`, `redis://`, or PostgreSQL without an `ssl=` (or libpq `sslmode=`)
    mode that insists on TLS, read as the engine hands it to asyncpg."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "postgresql+asyncpg":
        return not _postgres_tls(url) and not all(map(_on_this_host, _postgres_hosts(url)))
    if scheme not in _PLAIN_SCHEMES:
        return False
    return not _on_this_host(urlsplit(url).hostname or "")


def _on_this_host(host: str) -> bool:
    host = host.rstrip(".")
    if host == "localhost" or host.endswith(".localhost") or host.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _postgres_tls(url: str) -> bool:
    from adapters.sql.engine import libpq_ssl_mode

    try:
        mode = libpq_ssl_mode(url).query.get("ssl")
    except sa.exc.ArgumentError:
        return False
    modes = (mode,) if isinstance(mode, str) else mode or ()
    return bool(modes) and modes[-1].lower() in _TLS_MODES


def _postgres_hosts(url: str) -> list[str]:
    """The hosts asyncpg would connect to: the URL's, or its `?host=` ones (a path: a Unix
    socket); none names the local socket."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        return [""]
    given = [parsed.host] if parsed.host else []
    given += [host for host, _ in map(_host_and_port, _query_values(parsed, "host"))]
    return given or ["localhost"]


def _query_values(url: sa.URL, name: str) -> list[str]:
    """Every value of the query parameter `name` of a database URL (it may repeat)."""
    given = url.query.get(name, ())
    return [given] if isinstance(given, str) else list(given)


def _host_and_port(entry: str) -> tuple[str, str | None]:
    """A `?host=` entry of a PostgreSQL URL read as asyncpg reads it: a socket's path, a
    `[v6 address]` with or without `:port`, or a name with or without `:port`."""
    if entry.startswith("/"):
        return entry, None
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else None
    host, colon, port = entry.partition(":")
    return host, port if colon else None


def _user(url: str) -> str | None:
    """The user a database URL connects as."""
    try:
        return sa.make_url(url).username
    except sa.exc.ArgumentError:
        return None


def url_password(url: str) -> str | None:
    """The password in `url`, as a database driver would be given it; None without one."""
    found = _CREDENTIALS.match(url)
    return found["password"] if found and found["password"] else None


def mask_url(url: str) -> str:
    """A URL with its password and any credential in its query replaced by `***`; one
    without either exactly as given (rebuilding `sqlite:///var/x.db` would drop a slash)."""
    found = _CREDENTIALS.match(url)
    masked = f"{found['head']}***{found['tail']}" if found and found["password"] else url
    parts = urlsplit(masked)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(_SECRET_PARAMETER.search(name) for name, _ in pairs):
        return masked
    query = "&".join(
        f"{name}=***" if _SECRET_PARAMETER.search(name) else f"{name}={value}"
        for name, value in pairs
    )
    return urlunsplit(parts._replace(query=query))


def _shown(settings: Settings, f: dataclasses.Field[Any]) -> str:
    value = getattr(settings, f.name)
    if value is None and settings.embedded and f.metadata["shown_default"]:
        return "(unset: the embedded default, shown under Adapters)"
    if value is None or value == ():
        return "(unset)"
    if isinstance(value, tuple):
        text = ",".join(str(v) for v in value)
    elif isinstance(value, enum.Enum):
        text = str(value.value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    if f.metadata["secret"] and "://" not in text:
        return "***"
    return mask_url(text) if "://" in text else text


# --------------------------------------------------------------------------- documentation


def _default_text(f: dataclasses.Field[Any]) -> str:
    shown: str | None = f.metadata["shown_default"]
    if shown is not None:
        return shown
    default = f.default
    if default is None or default == ():
        return "—"
    if isinstance(default, tuple):
        return f"`{','.join(default)}`"
    if isinstance(default, enum.Enum):
        return f"`{default.value}`"
    if isinstance(default, bool):
        return f"`{'true' if default else 'false'}`"
    return f"`{default}`"


def _raw_default(f: dataclasses.Field[Any]) -> str:
    default = f.default
    if default is None:
        return ""
    if isinstance(default, tuple):
        return ",".join(default)
    if isinstance(default, enum.Enum):
        return str(default.value)
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, Path) and default.is_absolute():  # under this project
        return str(default.relative_to(CONFIG.parent))
    return str(default)


def settings_table() -> str:
    """The README's configuration table."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [
        f"| `{env_name(f.name)}` | {_default_text(f)} | {f.metadata['doc']} |"
        for f in dataclasses.fields(Settings)
    ]
    return "\n".join(rows) + "\n"


def env_example() -> str:
    """`.env.example`: every variable with what it means, commented out."""
    lines = [
        "# Admin Core settings, generated from src/entrypoints/settings.py",
        "# (`python -m entrypoints.settings env`; a test keeps this file in sync).",
        "# Every variable is optional in the embedded mode. Production needs those marked",
        "# 'production:'. Export them, or load a copy with `set -a; . ./.env; set +a`.",
        "",
    ]
    for f in dataclasses.fields(Settings):
        lines.append(f"# {f.metadata['doc'].replace('`', '')}")
        if f.metadata["production"]:
            lines.append(f"# production: {f.metadata['production']}")
        default = _raw_default(f)
        shown = (f.metadata["shown_default"] or "").replace("`", "") or default
        if shown:
            lines.append(f"# default: {shown}")
        lines.append(f"#{env_name(f.name)}={f.metadata['example'] or default}")
        lines.append("")
    return "\n".join(lines)


README_START, README_END = "<!-- settings:start -->", "<!-- settings:end -->"


def with_settings_table(readme: str) -> str:
    """`readme` with the text between its settings markers replaced by `settings_table()`."""
    head, start, rest = readme.partition(README_START)
    _, end, tail = rest.partition(README_END)
    if not start or not end:
        raise ValueError(f"the README has no {README_START} ... {README_END} section")
    return f"{head}{README_START}\n{settings_table()}{README_END}{tail}"


if __name__ == "__main__":
    # `table` / `env` print; `write README.md .env.example` updates both files in place.
    command = sys.argv[1] if len(sys.argv) > 1 else "table"
    if command == "write":
        readme, example = (Path(p) for p in sys.argv[2:4])
        readme.write_text(with_settings_table(readme.read_text()))
        example.write_text(env_example())
    else:
        sys.stdout.write(env_example() if command == "env" else settings_table())
