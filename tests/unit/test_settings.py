"""Settings from the environment: one typed definition, validated at once, documented from the
same definition."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.ed25519.keys import Ed25519CheckpointSigner
from entrypoints.container import build_container
from entrypoints.container.choices import describe
from entrypoints.container.health import secrets_of
from entrypoints.settings import (
    ConfigurationError,
    Mode,
    Settings,
    env_example,
    mask_url,
    with_settings_table,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_database_pool_size_comes_from_the_environment() -> None:
    assert Settings.from_env({}).database_pool_size == 4
    assert Settings.from_env({"ADMIN_DATABASE_POOL_SIZE": "8"}).database_pool_size == 8


@pytest.mark.parametrize("value", ["0", "1", "-2", "four", "2.5", "101"])
def test_a_pool_size_that_is_not_a_positive_whole_number_is_refused_by_name(value: str) -> None:
    with pytest.raises(ConfigurationError, match="ADMIN_DATABASE_POOL_SIZE"):
        Settings.from_env({"ADMIN_DATABASE_POOL_SIZE": value})


def test_every_bad_value_is_named_at_once() -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(
            {
                "ADMIN_MODE": "staging",
                "ADMIN_PORT": "http",
                "ADMIN_DATABASE_URL": "mysql://x",
                "ADMIN_PLATFORM_ORGS": "platform",
                "ADMIN_DEMO_SEED": "maybe",
            }
        )
    named = {problem.split(":")[0] for problem in refused.value.problems}
    assert named == {
        "ADMIN_MODE",
        "ADMIN_PORT",
        "ADMIN_DATABASE_URL",
        "ADMIN_PLATFORM_ORGS",
        "ADMIN_DEMO_SEED",
    }


@pytest.mark.parametrize(
    "url", ["memory://", "sqlite+aiosqlite:///var/x.db", "postgresql+asyncpg://u@db/admin"]
)
def test_every_database_url_form_the_readme_names_is_accepted(url: str) -> None:
    assert Settings.from_env({"ADMIN_DATABASE_URL": url}).database_url == url


def test_config_check_says_where_an_unset_embedded_default_is_shown() -> None:
    shown = dict(Settings.from_env({}).effective())
    assert shown["ADMIN_AUDIT_CHECKPOINT_KEY_FILE"].startswith("(unset: the embedded default")
    assert shown["ADMIN_AUDIT_CHECKPOINT_DIR"].startswith("(unset: the embedded default")
    assert shown["ADMIN_ROLE_POLICY_FILE"] == "(unset)"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ADMIN_FLAGSMITH_REFRESH_SECONDS", "0"),
        ("ADMIN_PAYMENT_TIMEOUT_SECONDS", "0"),
        ("ADMIN_AUDIT_CHECKPOINT_SECONDS", "0.01"),
        ("ADMIN_HOST", "not a host!!"),
    ],
)
def test_a_value_the_server_or_an_adapter_cannot_run_with_is_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [("ADMIN_CLERK_SECRET_KEY", "pk_test_publishable"), ("ADMIN_STRIPE_API_KEY", "pk_live_x")],
)
def test_a_publishable_key_where_a_secret_one_is_needed_is_refused_without_echoing_it(
    name: str, value: str
) -> None:
    _, problems = Settings.read_env({name: value})
    assert [p.split(":")[0] for p in problems] == [name]
    assert value not in problems[0]


def test_checkpoints_may_be_switched_off() -> None:
    assert Settings.from_env({"ADMIN_AUDIT_CHECKPOINT_SECONDS": "0"}).audit_checkpoint_seconds == 0


def test_a_checkpoint_directory_that_cannot_be_made_is_a_configuration_problem(
    tmp_path: Path,
) -> None:
    file = tmp_path / "a-file"
    file.write_text("")
    _, problems = Settings.read_env({"ADMIN_AUDIT_CHECKPOINT_DIR": str(file / "checkpoints")})
    assert problems == [f"ADMIN_AUDIT_CHECKPOINT_DIR: {file} is not a directory"]
    fine = Settings.from_env({"ADMIN_AUDIT_CHECKPOINT_DIR": str(tmp_path / "new" / "dir")})
    assert fine.problems() == []


def test_a_required_setting_with_a_malformed_value_is_named_once_for_its_value() -> None:
    """Not a second time as missing, which the operator who set it would not understand."""
    _, problems = Settings.read_env(
        {"ADMIN_MODE": "production", "ADMIN_NEO4J_URL": "http://neo4j.internal:7474"}
    )
    neo4j = [p for p in problems if p.startswith("ADMIN_NEO4J_URL:")]
    assert neo4j == [
        "ADMIN_NEO4J_URL: must be a URL starting with bolt:// or bolt+s:// or neo4j:// or"
        " neo4j+s://"
    ]
    _, unset = Settings.read_env({"ADMIN_MODE": "production"})
    assert "ADMIN_NEO4J_URL: production projects the graph into Neo4j" in unset


def test_a_former_checkpoint_key_that_cannot_be_read_is_a_configuration_problem(
    tmp_path: Path,
) -> None:
    """Found by `config check`, named by its own variable, not a traceback from `audit verify`
    or a start-up message naming the signing key."""
    missing = tmp_path / "missing.pem"
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    variable = "ADMIN_AUDIT_CHECKPOINT_TRUSTED_KEYS"
    _, problems = Settings.read_env({variable: f"{missing},{garbage}"})
    assert problems == [
        f"{variable}: cannot read {missing}: No such file or directory",
        f"{variable}: {garbage} holds no usable public key:"
        " no key found (expected PEM or a JSON key set)",
    ]
    former = tmp_path / "former.pem"
    Ed25519CheckpointSigner(former, create=True)  # a private key gives its public half
    assert Settings.from_env({variable: str(former)}).problems() == []


@settings(max_examples=200, deadline=None)
@given(
    password=st.text(
        alphabet=st.characters(codec="ascii", categories=("L", "N", "P", "S")),
        min_size=1,
        max_size=24,
    ).filter(lambda p: "@" not in p)
)
def test_every_password_sqlalchemy_reads_from_a_database_url_is_masked(password: str) -> None:
    """`#`, `/` and `?` end a URL's authority for `urlsplit`, not for the driver: the whole
    password is masked in `config check`, and the health scrubber knows all of it."""
    url = f"postgresql+asyncpg://admin_app:{password}@db.internal:5432/admin_core"
    assert sa.make_url(url).password == unquote(password)  # what the app connects with
    assert mask_url(url) == "postgresql+asyncpg://admin_app:***@db.internal:5432/admin_core"
    production = Settings(mode=Mode.PRODUCTION, database_url=url)
    assert password in secrets_of(production)


@pytest.mark.parametrize(
    ("name", "url", "secret"),
    [
        ("ADMIN_NEO4J_URL", "bolt://neo4j:neopw123@graph:7687", "neopw123"),
        ("ADMIN_QDRANT_URL", "https://u:qdrantpw123@q.example", "qdrantpw123"),
        ("ADMIN_CLERK_JWKS_URL", "https://clerk.example/jwks?token=tok123", "tok123"),
        ("ADMIN_DATABASE_URL", "postgresql+asyncpg://a@db/x?password=qspw123", "qspw123"),
    ],
)
def test_config_check_masks_credentials_inside_every_url(name: str, url: str, secret: str) -> None:
    settings, _ = Settings.read_env({"ADMIN_MODE": "production", name: url})
    shown = dict(settings.effective())
    assert secret not in shown[name]
    assert "***" in shown[name]
    adapters = describe(settings)
    assert not any(secret in choice.why for choice in adapters)


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("ADMIN_DATABASE_URL", "sqlite+aiosqlite:///var/admin_core.db"),
        ("ADMIN_DATABASE_URL", "sqlite+aiosqlite:////srv/admin/admin_core.db"),
        ("ADMIN_DATABASE_URL", "memory://"),
        (
            "ADMIN_DATABASE_URL",
            "postgresql+asyncpg://admin@db:5432/admin_core?ssl=require&target_session_attrs=read-write",
        ),
        ("ADMIN_NEO4J_URL", "bolt://127.0.0.1:7687"),
    ],
)
def test_config_check_shows_a_url_without_credentials_exactly_as_given(name: str, url: str) -> None:
    settings, problems = Settings.read_env({name: url})
    assert problems == []
    assert dict(settings.effective())[name] == url


def test_config_check_masks_credentials_in_the_vendor_urls_it_names_for_adapters() -> None:
    settings, _ = Settings.read_env(
        {
            "ADMIN_MODE": "production",
            "ADMIN_STRIPE_API_KEY": "sk_test_x",
            "ADMIN_STRIPE_API_URL": "https://st:stripeurlpw@stripe.example",
            "ADMIN_RAZORPAY_KEY_ID": "rzp_test_x",
            "ADMIN_RAZORPAY_KEY_SECRET": "s",
            "ADMIN_RAZORPAY_API_URL": "https://rz:razorpayurlpw@rzp.example",
            "ADMIN_CLERK_SECRET_KEY": "sk_test_y",
            "ADMIN_CLERK_API_URL": "https://ck:clerkurlpw@clerk.example/v1",
        }
    )
    why = " ".join(choice.why for choice in describe(settings))
    for secret in ("stripeurlpw", "razorpayurlpw", "clerkurlpw"):
        assert secret not in why
    assert "https://st:***@stripe.example" in why


def test_settings_printed_or_logged_show_no_key_or_password() -> None:
    """A process embedding the core may log the settings it built: their text masks what
    `config check` masks, and still names every setting."""
    settings = Settings(
        database_url="postgresql+asyncpg://app:dbpw-x1@db.internal/admin?ssl=require",
        clerk_secret_key="sk_live_clerk-x2",
        stripe_api_key="sk_live_stripe-x3",
        stripe_api_url="https://ops:urlpw-x4@stripe.internal",
        neo4j_password="neo4jpw-x5",
    )
    for text in (repr(settings), str(settings), f"{settings!r}"):
        for secret in ("dbpw-x1", "clerk-x2", "stripe-x3", "urlpw-x4", "neo4jpw-x5"):
            assert secret not in text
        assert "database_url=" in text
        assert "db.internal" in text
        assert "audit_checkpoint_seconds=" in text


def test_embedded_is_the_default_and_needs_nothing() -> None:
    settings = Settings.from_env({})
    assert settings.mode is Mode.EMBEDDED
    assert settings.problems() == []


def test_production_names_every_missing_setting_and_every_embedded_only_one() -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(
            {
                "ADMIN_MODE": "production",
                "ADMIN_LOCAL_KEY_PATH": "/tmp/key.pem",
                "ADMIN_AUTH_MODE": "clerk",
                "ADMIN_TEST_POSTGRES_URL": "ignored: tooling",
            }
        )
    named = {problem.split(":")[0] for problem in refused.value.problems}
    assert named == {
        "ADMIN_DATABASE_URL",
        "ADMIN_AUTH_ISSUER",
        "ADMIN_AUTH_AUTHORIZED_PARTIES",
        "ADMIN_CLERK_JWKS_URL",
        "ADMIN_CLERK_SECRET_KEY",
        "ADMIN_PLATFORM_ORGS",  # the demo's `org_platform`: no Clerk organisation has that id
        "ADMIN_NEO4J_URL",
        "ADMIN_FLAGSMITH_SERVER_KEY",
        "ADMIN_FLAGSMITH_ADMIN_KEY",
        "ADMIN_FLAGSMITH_ENVIRONMENT_KEY",
        "ADMIN_AUDIT_CHECKPOINT_KEY_FILE",
        "ADMIN_AUDIT_CHECKPOINT_DIR",
        "ADMIN_LOCAL_KEY_PATH",
        "ADMIN_AUTH_MODE",
    }


def test_production_sends_keys_over_plain_http_only_to_this_host() -> None:
    """Over plain http anyone on the way reads a vendor's secret key, or swaps the JWKS for
    keys of their own and signs themselves any role."""
    base = {"ADMIN_MODE": "production", "ADMIN_STRIPE_API_KEY": "sk_test_abc"}

    def refused_urls(env: dict[str, str]) -> dict[str, str]:
        with pytest.raises(ConfigurationError) as refused:
            Settings.from_env(base | env)
        return {
            problem.split(":")[0]: problem
            for problem in refused.value.problems
            if "https" in problem
        }

    plain = refused_urls(
        {
            "ADMIN_CLERK_JWKS_URL": "http://clerk.internal/v1/jwks",
            "ADMIN_STRIPE_API_URL": "http://ops:stripepw@stripe.internal",
            "ADMIN_QDRANT_URL": "http://qdrant.internal:6333",  # no key: nothing to read
        }
    )
    assert set(plain) == {"ADMIN_CLERK_JWKS_URL", "ADMIN_STRIPE_API_URL"}
    assert "stripepw" not in plain["ADMIN_STRIPE_API_URL"]
    local = {
        "ADMIN_CLERK_JWKS_URL": "http://127.0.0.1:8080/v1/jwks",
        "ADMIN_STRIPE_API_URL": "http://localhost:12111",
        "ADMIN_CLERK_API_URL": "http://[::1]:8081/v1",
    }
    assert refused_urls(local) == {}
    tls = {"ADMIN_CLERK_JWKS_URL": "https://clerk.internal/v1/jwks"}
    assert refused_urls(tls) == {}
    embedded = Settings.from_env({"ADMIN_CLERK_JWKS_URL": "http://clerk.internal/v1/jwks"})
    assert embedded.clerk_jwks_url == "http://clerk.internal/v1/jwks"


def test_production_reaches_its_database_graph_and_cache_in_plain_text_only_on_this_host() -> None:
    """A database URL without TLS sends the role's password and every row it reads, patients'
    included, to anyone on the way; so do `bolt://` and `redis://` with theirs. Production
    names each such URL with every other problem, its password masked."""
    base = {"ADMIN_MODE": "production"}

    def plain(env: dict[str, str]) -> dict[str, str]:
        with pytest.raises(ConfigurationError) as refused:
            Settings.from_env(base | env)
        return {
            problem.split(":")[0]: problem
            for problem in refused.value.problems
            if "plain text" in problem
        }

    refused = plain(
        {
            "ADMIN_DATABASE_URL": "postgresql+asyncpg://app:dbpw@db.internal:5432/admin",
            "ADMIN_MIGRATION_DATABASE_URL": (
                "postgresql+asyncpg://owner:ownerpw@db.internal/admin?sslmode=prefer"
            ),
            "ADMIN_NEO4J_URL": "bolt://neo4j.internal:7687",
            "ADMIN_REDIS_URL": "redis://:redispw@redis.internal:6379/0",
        }
    )
    assert set(refused) == {
        "ADMIN_DATABASE_URL",
        "ADMIN_MIGRATION_DATABASE_URL",  # `prefer` falls back to plain text when refused
        "ADMIN_NEO4J_URL",
        "ADMIN_REDIS_URL",
    }
    for password in ("dbpw", "ownerpw", "redispw"):
        assert not any(password in problem for problem in refused.values())
    assert plain({"ADMIN_NEO4J_URL": "neo4j://10.0.0.7:7687"}) != {}
    encrypted = {
        "ADMIN_DATABASE_URL": "postgresql+asyncpg://app:pw@db.internal/admin?ssl=require",
        "ADMIN_MIGRATION_DATABASE_URL": (
            "postgresql+asyncpg://owner:pw@db.internal/admin?sslmode=verify-full"
        ),
        "ADMIN_NEO4J_URL": "neo4j+s://neo4j.internal:7687",
        "ADMIN_REDIS_URL": "rediss://redis.internal:6380/0",
    }
    assert plain(encrypted) == {}
    assert plain({"ADMIN_DATABASE_URL": "postgresql+asyncpg://a:b@db/x?ssl=verify_ca"}) == {}
    local = {
        "ADMIN_DATABASE_URL": "postgresql+asyncpg://app:pw@127.0.0.1:5432/admin",
        "ADMIN_MIGRATION_DATABASE_URL": "postgresql+asyncpg://owner:pw@localhost/admin",
        "ADMIN_NEO4J_URL": "bolt://[::1]:7687",
        "ADMIN_REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    assert plain(local) == {}
    socket = "postgresql+asyncpg://app:pw@/admin?host=/run/postgresql"
    assert plain({"ADMIN_DATABASE_URL": socket}) == {}
    embedded = Settings.from_env({"ADMIN_NEO4J_URL": "bolt://neo4j.internal:7687"})
    assert embedded.neo4j_url == "bolt://neo4j.internal:7687"


def test_a_flagsmith_server_key_needs_its_admin_key_and_environment() -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({"ADMIN_FLAGSMITH_SERVER_KEY": "ser.abc"})
    named = {problem.split(":")[0] for problem in refused.value.problems}
    assert named == {"ADMIN_FLAGSMITH_ADMIN_KEY", "ADMIN_FLAGSMITH_ENVIRONMENT_KEY"}
    with pytest.raises(ConfigurationError, match="server-side environment key"):
        Settings.from_env({"ADMIN_FLAGSMITH_SERVER_KEY": "client-key"})


def test_a_bad_flag_catalogue_stops_start_up_naming_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "flags.yaml"
    bad.write_text("flags:\n  - name: a\n    type: int\n    default: 1\n    max: 0\n")
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({"ADMIN_FLAG_CATALOGUE_FILE": str(bad)})
    [problem] = refused.value.problems
    assert problem.startswith(f"ADMIN_FLAG_CATALOGUE_FILE: {bad}:4:")


def test_a_settings_object_built_by_hand_is_checked_before_anything_is_built() -> None:
    with pytest.raises(ConfigurationError, match="ADMIN_CLERK_JWKS_URL"):
        build_container(Settings(mode=Mode.PRODUCTION, database_url="postgresql+asyncpg://x/y"))


def test_a_role_policy_file_that_cannot_be_read_is_a_configuration_problem(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "roles.json"
    bad.write_text('{"platform": {"org:admin": ["no:such"]}}')
    for path in (tmp_path / "missing.json", bad):
        with pytest.raises(ConfigurationError, match="ADMIN_ROLE_POLICY_FILE"):
            Settings.from_env({"ADMIN_ROLE_POLICY_FILE": str(path)})


def test_a_role_policy_giving_a_tenant_role_super_admin_is_a_configuration_problem(
    tmp_path: Path,
) -> None:
    """super_admin reaches every tenant: held in a tenant's organisation, it would let that
    tenant's members act on all the others."""
    policy = tmp_path / "roles.json"
    policy.write_text('{"tenant": {"org:provider:admin": ["tenant:manage", "super_admin"]}}')
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({"ADMIN_ROLE_POLICY_FILE": str(policy)})
    [problem] = refused.value.problems
    assert problem.startswith("ADMIN_ROLE_POLICY_FILE:")
    assert "super_admin" in problem
    assert "org:provider:admin" in problem
    policy.write_text('{"platform": {"org:owner": ["super_admin"]}, "tenant": {}}')
    assert Settings.from_env({"ADMIN_ROLE_POLICY_FILE": str(policy)}).role_policy_file == policy


