"""Which adapter serves each port, decided from the settings in one place.

The area containers build what these functions choose, and `adminctl config check` prints
them, so the two cannot disagree. There is no fallback: production's choices are always the
real services (its settings are validated before anything is built), and embedded picks an
external service only where its setting names one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from entrypoints.settings import Settings, mask_url


@dataclass(frozen=True, slots=True)
class Choice:
    port: str
    adapter: str
    why: str


def database(settings: Settings) -> str:
    """`postgres`, `sqlite` or `memory`; production is always PostgreSQL."""
    url = settings.database_url
    if not settings.embedded or url.startswith("postgresql"):
        return "postgres"
    return "memory" if url.startswith("memory:") else "sqlite"


def embedded_directory(settings: Settings) -> Path:
    """Where the embedded mode keeps the files that belong with its database (keys,
    checkpoints): beside the SQLite file, whatever directory a command runs in; `var` for
    another database."""
    if database(settings) == "sqlite":
        return Path(settings.database_url.split("///", 1)[-1]).parent
    return Path("var")


def local_key_path(settings: Settings) -> Path:
    """The local token issuer's key: the configured file, or one beside the database, so that
    every command on one database signs with the same key."""
    if settings.local_key_path is not None:
        return settings.local_key_path
    return embedded_directory(settings) / "keys" / "local-signing.pem"


def checkpoint_key_path(settings: Settings) -> Path:
    """The audit checkpoint signer's key: the configured file (production requires one), or
    embedded, a key beside the local token issuer's."""
    if settings.audit_checkpoint_key_file is not None:
        return settings.audit_checkpoint_key_file
    return local_key_path(settings).with_name("audit-checkpoint-ed25519.pem")


def checkpoint_directory(settings: Settings) -> Path | None:
    """The checkpoint sink's directory: the configured one (production requires one), or
    embedded, the database's own: beside the SQLite file, or for a PostgreSQL database one
    named after its server and name under `var/audit-checkpoints` (the checkpoints of one
    database are never the evidence against another's); None for the `memory://` database
    (a sink in memory, which lives as long as the database does)."""
    if settings.audit_checkpoint_dir is not None:
        return settings.audit_checkpoint_dir
    kind = database(settings)
    if kind == "memory":
        return None
    sink = embedded_directory(settings) / "audit-checkpoints"
    return sink if kind == "sqlite" else sink / _server_and_name(settings.database_url)


def _server_and_name(url: str) -> str:
    """`host-port-database` of a PostgreSQL URL, as one safe file name."""
    parsed = make_url(url)
    name = f"{parsed.host or 'localhost'}-{parsed.port or 5432}-{parsed.database or ''}"
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def uses_neo4j(settings: Settings) -> bool:
    """Production always projects into Neo4j; embedded only when its URL is set."""
    return not settings.embedded or bool(settings.neo4j_url)


def uses_clerk_identity(settings: Settings) -> bool:
    """Production checks users with Clerk; embedded always uses the demo identity provider."""
    return not settings.embedded


def mints_local_tokens(settings: Settings) -> bool:
    """Only the embedded mode has a local token issuer; production verifies Clerk's tokens."""
    return settings.embedded


def flags(settings: Settings) -> str:
    """`flagsmith` (always in production; embedded when its server key is set), else the
    database the other areas use (`sql` or `memory`)."""
    if not settings.embedded or settings.flagsmith_server_key:
        return "flagsmith"
    return "memory" if database(settings) == "memory" else "sql"


def payment_gateways(settings: Settings) -> dict[str, str | None]:
    """The gateway refunding each provider's payments: the real one where its credentials
    are set; otherwise the sandbox in the embedded mode, and none in production (its
    refunds answer PAYMENT_PROVIDER_NOT_CONFIGURED). Sessions paid in the sandbox are
    refunded there in the embedded mode only."""
    fallback = "sandbox" if settings.embedded else None
    return {
        "stripe": "stripe" if settings.stripe_api_key else fallback,
        "razorpay": "razorpay" if settings.razorpay_key_id else fallback,
        "sandbox": fallback,
    }


#: The external dependencies the health check reports, in its order (SPEC §6.10).
HEALTH_DEPENDENCIES = (
    "postgres",
    "neo4j",
    "redis",
    "flagsmith",
    "stripe",
    "razorpay",
    "clerk",
    "daily_co",
    "qdrant",
    "anthropic",
    "langfuse",
)


def health_probes(settings: Settings) -> dict[str, bool]:
    """Which dependencies the health check probes (True) or reports `not_configured`: the
    database always (whichever it is), the graph's Neo4j when the graph uses it, Flagsmith
    when the flags do, and every other service when its settings are set."""
    configured = {
        "postgres": True,
        "neo4j": uses_neo4j(settings) and bool(settings.neo4j_url),
        "redis": bool(settings.redis_url),
        "flagsmith": flags(settings) == "flagsmith" and bool(settings.flagsmith_server_key),
        "stripe": bool(settings.stripe_api_key),
        "razorpay": bool(settings.razorpay_key_id and settings.razorpay_key_secret),
        "clerk": bool(settings.clerk_secret_key),
        "daily_co": bool(settings.daily_api_key),
        "qdrant": bool(settings.qdrant_url),
        "anthropic": bool(settings.anthropic_api_key),
        "langfuse": bool(settings.langfuse_url),
    }
    return {name: configured[name] for name in HEALTH_DEPENDENCIES}


def _or_missing(value: object, name: str) -> str:
    return mask_url(str(value)) if value else f"missing: ADMIN_{name}"


