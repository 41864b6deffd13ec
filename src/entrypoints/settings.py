"""Settings read from the environment (see `.env.example`). Read once, by the caller of
`Settings.from_env`, never at import time."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

EMBEDDED_DATABASE = "sqlite+aiosqlite:///var/admin_core.db"


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _positive(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    if not value.strip().isdigit() or int(value) < 1:
        raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    return int(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    # Database: `memory://` for the in-memory store, SQLite (embedded default) or PostgreSQL.
    database_url: str = EMBEDDED_DATABASE
    migration_database_url: str | None = None  # owner role; defaults to database_url
    database_app_role: str | None = None  # PostgreSQL role granted INSERT/SELECT etc.
    database_pool_size: int | None = None  # PostgreSQL connections per process
    # Authentication.
    auth_mode: str = "local"  # local | clerk
    auth_issuer: str = "http://127.0.0.1:8000"
    auth_authorized_parties: tuple[str, ...] = ()
    clerk_jwks_url: str | None = None
    clerk_secret_key: str | None = None
    clerk_api_url: str = "https://api.clerk.com/v1"
    platform_orgs: tuple[str, ...] = ("org_platform",)
    role_policy_file: Path | None = None
    local_key_path: Path = Path("var/keys/local-signing.pem")
    org_cache_seconds: float = 30.0
    # Serving.
    host: str = "127.0.0.1"
    port: int = 8000
    demo_seed: bool = True
    # External services.
    neo4j_url: str | None = None
    neo4j_user: str | None = None
    neo4j_password: str | None = None
    redis_url: str | None = None

    @property
    def migrations_url(self) -> str:
        return self.migration_database_url or self.database_url

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        default = cls()

        def get(name: str) -> str | None:
            value = e.get(f"ADMIN_{name}")
            return value if value not in (None, "") else None

        return cls(
            database_url=get("DATABASE_URL") or default.database_url,
            migration_database_url=get("MIGRATION_DATABASE_URL"),
            database_app_role=get("DATABASE_APP_ROLE"),
            database_pool_size=_positive("ADMIN_DATABASE_POOL_SIZE", get("DATABASE_POOL_SIZE")),
            auth_mode=get("AUTH_MODE") or default.auth_mode,
            auth_issuer=get("AUTH_ISSUER") or default.auth_issuer,
            auth_authorized_parties=_csv(get("AUTH_AUTHORIZED_PARTIES")),
            clerk_jwks_url=get("CLERK_JWKS_URL"),
            clerk_secret_key=get("CLERK_SECRET_KEY"),
            clerk_api_url=get("CLERK_API_URL") or default.clerk_api_url,
            platform_orgs=_csv(get("PLATFORM_ORGS")) or default.platform_orgs,
            role_policy_file=Path(p) if (p := get("ROLE_POLICY_FILE")) else None,
            local_key_path=Path(get("LOCAL_KEY_PATH") or default.local_key_path),
            org_cache_seconds=float(get("ORG_CACHE_SECONDS") or default.org_cache_seconds),
            host=get("HOST") or default.host,
            port=int(get("PORT") or default.port),
            demo_seed=_bool(get("DEMO_SEED"), default.demo_seed),
            neo4j_url=get("NEO4J_URL"),
            neo4j_user=get("NEO4J_USER"),
            neo4j_password=get("NEO4J_PASSWORD"),
            redis_url=get("REDIS_URL"),
        )