def test_the_readme_table_and_env_example_are_generated_from_the_definition() -> None:
    readme = (ROOT / "README.md").read_text()
    assert with_settings_table(readme) == readme, (
        "run: python -m entrypoints.settings write README.md .env.example"
    )
    assert (ROOT / ".env.example").read_text() == env_example()


async def test_the_engine_pool_holds_the_configured_number_of_connections() -> None:
    settings = Settings(
        database_url="postgresql+asyncpg://app:secret@127.0.0.1:1/admin", database_pool_size=7
    )
    container = build_container(settings)
    engine = container.database.engine()
    try:
        assert engine.pool.size() == 7  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


def test_payment_gateways_fall_back_to_the_sandbox_only_in_the_embedded_mode() -> None:
    from entrypoints.container import choices
    from entrypoints.settings import Mode

    embedded = Settings(stripe_api_key="sk_test_x")
    assert choices.payment_gateways(embedded) == {
        "stripe": "stripe",
        "razorpay": "sandbox",
        "sandbox": "sandbox",
    }
    production = Settings(mode=Mode.PRODUCTION, razorpay_key_id="rzp_x", razorpay_key_secret="s")
    assert choices.payment_gateways(production) == {
        "stripe": None,
        "razorpay": "razorpay",
        "sandbox": None,
    }


