"""Acceptance tests of the two run modes (SPEC §3, §5), from the operator's side: what
`adminctl` prints and exits with, what the running server answers, what the database holds.

- Production refuses to start on an incomplete configuration, naming every problem at once
  (exit 78), and never mints local tokens nor seeds demo data; with PostgreSQL, Neo4j and a
  Clerk (the local fake, serving its JWKS behind the secret key) it really serves, verifying
  Clerk-signed session tokens, and leaves the database as it found it.
- `adminctl config check` shows the mode, masks secrets and names the adapter of each port.
- Embedded seeds the demo set only into an empty database: one holding other data is refused
  (`demo seed` exits 5, `serve` starts without seeding), and seeding twice changes nothing.

Commands run in this process (`entrypoints.cli.main.main`) with a patched environment, except
`serve`, which runs as a real `adminctl` subprocess on a free port and is always stopped.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import sqlite3
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from adapters.sql.engine import create_engine
from adapters.sql.migrate import upgrade
from entrypoints.cli.main import main
from entrypoints.container import aclose, build_container
from entrypoints.demo.seed import DemoStory
from entrypoints.settings import Settings
from tests.support.adminctl import ADMINCTL
from tests.support.databases import APP_ROLE, postgres_urls, truncate_postgres
from tests.support.fake_clerk import FakeClerk, running_fake_clerk
from tests.support.ports import free_port
from tests.support.services import (
    _create_database,
    _drop_database,
    in_thread,
    service_url,
)
from tests.support.serving import environment, is_setting, serving
from tests.support.tokens import ISSUER, SigningKey, claims

EXIT_CONFIG = 78
EXIT_SEED_REFUSED = 5
PLATFORM_ORG = "org_platform_ops"
JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")

#: The settings production requires, and what the refusal must call each of them.
REQUIRED = {
    "ADMIN_DATABASE_URL": "PostgreSQL",
    "ADMIN_CLERK_JWKS_URL": "JWKS",
    "ADMIN_CLERK_SECRET_KEY": "Clerk",
    "ADMIN_NEO4J_URL": "Neo4j",
    "ADMIN_AUTH_ISSUER": "issuer",
    "ADMIN_AUTH_AUTHORIZED_PARTIES": "frontends",
    "ADMIN_PLATFORM_ORGS": "platform operators",
    "ADMIN_FLAGSMITH_SERVER_KEY": "Flagsmith",
    "ADMIN_FLAGSMITH_ADMIN_KEY": "Admin API",
    "ADMIN_FLAGSMITH_ENVIRONMENT_KEY": "environment",
    "ADMIN_AUDIT_CHECKPOINT_KEY_FILE": "checkpoint",
    "ADMIN_AUDIT_CHECKPOINT_DIR": "checkpoint",
}

# A complete production configuration pointing at hosts that are never contacted: the
# commands it is used with must decide before touching any service.
DB_PASSWORD = "db-pw-Qx7Lm2"
OWNER_PASSWORD = "owner-pw-Qx7Lm2"
NEO4J_PASSWORD = "neo4j-pw-Qx7Lm2"
CLERK_SECRET = "sk_live_Qx7Lm2notarealkey"
FLAGSMITH_SERVER_KEY = "ser.Qx7Lm2notarealkey"
FLAGSMITH_ADMIN_KEY = "fsadmin-Qx7Lm2notarealkey"
#: Flagsmith, never contacted before a flag is read (the SDK is built on first use).
FLAGSMITH = {
    "ADMIN_FLAGSMITH_API_URL": "https://flags.internal.invalid/api/v1/",
    "ADMIN_FLAGSMITH_SERVER_KEY": FLAGSMITH_SERVER_KEY,
    "ADMIN_FLAGSMITH_ADMIN_API_URL": "https://flags-admin.internal.invalid/api/v1/",
    "ADMIN_FLAGSMITH_ADMIN_KEY": FLAGSMITH_ADMIN_KEY,
    "ADMIN_FLAGSMITH_ENVIRONMENT_KEY": "env_production",
}
COMPLETE: dict[str, str] = {
    "ADMIN_MODE": "production",
    "ADMIN_DATABASE_URL": (
        f"postgresql+asyncpg://admin_app:{DB_PASSWORD}@db.internal.invalid:5432/admin_core"
        "?ssl=verify-full"
    ),
    "ADMIN_MIGRATION_DATABASE_URL": (
        f"postgresql+asyncpg://admin_owner:{OWNER_PASSWORD}@db.internal.invalid:5432/admin_core"
        "?ssl=verify-full"
    ),
    "ADMIN_DATABASE_APP_ROLE": "admin_app",
    "ADMIN_CLERK_JWKS_URL": "https://api.clerk.invalid/v1/jwks",
    "ADMIN_CLERK_SECRET_KEY": CLERK_SECRET,
    "ADMIN_CLERK_API_URL": "https://api.clerk.invalid/v1",
    "ADMIN_AUTH_ISSUER": "https://clerk.admin-core.invalid",
    "ADMIN_AUTH_AUTHORIZED_PARTIES": "https://admin.admin-core.invalid",
    "ADMIN_PLATFORM_ORGS": PLATFORM_ORG,
    "ADMIN_NEO4J_URL": "neo4j+s://graph.internal.invalid:7687",
    "ADMIN_NEO4J_USER": "neo4j",
    "ADMIN_NEO4J_PASSWORD": NEO4J_PASSWORD,
    **FLAGSMITH,
    # relative to the directory `adminctl` runs in, where the fixture puts a real key
    "ADMIN_AUDIT_CHECKPOINT_KEY_FILE": "secrets/audit-checkpoint-ed25519.pem",
    "ADMIN_AUDIT_CHECKPOINT_DIR": "checkpoints",
}
SECRETS = (
    DB_PASSWORD,
    OWNER_PASSWORD,
    NEO4J_PASSWORD,
    CLERK_SECRET,
    FLAGSMITH_SERVER_KEY,
    FLAGSMITH_ADMIN_KEY,
)
PRODUCTION_ADAPTERS = (
    "SqlTransactions",
    "ClerkSessionTokenVerifier",
    "ClerkIdentityProvider",
    "Neo4jGraphProjection",
    "PostgresRebuildLock",
    "FlagsmithFeatureFlags",
    "SqlIntentLog",
    "SqlCoverageMeter",
    "Neo4jCoverageMeter",
)


def checkpoint_key(directory: Path) -> Path:
    """An Ed25519 key as an operator makes one (`openssl genpkey -algorithm ed25519`)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "audit-checkpoint-ed25519.pem"
    path.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