def describe(settings: Settings) -> list[Choice]:
    """Every port with the adapter this configuration resolves it to (in production, the real
    adapter even where its setting is missing: it names what is missing, never a fallback)."""
    db = database(settings)
    store = {"postgres": "PostgreSQL", "sqlite": "SQLite", "memory": "process memory"}[db]
    if db == "postgres" and not settings.database_url.startswith("postgresql"):
        store = "missing: ADMIN_DATABASE_URL (PostgreSQL)"
    sql = db != "memory"
    neo4j = uses_neo4j(settings)
    graph = _or_missing(settings.neo4j_url, "NEO4J_URL") if neo4j else "this process's memory"
    return [
        Choice(
            "Transactions (tenants, users, audit, directory)",
            "SqlTransactions" if sql else "InMemoryTransactions",
            store,
        ),
        Choice(
            "SessionTokenVerifier",
            "ClerkSessionTokenVerifier",
            "keys from the local issuer's JWKS"
            if mints_local_tokens(settings)
            else f"keys from {_or_missing(settings.clerk_jwks_url, 'CLERK_JWKS_URL')}",
        ),
        Choice(
            "local token issuer",
            "LocalTokenIssuer" if mints_local_tokens(settings) else "none",
            str(local_key_path(settings)) if mints_local_tokens(settings) else "production",
        ),
        Choice(
            "IdentityProvider",
            "ClerkIdentityProvider"
            if uses_clerk_identity(settings)
            else "SqlIdentityProvider"
            if sql
            else "InMemoryIdentityProvider",
            (
                mask_url(settings.clerk_api_url)
                if settings.clerk_secret_key
                else "missing: ADMIN_CLERK_SECRET_KEY"
            )
            if uses_clerk_identity(settings)
            else "the demo users",
        ),
        Choice(
            "GraphProjection",
            "Neo4jGraphProjection" if neo4j else "InMemoryGraphProjection",
            graph,
        ),
        Choice(
            "ProjectionSource",
            "SqlProjectionSource" if sql else "InMemoryProjectionSource",
            store,
        ),
        Choice("RebuildLock", *_rebuild_lock(db, neo4j)),
        Choice(
            "FeatureFlags",
            {
                "flagsmith": "FlagsmithFeatureFlags",
                "sql": "SqlFeatureFlags",
                "memory": "InMemoryFeatureFlags",
            }[flags(settings)],
            (
                _or_missing(
                    settings.flagsmith_server_key and settings.flagsmith_api_url,
                    "FLAGSMITH_SERVER_KEY",
                )
                if flags(settings) == "flagsmith"
                else f"overrides in {store}, the catalogue's defaults"
            )
            + f"; reads cached {settings.flags_cache_seconds:g} s",
        ),
        Choice("IntentLog", "SqlIntentLog" if sql else "InMemoryIntentLog", store),
        *(
            Choice(
                f"PaymentGateway ({provider} payments)",
                {"stripe": "StripePaymentGateway", "razorpay": "RazorpayPaymentGateway"}.get(
                    str(gateway), "SandboxPaymentGateway" if gateway else "none"
                ),
                {
                    "stripe": mask_url(settings.stripe_api_url),
                    "razorpay": mask_url(settings.razorpay_api_url),
                    "sandbox": f"refunds recorded in {store}, no money moved",
                    None: "not configured: refunds answer PAYMENT_PROVIDER_NOT_CONFIGURED",
                }[gateway],
            )
            for provider, gateway in payment_gateways(settings).items()
        ),
        Choice(
            "DependencyProbe (health of external dependencies)",
            ", ".join(n for n, on in health_probes(settings).items() if on),
            "not configured: "
            + (", ".join(n for n, on in health_probes(settings).items() if not on) or "none")
            + f"; {settings.health_timeout_seconds:g} s each,"
            f" cached {settings.health_cache_seconds:g} s",
        ),
        Choice(
            "CoverageMeter (matching parameters on postgres)",
            "SqlCoverageMeter" if sql else "InMemoryStoreCoverage",
            store,
        ),
        Choice(
            "CoverageMeter (matching parameters on neo4j)",
            "Neo4jCoverageMeter" if neo4j else "InMemoryGraphCoverage",
            graph,
        ),
        Choice(
            "CheckpointSigner (audit checkpoints)",
            "Ed25519CheckpointSigner",
            str(checkpoint_key_path(settings))
            if settings.audit_checkpoint_key_file or settings.embedded
            else "missing: ADMIN_AUDIT_CHECKPOINT_KEY_FILE",
        ),
        Choice(
            "CheckpointSink",
            "InMemoryCheckpointSink"
            if checkpoint_directory(settings) is None
            else "DirectoryCheckpointSink",
            "this process's memory"
            if checkpoint_directory(settings) is None
            else (
                str(checkpoint_directory(settings))
                if settings.audit_checkpoint_dir or settings.embedded
                else "missing: ADMIN_AUDIT_CHECKPOINT_DIR"
            )
            + f"; every {settings.audit_checkpoint_seconds:g} s when a chain moved",
        ),
        Choice("CheckpointLock", *_checkpoint_lock(db)),
        Choice("Clock", "SystemClock", "UTC"),
        Choice("IdGenerator", "UlidGenerator", "prefixed ULIDs"),
    ]


def _rebuild_lock(db: str, neo4j: bool) -> tuple[str, str]:
    if db == "postgres":
        return "PostgresRebuildLock", "an advisory lock shared by every replica"
    if db == "sqlite" and neo4j:
        return "SqliteRebuildLock", "a lock file beside the database, shared by its processes"
    return "InProcessRebuildLock", "one process, whose graph is its own"


def _checkpoint_lock(db: str) -> tuple[str, str]:
    if db == "postgres":
        return "PostgresCheckpointLock", "an advisory lock shared by every replica"
    if db == "sqlite":
        return "SqliteCheckpointLock", "a lock file beside the database, shared by its processes"
    return "InProcessCheckpointLock", "one process"