async def test_a_provider_without_credentials_in_production_is_not_configured() -> None:
    from adapters.system.runtime import SystemClock, UlidGenerator
    from admin_core.payments.errors import PaymentProviderNotConfigured
    from admin_core.payments.model import PaymentProvider
    from entrypoints.container.payments import _gateways
    from entrypoints.container.resources import Resources
    from entrypoints.settings import Mode

    settings = Settings(mode=Mode.PRODUCTION)
    resources = Resources()
    registry = _gateways(settings, None, SystemClock(), UlidGenerator(), resources)
    for provider in PaymentProvider:
        with pytest.raises(PaymentProviderNotConfigured):
            registry.gateway(provider)
    await resources.aclose()


def test_a_razorpay_key_id_needs_its_secret() -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({"ADMIN_RAZORPAY_KEY_ID": "rzp_live_x"})
    assert any("ADMIN_RAZORPAY_KEY_SECRET" in p for p in raised.value.problems)


def test_a_database_url_from_env_would_refuse_is_refused_in_a_settings_built_in_code() -> None:
    """An embedding process builds `Settings(...)` without the readers: `postgresql://`
    (no `+asyncpg`) is named by `build_container`, not met as a missing driver later."""
    with pytest.raises(ConfigurationError) as refused:
        build_container(Settings(database_url="postgresql://app:pw@db.internal/admin"))
    assert refused.value.problems == [
        "ADMIN_DATABASE_URL: must be a URL starting with sqlite+aiosqlite:// or"
        " postgresql+asyncpg:// or memory://"
    ]