# --------------------------------------------------------------------------- running adminctl


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@pytest.fixture(autouse=True)
def server_ca(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """`COMPLETE`'s database URLs check the server's certificate (`?ssl=verify-full`), so
    its CA file is where asyncpg looks for it (no connection reads it: those made here go to
    the local test server, without TLS)."""
    path = tmp_path / "postgres-ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    monkeypatch.setenv("PGSSLROOTCERT", str(path))
    return path


@pytest.fixture
def adminctl(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Callable[..., Run]:
    """`adminctl(*args, env={...})`: one command in this process, in `tmp_path`, with exactly
    the application settings in `env`. The checkpoint key `COMPLETE` names is there."""
    monkeypatch.chdir(tmp_path)
    checkpoint_key(tmp_path / "secrets")

    def run(*args: str, env: Mapping[str, str]) -> Run:
        for name in [n for n in os.environ if is_setting(n)]:
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --------------------------------------------------------------------------- databases


async def _pg_rows(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                table: (await conn.execute(sa.text(f"select count(*) from {table}"))).scalar_one()
                for table in ("tenants", "providers", "user_roles", "audit_log")
            }
    finally:
        await engine.dispose()


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@dataclass(frozen=True)
class Contents:
    tenants: frozenset[str]
    providers: int
    user_roles: int
    audit_ids: tuple[str, ...]
    audit_tenants: frozenset[str | None]


def sqlite_contents(path: Path) -> Contents:
    with sqlite3.connect(path) as db:
        return Contents(
            tenants=frozenset(r[0] for r in db.execute("select id from tenants")),
            providers=db.execute("select count(*) from providers").fetchone()[0],
            user_roles=db.execute("select count(*) from user_roles").fetchone()[0],
            audit_ids=tuple(r[0] for r in db.execute("select id from audit_log order by id")),
            audit_tenants=frozenset(r[0] for r in db.execute("select tenant_id from audit_log")),
        )


def embedded_env(tmp_path: Path, db: Path) -> dict[str, str]:
    return {
        "ADMIN_DATABASE_URL": sqlite_url(db),
        "ADMIN_LOCAL_KEY_PATH": str(tmp_path / "keys" / "signing.pem"),
    }


# --------------------------------------------------------------------------- 1, 2: refusals


def test_production_with_nothing_set_refuses_to_serve_naming_every_missing_setting(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [str(ADMINCTL), "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=environment({"ADMIN_MODE": "production"}),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == EXIT_CONFIG, done.stdout + done.stderr
    problems = [line for line in done.stderr.splitlines() if line.strip().startswith("- ")]
    for variable, subject in REQUIRED.items():
        named = [p for p in problems if variable in p]
        assert named, f"{variable} not named in:\n{done.stderr}"
        assert subject.lower() in named[0].lower(), named
    assert "Traceback" not in done.stderr
    # nothing fell back to the embedded mode: no SQLite file, no local signing key
    assert not (tmp_path / "var").exists()


def test_production_with_postgres_but_no_clerk_names_the_clerk_settings_only(
    adminctl: Callable[..., Run], tmp_path: Path
) -> None:
    env = {
        k: v
        for k, v in COMPLETE.items()
        if k not in {"ADMIN_CLERK_JWKS_URL", "ADMIN_CLERK_SECRET_KEY"}
    }
    run = adminctl("serve", "--port", str(free_port()), env=env)
    assert run.code == EXIT_CONFIG, run.text
    problems = [line.strip() for line in run.err.splitlines() if line.strip().startswith("- ")]
    assert [p.split(":")[0] for p in problems] == [
        "- ADMIN_CLERK_JWKS_URL",
        "- ADMIN_CLERK_SECRET_KEY",
    ], run.err
    assert "ADMIN_DATABASE_URL" not in run.text
    assert not (tmp_path / "var").exists()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "revision", [None, "0007", "0099"], ids=["no schema", "an older schema", "a newer schema"]
)
@pytest.mark.parametrize("connecting_as", ["owner", "app role"])
def test_production_refuses_to_serve_on_a_schema_that_is_not_its_own(
    adminctl: Callable[..., Run], revision: str | None, connecting_as: str
) -> None:
    """As the schema's owner, or as the app role the owner's migrations granted what it
    needs (the split the README recommends): the revision is read either way."""
    super_url, owner_url = service_url("POSTGRES_SUPER"), service_url("POSTGRES_OWNER")
    owner = urlsplit(owner_url)
    name = f"behind_{secrets.token_hex(3)}"
    in_thread(_create_database(super_url, name, owner.path.lstrip("/")))
    try:
        database = urlunsplit(owner._replace(path=f"/{name}"))
        if revision is not None:
            in_thread(upgrade_to(database, revision, app_role=APP_ROLE))
        serving = database
        if connecting_as == "app role":
            serving = urlunsplit(urlsplit(postgres_urls()[0])._replace(path=f"/{name}"))
        run = adminctl(
            "serve", "--port", str(free_port()), env=COMPLETE | {"ADMIN_DATABASE_URL": serving}
        )
    finally:
        in_thread(_drop_database(super_url, name))
    assert run.code == EXIT_CONFIG, run.text
    assert f"the database is at {revision or 'no schema'}" in run.err
    if revision == "0099":  # a later release's: upgrading cannot help
        assert "which a later release made" in run.err
    else:
        assert "adminctl db upgrade" in run.err
    assert "unreachable" not in run.err


async def upgrade_to(url: str, revision: str, *, app_role: str | None = None) -> None:
    """`revision` of this release's, or a later release's (the head's, renamed)."""
    known = revision != "0099"
    await upgrade(url, app_role=app_role, revision=revision if known else "head")
    if not known:
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    sa.text("UPDATE alembic_version SET version_num = :v"), {"v": revision}
                )
        finally:
            await engine.dispose()


def test_production_with_migrations_as_another_role_needs_the_app_role_named(
    adminctl: Callable[..., Run],
) -> None:
    """Without it `db upgrade` grants the app's role nothing, and every request after is
    refused by the database. The same user for both needs no grant."""
    env = {k: v for k, v in COMPLETE.items() if k != "ADMIN_DATABASE_APP_ROLE"}
    run = adminctl("config", "check", env=env)
    assert run.code == EXIT_CONFIG, run.text
    assert "ADMIN_DATABASE_APP_ROLE: needed when ADMIN_MIGRATION_DATABASE_URL" in run.err
    same_user = env | {"ADMIN_MIGRATION_DATABASE_URL": COMPLETE["ADMIN_DATABASE_URL"]}
    assert "ADMIN_DATABASE_APP_ROLE" not in adminctl("config", "check", env=same_user).err


def test_production_refuses_a_non_postgres_database_and_leftover_embedded_settings(
    adminctl: Callable[..., Run], tmp_path: Path
) -> None:
    env = COMPLETE | {
        "ADMIN_DATABASE_URL": sqlite_url(tmp_path / "prod.db"),
        "ADMIN_LOCAL_KEY_PATH": str(tmp_path / "key.pem"),
    }
    run = adminctl("serve", env=env)
    assert run.code == EXIT_CONFIG, run.text
    assert "ADMIN_DATABASE_URL: production needs PostgreSQL" in run.err
    assert "ADMIN_LOCAL_KEY_PATH" in run.err
    assert not (tmp_path / "prod.db").exists()


# --------------------------------------------------------------------------- 3: it serves


@pytest.fixture
def fake_clerk() -> Iterator[tuple[FakeClerk, SigningKey]]:
    key = SigningKey("ins_production_mode")
    with running_fake_clerk() as fake:
        fake.publish_key(key.jwk())
        yield fake, key


def migrated_production(
    adminctl: Callable[..., Run], tmp_path: Path, fake: FakeClerk
) -> tuple[dict[str, str], str]:
    """A complete production configuration on an empty, migrated PostgreSQL (the operator's
    migration step: as the owner, granting the app role what it needs), and the owner URL."""
    app_url, owner_url = postgres_urls()
    asyncio.run(truncate_postgres(owner_url))
    env = {
        "ADMIN_MODE": "production",
        "ADMIN_DATABASE_URL": app_url,
        "ADMIN_DATABASE_APP_ROLE": APP_ROLE,
        "ADMIN_CLERK_JWKS_URL": fake.jwks_url,
        "ADMIN_CLERK_SECRET_KEY": fake.secret_key,
        "ADMIN_CLERK_API_URL": fake.url,
        "ADMIN_AUTH_ISSUER": ISSUER,
        "ADMIN_AUTH_AUTHORIZED_PARTIES": "https://admin.admin-core.invalid",
        "ADMIN_PLATFORM_ORGS": PLATFORM_ORG,
        "ADMIN_NEO4J_URL": service_url("NEO4J"),
        **FLAGSMITH,
        # the checkpoint key is made by the operator; production never makes one
        "ADMIN_AUDIT_CHECKPOINT_KEY_FILE": str(checkpoint_key(tmp_path / "secrets")),
        "ADMIN_AUDIT_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
    }
    migrated = adminctl("db", "upgrade", env=env | {"ADMIN_MIGRATION_DATABASE_URL": owner_url})
    assert migrated.code == 0, migrated.text
    return env, owner_url


async def _schema_usable_by_app(owner_url: str) -> bool:
    engine = create_engine(owner_url)
    try:
        async with engine.connect() as connection:
            return bool(
                await connection.scalar(
                    sa.text("select has_schema_privilege(:role, 'public', 'USAGE')"),
                    {"role": APP_ROLE},
                )
            )
    finally:
        await engine.dispose()


async def _schema_grant(owner_url: str, verb: str) -> None:
    """REVOKE the schema from PUBLIC and the app role, or GRANT it to the app role back."""
    engine = create_engine(owner_url)
    grantees = ("PUBLIC", f'"{APP_ROLE}"') if verb == "REVOKE" else (f'"{APP_ROLE}"',)
    word = "FROM" if verb == "REVOKE" else "TO"
    try:
        async with engine.begin() as connection:
            for grantee in grantees:
                await connection.execute(sa.text(f"{verb} USAGE ON SCHEMA public {word} {grantee}"))
    finally:
        await engine.dispose()


@pytest.mark.postgres
def test_db_upgrade_lets_the_app_role_use_a_schema_a_hardened_cluster_revoked(
    adminctl: Callable[..., Run],
) -> None:
    """`REVOKE ... ON SCHEMA public FROM PUBLIC` is common hardening: table privileges alone
    then reach nothing, and every request would fail as if the schema were missing."""
    app_url, owner_url = postgres_urls()
    asyncio.run(_schema_grant(owner_url, "REVOKE"))
    try:
        assert not asyncio.run(_schema_usable_by_app(owner_url))
        env = {
            "ADMIN_DATABASE_URL": app_url,
            "ADMIN_MIGRATION_DATABASE_URL": owner_url,
            "ADMIN_DATABASE_APP_ROLE": APP_ROLE,
        }
        migrated = adminctl("db", "upgrade", env=env)
        assert migrated.code == 0, migrated.text
        assert asyncio.run(_schema_usable_by_app(owner_url))
        listed = adminctl("--json", "tenants", "list", env=env)
        assert listed.code == 0, listed.text
    finally:
        asyncio.run(_schema_grant(owner_url, "GRANT"))  # as the test database had it


@pytest.mark.postgres
@pytest.mark.neo4j
def test_production_serves_with_postgres_neo4j_and_clerk_and_seeds_nothing(
    adminctl: Callable[..., Run],
    tmp_path: Path,
    fake_clerk: tuple[FakeClerk, SigningKey],
) -> None:
    fake, key = fake_clerk
    env, owner_url = migrated_production(adminctl, tmp_path, fake)

    with serving(env, tmp_path) as server:
        assert httpx.get(f"{server.url}/ready", timeout=5).status_code == 200
        tenants = f"{server.url}/api/v1/admin/tenants"
        token = key.sign(
            claims(sub="user_ops", org_id=PLATFORM_ORG, role="org:admin", sid="sess_ops_1")
        )

        listed = httpx.get(tenants, headers=bearer(token), timeout=10)
        assert listed.status_code == 200, listed.text
        assert listed.json()["data"]["total"] == 0
        assert listed.json()["data"]["tenants"] == []
        assert ("GET", "/v1/jwks") in fake.calls  # the keys came from Clerk, with the key

        missing = httpx.get(tenants, timeout=10)
        assert missing.status_code == 401
        assert missing.json()["errors"][0]["code"] == "AUTH_HEADER_MISSING"
        unsigned = jwt.encode(
            claims(sub="user_ops", org_id=PLATFORM_ORG, role="org:admin", sid="sess_ops_1"),
            None,
            algorithm="none",
            headers={"kid": key.kid},
        )
        forged = SigningKey("not_clerks").sign(
            claims(sub="user_ops", org_id=PLATFORM_ORG, role="org:admin", sid="sess_ops_1"),
            headers={"kid": key.kid},
        )
        for bad in (unsigned, forged):
            refused = httpx.get(tenants, headers=bearer(bad), timeout=10)
            assert refused.status_code == 401, refused.text
            assert refused.json()["errors"][0]["code"] == "AUTH_TOKEN_INVALID"

        assert httpx.get(f"{server.url}/.well-known/jwks.json", timeout=5).status_code == 404
    assert "Traceback" not in server.output(), server.output()
    assert fake.secret_key not in server.output()

    assert asyncio.run(_pg_rows(owner_url)) == {
        "tenants": 0,
        "providers": 0,
        "user_roles": 0,
        "audit_log": 0,
    }


# --------------------------------------------------------------------------- 4: no local tokens


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_production_never_mints_a_local_token(
    adminctl: Callable[..., Run], tmp_path: Path, as_json: bool
) -> None:
    run = adminctl(*(["--json"] if as_json else []), "token", "--role", "org:admin", env=COMPLETE)
    assert run.code != 0
    assert not JWT_SHAPE.search(run.text), run.text
    assert "embedded" in run.err  # says why
    assert not (tmp_path / "var").exists()  # and made no signing key


def test_production_never_seeds_demo_data(adminctl: Callable[..., Run]) -> None:
    run = adminctl("demo", "seed", env=COMPLETE)
    assert run.code == EXIT_SEED_REFUSED, run.text
    assert "production" in run.err


# --------------------------------------------------------------------------- 5: config check


def test_config_check_shows_a_complete_production_configuration_with_secrets_masked(
    adminctl: Callable[..., Run],
) -> None:
    human = adminctl("config", "check", env=COMPLETE)
    assert human.code == 0, human.text
    assert re.search(r"mode\W+production", human.out), human.out
    for adapter in PRODUCTION_ADAPTERS:
        assert adapter in human.out, adapter
    assert "InMemory" not in human.out
    assert "LocalTokenIssuer" not in human.out
    for secret in SECRETS:
        assert secret not in human.text

    as_json = adminctl("--json", "config", "check", env=COMPLETE)
    assert as_json.code == 0, as_json.text
    for secret in SECRETS:
        assert secret not in as_json.text
    report = json.loads(as_json.out)
    assert report["mode"] == "production"
    assert report["problems"] == []
    shown = report["settings"]
    assert shown["ADMIN_CLERK_SECRET_KEY"] == "***"
    assert shown["ADMIN_NEO4J_PASSWORD"] == "***"
    assert shown["ADMIN_MIGRATION_DATABASE_URL"] == COMPLETE[
        "ADMIN_MIGRATION_DATABASE_URL"
    ].replace(OWNER_PASSWORD, "***")
    assert shown["ADMIN_NEO4J_URL"] == COMPLETE["ADMIN_NEO4J_URL"]
    chosen = {port: a["adapter"] for port, a in report["adapters"].items()}
    assert set(PRODUCTION_ADAPTERS) <= set(chosen.values()), chosen
    assert chosen["SessionTokenVerifier"] == "ClerkSessionTokenVerifier"
    assert chosen["IdentityProvider"] == "ClerkIdentityProvider"
    assert chosen["GraphProjection"] == "Neo4jGraphProjection"
    assert chosen["RebuildLock"] == "PostgresRebuildLock"
    assert report["adapters"]["SessionTokenVerifier"]["why"].endswith(
        COMPLETE["ADMIN_CLERK_JWKS_URL"]
    )


def test_config_check_lists_every_problem_of_an_incomplete_production_configuration(
    adminctl: Callable[..., Run],
) -> None:
    env = {
        "ADMIN_MODE": "production",
        "ADMIN_DATABASE_URL": COMPLETE["ADMIN_DATABASE_URL"],
        "ADMIN_CLERK_SECRET_KEY": CLERK_SECRET,
        "ADMIN_PORT": "not-a-port",
    }
    run = adminctl("config", "check", env=env)
    assert run.code == EXIT_CONFIG, run.text
    assert re.search(r"mode\W+production", run.out), run.out
    problems = [line.strip() for line in run.err.splitlines() if line.strip().startswith("- ")]
    named = {p.removeprefix("- ").split(":")[0] for p in problems}
    assert named == {
        "ADMIN_CLERK_JWKS_URL",
        "ADMIN_NEO4J_URL",
        "ADMIN_AUTH_ISSUER",
        "ADMIN_AUTH_AUTHORIZED_PARTIES",
        "ADMIN_PLATFORM_ORGS",
        "ADMIN_FLAGSMITH_SERVER_KEY",
        "ADMIN_FLAGSMITH_ADMIN_KEY",
        "ADMIN_FLAGSMITH_ENVIRONMENT_KEY",
        "ADMIN_AUDIT_CHECKPOINT_KEY_FILE",
        "ADMIN_AUDIT_CHECKPOINT_DIR",
        "ADMIN_PORT",
    }, run.err
    assert CLERK_SECRET not in run.text

    as_json = adminctl("--json", "config", "check", env=env)
    assert as_json.code == EXIT_CONFIG
    assert {p.split(":")[0] for p in json.loads(as_json.out)["problems"]} == named


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_config_check_masks_the_database_password(
    adminctl: Callable[..., Run], as_json: bool
) -> None:
    run = adminctl(*(["--json"] if as_json else []), "config", "check", env=COMPLETE)
    assert run.code == 0, run.text
    assert DB_PASSWORD not in run.text
    assert COMPLETE["ADMIN_DATABASE_URL"].replace(DB_PASSWORD, "***") in run.out


def test_config_check_never_shows_an_embedded_fallback_in_production(
    adminctl: Callable[..., Run],
) -> None:
    run = adminctl("--json", "config", "check", env={"ADMIN_MODE": "production"})
    assert run.code == EXIT_CONFIG
    adapters = json.loads(run.out)["adapters"].values()
    chosen = {a["adapter"] for a in adapters}
    fallbacks = {a for a in chosen if a.startswith(("InMemory", "InProcess", "Local", "Sandbox"))}
    assert not fallbacks, chosen
    assert not [a for a in adapters if a["why"] == "SQLite" or "None" in a["why"]], adapters


# --------------------------------------------------------------------------- 6: embedded seeding


def test_embedded_demo_seed_and_serve_leave_a_database_with_other_data_alone(
    adminctl: Callable[..., Run], tmp_path: Path
) -> None:
    db = tmp_path / "clinic.db"
    env = embedded_env(tmp_path, db)
    assert adminctl("db", "upgrade", env=env).code == 0
    created = adminctl("--json", "providers", "create", "--name", "Clinica Lumen", env=env)
    assert created.code == 0, created.text
    tenant_id = json.loads(created.out)["tenant"]["id"]
    before = sqlite_contents(db)
    assert before.tenants == {tenant_id}
    assert before.audit_ids  # the creation was audited

    refused = adminctl("demo", "seed", env=env)
    assert refused.code == EXIT_SEED_REFUSED, refused.text
    assert "DEMO_SEED_REFUSED" in refused.err
    assert "demo set" in refused.err
    as_json = adminctl("demo", "seed", "--json", env=env)
    assert as_json.code == EXIT_SEED_REFUSED, as_json.text
    [error] = json.loads(as_json.err)["errors"]
    assert error["code"] == "DEMO_SEED_REFUSED"
    assert sqlite_contents(db) == before

    with serving(env, tmp_path) as server:
        token = adminctl("token", env=env)
        assert token.code == 0, token.text
        listed = httpx.get(
            f"{server.url}/api/v1/admin/tenants", headers=bearer(token.out.strip()), timeout=10
        )
        assert listed.status_code == 200, listed.text
        assert [t["id"] for t in listed.json()["data"]["tenants"]] == [tenant_id]
        assert httpx.get(f"{server.url}/.well-known/jwks.json", timeout=5).status_code == 200
    assert "not seeding the demo data" in server.output()

    after = adminctl("--json", "tenants", "list", env=env)
    assert after.code == 0, after.text
    assert json.loads(after.out)["total"] == 1
    assert sqlite_contents(db) == before


def test_embedded_demo_seed_fills_an_empty_database_once(
    adminctl: Callable[..., Run], tmp_path: Path
) -> None:
    db = tmp_path / "empty.db"
    env = embedded_env(tmp_path, db)
    assert adminctl("db", "upgrade", env=env).code == 0

    first = adminctl("demo", "seed", env=env)
    assert first.code == 0, first.text
    assert "seeded" in first.out
    seeded = sqlite_contents(db)
    assert len(seeded.tenants) > 1
    assert seeded.audit_ids
    assert seeded.user_roles
    assert seeded.providers

    second = adminctl("--json", "demo", "seed", env=env)
    assert second.code == 0, second.text
    assert json.loads(second.out) == {"state": "demo", "tenants_created": 0}
    assert sqlite_contents(db) == seeded


def test_a_demo_seed_cut_short_is_named_by_demo_seed_and_serve_and_left_as_it_was(
    adminctl: Callable[..., Run], tmp_path: Path
) -> None:
    """A first `make run` stopped while it seeded: the next start says so and how to start
    again, rather than serving part of the demo set as if it were whole."""
    db = tmp_path / "cut.db"
    env = embedded_env(tmp_path, db)
    assert adminctl("db", "upgrade", env=env).code == 0
    asyncio.run(_tell_part_of_the_demo(env, steps=3))
    before = sqlite_contents(db)
    assert before.tenants
    assert before.audit_ids

    refused = adminctl("demo", "seed", env=env)
    assert refused.code == EXIT_SEED_REFUSED, refused.text
    assert "DEMO_SEED_REFUSED" in refused.err
    assert "cut short" in refused.err
    assert "empty database" in refused.err
    with serving(env, tmp_path) as server:
        pass
    assert "not seeding the demo data: a demo seed of this database was cut short" in (
        server.output()
    )
    assert sqlite_contents(db) == before


async def _tell_part_of_the_demo(env: Mapping[str, str], *, steps: int) -> None:
    settings = Settings(
        database_url=env["ADMIN_DATABASE_URL"], local_key_path=Path(env["ADMIN_LOCAL_KEY_PATH"])
    )
    container = build_container(settings)
    try:
        for step in DemoStory(container).steps()[:steps]:
            await step()
    finally:
        await aclose(container)


@pytest.mark.parametrize("command", [["serve"], ["config", "check"], ["audit", "public-key"]])
@pytest.mark.parametrize("key", ["missing", "not a key", "an RSA key"])
def test_production_refuses_a_checkpoint_key_it_cannot_use_and_never_makes_one(
    adminctl: Callable[..., Run], tmp_path: Path, command: list[str], key: str
) -> None:
    path = tmp_path / "elsewhere" / "audit-checkpoint-ed25519.pem"
    path.parent.mkdir()
    if key == "not a key":
        path.write_text("hello")
    elif key == "an RSA key":
        path.write_bytes(
            SigningKey("kid_rsa").private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    env = COMPLETE | {"ADMIN_AUDIT_CHECKPOINT_KEY_FILE": str(path)}
    run = adminctl(*command, env=env)
    assert run.code == EXIT_CONFIG, run.text
    assert "ADMIN_AUDIT_CHECKPOINT_KEY_FILE" in run.err
    assert path.exists() is (key != "missing")
    assert "Traceback" not in run.text


async def _a_paid_session(owner_url: str, provider: str) -> None:
    engine = create_engine(owner_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "insert into providers (id, name, created_at, updated_at)"
                    " values ('prv_p', 'P', now(), now());"
                )
            )
            await conn.execute(
                sa.text(
                    "insert into tenants (id, name, status, provider_id, created_at, updated_at)"
                    " values ('tenant-p', 'P', 'active', 'prv_p', now(), now())"
                )
            )
            await conn.execute(
                sa.text(
                    "insert into mso_sessions (id, tenant_id, patient_id, case_id, mso_doctor_id,"
                    " scheduled_at, status, amount_minor, currency, payment_provider,"
                    " payment_ref, refund_attempts, created_at, updated_at) values ('mso_p',"
                    " 'tenant-p', 'pat', 'case', 'msd', now(), 'completed', 1000, 'EUR',"
                    " :provider, 'ref_p', 0, now(), now())"
                ),
                {"provider": provider},
            )
    finally:
        await engine.dispose()


@pytest.mark.postgres
@pytest.mark.neo4j
@pytest.mark.parametrize("provider", ["stripe", "sandbox"])
def test_production_refunds_need_the_providers_credentials_never_the_sandbox(
    provider: str,
    adminctl: Callable[..., Run],
    tmp_path: Path,
    fake_clerk: tuple[FakeClerk, SigningKey],
) -> None:
    fake, key = fake_clerk
    env, owner_url = migrated_production(adminctl, tmp_path, fake)
    asyncio.run(_a_paid_session(owner_url, provider))
    with serving(env, tmp_path) as server:
        token = key.sign(
            claims(sub="user_ops", org_id=PLATFORM_ORG, role="org:admin", sid="sess_ops_1")
        )
        refused = httpx.post(
            f"{server.url}/api/v1/admin/mso/sessions/mso_p/refund",
            json={"reason": "patient cancelled"},
            headers=bearer(token),
            timeout=10,
        )
        assert refused.status_code == 503, refused.text
        assert refused.json()["errors"][0]["code"] == "PAYMENT_PROVIDER_NOT_CONFIGURED"
        listed = httpx.get(
            f"{server.url}/api/v1/admin/mso/sessions", headers=bearer(token), timeout=10
        )
        assert [s["status"] for s in listed.json()["data"]["sessions"]] == ["completed"]
    assert "Traceback" not in server.output(), server.output()