def _url_settings() -> list[tuple[str, str]]:
    """(variable, example URL) of every setting that holds one URL."""
    return [
        (f"ADMIN_{f.name.upper()}", example)
        for f in dataclasses.fields(Settings)
        if "tuple" not in str(f.type)
        and "://" in (example := str(f.metadata["example"] or f.default))
    ]


def _with_port(url: str, port: str) -> str:
    return re.sub(r"^([^:]+://(?:[^@/]*@)?[^:/?]+)(?::\d+)?", rf"\g<1>:{port}", url, count=1)


@pytest.mark.parametrize("port", ["54x2", "99999", "0", "-1"])
def test_every_url_whose_port_is_no_port_is_named_at_once_without_its_password(
    port: str,
) -> None:
    urls = _url_settings()
    assert {"ADMIN_DATABASE_URL", "ADMIN_REDIS_URL", "ADMIN_NEO4J_URL"} <= dict(urls).keys()
    _, problems = Settings.read_env({name: _with_port(url, port) for name, url in urls})
    named = {p.split(":")[0]: p for p in problems if "port" in p}
    assert sorted(named) == sorted(name for name, _ in urls)
    assert not any("secret" in p for p in problems)  # the examples' passwords


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://u:secretpw@db/admin?port=54x2",
        "postgresql+asyncpg://u:secretpw@/admin?host=db1:5432&host=db2:54x2",
        "postgresql+asyncpg://u:secretpw@/admin?host=db1:5432&host=db2",
        "postgresql+asyncpg://u:secretpw@db1:5432,db2:5433/admin",
    ],
)
def test_a_database_url_asyncpg_would_refuse_is_named_without_its_password(url: str) -> None:
    _, problems = Settings.read_env({"ADMIN_DATABASE_URL": url})
    assert [p.split(":")[0] for p in problems] == ["ADMIN_DATABASE_URL"]
    assert "secretpw" not in problems[0]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://u:p/#?[w@db.internal:5432/admin",  # SQLAlchemy reads it whole
        "postgresql+asyncpg://u:p@/admin?host=db1:5432&host=db2:5433",
        "postgresql+asyncpg://u:p@/admin?host=/var/run/postgresql",
        "postgresql+asyncpg://u:p@[::1]:5432/admin",
    ],
)
def test_every_database_url_asyncpg_takes_is_accepted(url: str) -> None:
    assert Settings.read_env({"ADMIN_DATABASE_URL": url})[1] == []


def test_a_url_whose_port_is_no_port_is_refused_in_a_settings_built_in_code() -> None:
    with pytest.raises(ConfigurationError) as refused:
        build_container(Settings(redis_url="redis://cache.internal:63x9/0"))
    assert refused.value.problems == [
        "ADMIN_REDIS_URL: has a port that is not a whole number from 1 to 65535"
    ]


def test_the_token_the_readme_has_operators_export_is_not_taken_for_a_mistyped_setting() -> None:
    """`export ADMIN_TOKEN=...` (the README, the embedded welcome) is the operator's bearer
    token for curl: production does not refuse to run a command in that shell."""
    _, problems = Settings.read_env({"ADMIN_MODE": "production", "ADMIN_TOKEN": "eyJ.x.y"})
    assert not [p for p in problems if p.startswith("ADMIN_TOKEN")]
    _, problems = Settings.read_env({"ADMIN_MODE": "production", "ADMIN_TOKN": "x"})
    assert "ADMIN_TOKN: not a setting of Admin Core" in problems


def _certificate_authority(path: Path) -> Path:
    """A self-signed CA certificate (PEM) at `path`."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.mark.parametrize(
    ("query", "ca"),
    [
        ("", None),
        ("ssl=require", None),
        ("sslmode=verify-full", "home"),
        ("ssl=verify_ca", "PGSSLROOTCERT"),
        ("sslmode=verify-full", None),
        ("ssl=verify-ca", "missing"),
        ("ssl=require", "missing"),
        ("ssl=true", None),
        ("ssl=bogus", None),
        ("application_name=admin", None),
        ("sslrootcert=/etc/ssl/ca.pem&ssl=verify-full", "home"),
        ("password=pw&target_session_attrs=read-write", None),
    ],
)
async def test_a_database_url_config_check_accepts_is_one_the_engine_can_try_to_reach(
    query: str, ca: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README: `config check` exits 0 once nothing is missing, and names every problem; a
    PostgreSQL URL with `?ssl=verify-full` needs the server's CA in PGSSLROOTCERT or
    `~/.postgresql/root.crt`. What it accepts, the engine tries to connect with (and, nothing
    listening, finds the database out of reach); what the engine cannot even try (a CA
    file that cannot be read, a parameter or mode asyncpg does not take) it names."""
    import socket

    from adapters.sql.engine import create_engine
    from adapters.sql.transaction import SqlTransactions
    from adapters.system.runtime import SystemClock, UlidGenerator
    from admin_core.kernel.errors import DatabaseUnavailable

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("PGSSLROOTCERT", raising=False)
    if ca == "home":
        (tmp_path / ".postgresql").mkdir()
        _certificate_authority(tmp_path / ".postgresql" / "root.crt")
    elif ca == "PGSSLROOTCERT":
        monkeypatch.setenv("PGSSLROOTCERT", str(_certificate_authority(tmp_path / "ca.pem")))
    elif ca == "missing":
        monkeypatch.setenv("PGSSLROOTCERT", str(tmp_path / "nowhere.pem"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+asyncpg://app:pw@127.0.0.1:{port}/admin?{query}".rstrip("?")
    _, problems = Settings.read_env({"ADMIN_DATABASE_URL": url})
    engine = create_engine(url, connect_timeout=2)
    try:  # an outage, or no try at all: asyncpg refusing its arguments (TypeError, ValueError)
        with pytest.raises((DatabaseUnavailable, TypeError, ValueError)) as failed:
            async with SqlTransactions(engine, SystemClock(), UlidGenerator())():
                pass
    finally:
        await engine.dispose()
    failure = failed.value
    causes: list[BaseException] = []
    cause: BaseException | None = failure
    while cause is not None and len(causes) < 10:
        causes.append(cause)
        cause = cause.__cause__ or getattr(cause, "orig", None)
    tried = isinstance(failure, DatabaseUnavailable) and any(
        isinstance(c, ConnectionRefusedError) for c in causes
    )
    assert (problems == []) is tried, (problems, causes)
    assert not any(":pw@" in problem for problem in problems)


def test_an_env_example_line_uncommented_as_it_is_keeps_the_default_it_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`.env.example`: a line that sets the value its `# default:` comment shows means the
    same uncommented as left out, from whatever directory the process runs in."""
    monkeypatch.chdir(tmp_path)
    fields = {f"ADMIN_{f.name.upper()}": f.name for f in dataclasses.fields(Settings)}
    shown = re.findall(
        r"^# default: (.+)\n#(ADMIN_[A-Z0-9_]+)=\1$",
        (ROOT / ".env.example").read_text(),
        re.MULTILINE,
    )
    assert len(shown) >= 10
    for value, name in shown:
        settings, problems = Settings.read_env({name: value})
        assert problems == [], (name, problems)
        assert getattr(settings, fields[name]) == getattr(Settings(), fields[name]), name
