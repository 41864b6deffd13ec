"""External-dependency health (SPEC §6.10, docs/adr/0054).

First the rules, on `DependencyMonitor` and `CheckExternalDependencies` with scripted probes
(no network): verdicts, the overall status, timeouts, caching, single flight, secrets,
permissions. Then the whole stack — settings, wiring, probes, HTTP and `adminctl health` —
against local fakes of every HTTP service (`tests/support/fake_*.py`), with the database in
memory and Neo4j and Redis unconfigured or on a closed port.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from adapters.memory.runtime import FixedClock
from admin_core.health.model import DependencyStatus, OverallStatus
from admin_core.health.monitor import ERROR_MAX, GRACE_SECONDS, DependencyMonitor
from admin_core.health.ports import DependencyDown, DependencyProbe, UnconfiguredProbe
from admin_core.health.use_cases import CheckExternalDependencies
from admin_core.kernel.errors import InsufficientPermission
from admin_core.kernel.principal import Permission, Principal, Scope
from entrypoints.cli.main import build_parser, execute
from entrypoints.container import Container, aclose, build_container
from entrypoints.container.health import secrets_of
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.support.fake_clerk import FakeClerk, running_fake_clerk
from tests.support.fake_flagsmith import FakeFlagsmith, running_fake_flagsmith
from tests.support.fake_razorpay import FakeRazorpay, fake_razorpay
from tests.support.fake_saas import (
    LANGFUSE_PUBLIC_KEY,
    LANGFUSE_SECRET_KEY,
    FakeSaas,
    running_fake,
)
from tests.support.fake_stripe import FakeStripe, fake_stripe

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
PATH = "/api/v1/admin/health/external-deps"
HTTP_SERVICES = (
    "flagsmith",
    "stripe",
    "razorpay",
    "clerk",
    "daily_co",
    "qdrant",
    "anthropic",
    "langfuse",
)


# --- the rules, with scripted probes ---------------------------------------------------------


class Scripted(DependencyProbe):
    """A probe that answers as told: ok, down (with a reason), after a delay, or never."""

    def __init__(
        self,
        name: str,
        *,
        down: str | None = None,
        delay: float = 0.0,
        raises: Exception | None = None,
        deaf: bool = False,
    ) -> None:
        self.name = name
        self.down, self.delay, self.raises, self.deaf = down, delay, raises, deaf
        self.calls = 0

    async def check(self) -> None:
        self.calls += 1
        if self.deaf:  # ignores cancellation (for a second): only the deadline stops waiting
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                try:
                    await asyncio.sleep(0.05)
                except asyncio.CancelledError:
                    continue
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.raises is not None:
            raise self.raises
        if self.down is not None:
            raise DependencyDown(self.down)


def monitor(
    *probes: DependencyProbe,
    timeout: float = 1.0,
    cache: float = 5.0,
    secrets: tuple[str, ...] = (),
    monotonic: Any = time.monotonic,
) -> DependencyMonitor:
    return DependencyMonitor(
        probes,
        clock=FixedClock(T0),
        timeout_seconds=timeout,
        cache_seconds=cache,
        secrets=secrets,
        monotonic=monotonic,
    )


async def test_each_dependency_gets_its_verdict_and_a_down_one_degrades_the_whole() -> None:
    health = await monitor(
        Scripted("postgres"), Scripted("stripe", down="credentials refused (HTTP 401)")
    ).current()
    assert health.status is OverallStatus.DEGRADED
    assert health.checked_at == T0
    assert list(health.dependencies) == ["postgres", "stripe"]
    ok, down = health.dependencies["postgres"], health.dependencies["stripe"]
    assert ok.status is DependencyStatus.OK
    assert ok.error is None
    assert isinstance(ok.latency_ms, int)
    assert down.status is DependencyStatus.DOWN
    assert down.error == "credentials refused (HTTP 401)"
    assert isinstance(down.latency_ms, int)


async def test_unconfigured_dependencies_are_not_configured_and_never_degrade() -> None:
    health = await monitor(Scripted("postgres"), UnconfiguredProbe("qdrant")).current()
    assert health.status is OverallStatus.OK
    qdrant = health.dependencies["qdrant"]
    assert (qdrant.status, qdrant.latency_ms, qdrant.error) == (
        DependencyStatus.NOT_CONFIGURED,
        None,
        None,
    )
    everything_unconfigured = await monitor(UnconfiguredProbe("redis")).current()
    assert everything_unconfigured.status is OverallStatus.OK


async def test_a_hanging_probe_is_down_at_its_timeout_and_delays_no_other() -> None:
    fast, hanging = Scripted("redis", delay=0.05), Scripted("daily_co", delay=3600)
    started = time.monotonic()
    health = await monitor(fast, hanging, timeout=0.5).current()
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 0.5 + GRACE_SECONDS
    assert health.dependencies["redis"].status is DependencyStatus.OK
    assert health.dependencies["daily_co"].status is DependencyStatus.DOWN
    assert health.dependencies["daily_co"].error == "no answer within 0.5 s"
    assert health.status is OverallStatus.DEGRADED


async def test_a_probe_that_ignores_cancellation_cannot_hold_the_answer() -> None:
    started = time.monotonic()
    health = await monitor(Scripted("neo4j", deaf=True), Scripted("redis"), timeout=0.3).current()
    assert time.monotonic() - started < 0.3 + GRACE_SECONDS + 0.2
    assert health.dependencies["neo4j"].status is DependencyStatus.DOWN
    assert health.dependencies["redis"].status is DependencyStatus.OK


async def test_an_unexpected_exception_is_down_named_by_its_class_only() -> None:
    leaky = Scripted("clerk", raises=RuntimeError("token sk_live_abc leaked in a message"))
    health = await monitor(leaky).current()
    assert health.dependencies["clerk"].error == "probe failed (RuntimeError)"


async def test_a_secret_in_an_error_is_masked_and_errors_are_short() -> None:
    secret = "sk_live_0123456789"
    health = await monitor(
        Scripted("stripe", down=f"refused key {secret}"),
        Scripted("langfuse", down="x" * 1000),
        secrets=(secret,),
    ).current()
    assert health.dependencies["stripe"].error == "refused key ***"
    assert len(health.dependencies["langfuse"].error or "") == 300


@given(st.integers(min_value=ERROR_MAX - 3, max_value=ERROR_MAX + 3))
async def test_an_error_is_shown_whole_up_to_its_limit_and_cut_to_it_beyond(length: int) -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(length))
    health = await monitor(Scripted("stripe", down=text)).current()
    error = health.dependencies["stripe"].error
    assert error == (text if length <= ERROR_MAX else text[: ERROR_MAX - 1] + "…")


async def test_every_secret_of_four_characters_or_more_is_masked_whole() -> None:
    """A secret that contains another is replaced whole, whichever is listed first; a
    shorter one (which would mask ordinary words) is left."""
    down = "keys abcd, abcdefgh and xyz refused"
    for secrets in (("abcd", "abcdefgh", "xyz"), ("abcdefgh", "abcd", "xyz")):
        health = await monitor(Scripted("stripe", down=down), secrets=secrets).current()
        assert health.dependencies["stripe"].error == "keys ***, *** and xyz refused"


def test_two_probes_of_one_name_make_no_monitor() -> None:
    with pytest.raises(ValueError, match="share a name"):
        monitor(Scripted("redis"), Scripted("redis"))


async def test_a_burst_of_100_callers_makes_one_probe_per_dependency() -> None:
    probes = [Scripted(name, delay=0.1) for name in ("postgres", "redis", "stripe")]
    checker = monitor(*probes, cache=0.0)  # no cache at all: the single flight alone
    answers = await asyncio.gather(*(checker.current() for _ in range(100)))
    assert [p.calls for p in probes] == [1, 1, 1]
    assert all(a is answers[0] for a in answers)


async def test_the_answer_is_reused_while_fresh_then_made_again() -> None:
    now = [100.0]
    probe = Scripted("redis")
    checker = monitor(probe, cache=5.0, monotonic=lambda: now[0])
    first = await checker.current()
    now[0] += 4.9
    assert await checker.current() is first
    assert probe.calls == 1
    now[0] += 0.2
    assert await checker.current() is not first
    assert probe.calls == 2


async def test_a_caller_that_goes_away_does_not_cancel_the_check() -> None:
    probe = Scripted("redis", delay=0.2)
    checker = monitor(probe)
    waiting = asyncio.create_task(checker.current())
    await asyncio.sleep(0.05)
    waiting.cancel()
    health = await checker.current()  # joins the same check, which went on
    assert probe.calls == 1
    assert health.dependencies["redis"].status is DependencyStatus.OK


def principal(scope: Scope, *permissions: Permission, tenant: str | None = None) -> Principal:
    return Principal(
        user_id="user_x",
        org_id="org_x",
        role="org:admin",
        tenant_id=tenant,
        scope=scope,
        permissions=frozenset(permissions),
    )


async def test_only_platform_scope_with_tenant_manage_may_check() -> None:
    use_case = CheckExternalDependencies(monitor(Scripted("postgres")))
    platform_admin = principal(Scope.PLATFORM, Permission.TENANT_MANAGE)
    assert (await use_case.execute(platform_admin)).status is OverallStatus.OK
    for refused in (
        principal(Scope.TENANT, Permission.TENANT_MANAGE, tenant="apollo-chennai"),
        principal(Scope.PLATFORM, Permission.AUDIT_READ),
        principal(Scope.NONE),
    ):
        with pytest.raises(InsufficientPermission):
            await use_case.execute(refused)


# --- the whole stack, against fakes ----------------------------------------------------------


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@dataclass
class Fakes:
    daily: FakeSaas
    qdrant: FakeSaas
    anthropic: FakeSaas
    langfuse: FakeSaas
    stripe: FakeStripe
    razorpay: FakeRazorpay
    clerk: FakeClerk
    flagsmith: FakeFlagsmith

    def settings(self, key_dir: Path, **changes: Any) -> Settings:
        """Every HTTP service on its fake; the database in memory; Neo4j and Redis unset."""
        values: dict[str, Any] = {
            "database_url": "memory://",
            "local_key_path": key_dir / "signing.pem",
            "flagsmith_api_url": self.flagsmith.api_url,
            "flagsmith_server_key": self.flagsmith.server_key,
            "flagsmith_admin_key": self.flagsmith.admin_key,
            "flagsmith_environment_key": self.flagsmith.environment_key,
            "stripe_api_key": self.stripe.api_key,
            "stripe_api_url": self.stripe.url,
            "razorpay_key_id": self.razorpay.key_id,
            "razorpay_key_secret": self.razorpay.key_secret,
            "razorpay_api_url": self.razorpay.url,
            "clerk_secret_key": self.clerk.secret_key,
            "clerk_api_url": self.clerk.url,
            "daily_api_key": self.daily.api_key,
            "daily_api_url": self.daily.api_url,
            "qdrant_url": self.qdrant.api_url,
            "qdrant_api_key": self.qdrant.api_key,
            "anthropic_api_key": self.anthropic.api_key,
            "anthropic_api_url": self.anthropic.api_url,
            "langfuse_url": self.langfuse.api_url,
            "langfuse_public_key": LANGFUSE_PUBLIC_KEY,
            "langfuse_secret_key": LANGFUSE_SECRET_KEY,
        }
        values.update(changes)
        return Settings(**values)

    def probe_calls(self) -> dict[str, int]:
        return {
            "flagsmith": self.flagsmith.calls_to("GET", "environment-document"),
            "stripe": len(self.stripe.calls_to("GET", "/v1/refunds")),
            "razorpay": len(self.razorpay.calls_to("GET", "/v1/payments")),
            "clerk": self.clerk.calls_of("GET"),
            "daily_co": self.daily.probe_calls,
            "qdrant": self.qdrant.probe_calls,
            "anthropic": self.anthropic.probe_calls,
            "langfuse": self.langfuse.probe_calls,
        }


@contextmanager
def all_fakes() -> Iterator[Fakes]:
    with ExitStack() as stack:
        yield Fakes(
            daily=stack.enter_context(running_fake("daily")),
            qdrant=stack.enter_context(running_fake("qdrant")),
            anthropic=stack.enter_context(running_fake("anthropic")),
            langfuse=stack.enter_context(running_fake("langfuse")),
            stripe=stack.enter_context(fake_stripe()),
            razorpay=stack.enter_context(fake_razorpay()),
            clerk=stack.enter_context(running_fake_clerk()),
            flagsmith=stack.enter_context(running_fake_flagsmith()),
        )


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    with all_fakes() as started:
        yield started


@asynccontextmanager
async def client(settings: Settings) -> AsyncIterator[tuple[AsyncTestClient[Any], Container]]:
    """The real app on `settings`, as a platform admin (`tenant:manage` on every tenant)."""
    container = build_container(settings)
    token = container.auth.token_issuer().mint(
        user_id="user_ops", org_id="org_platform", role="org:admin"
    )
    async with AsyncTestClient(create_app(container)) as http:
        http.headers["Authorization"] = f"Bearer {token}"
        yield http, container


async def get_health(settings: Settings) -> tuple[dict[str, Any], float]:
    async with client(settings) as (http, _):
        started = time.monotonic()
        response = await http.get(PATH)
        elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is True
    return body["data"], elapsed


def statuses(data: dict[str, Any]) -> dict[str, str]:
    return {name: d["status"] for name, d in data["dependencies"].items()}


async def test_every_configured_dependency_is_ok_and_the_unconfigured_ones_say_so(
    fakes: Fakes, tmp_path: Path
) -> None:
    data, _ = await get_health(fakes.settings(tmp_path))
    assert data["status"] == "ok"
    assert statuses(data) == {
        "postgres": "ok",
        "neo4j": "not_configured",
        "redis": "not_configured",
        **dict.fromkeys(HTTP_SERVICES, "ok"),
    }
    for name, d in data["dependencies"].items():
        assert d["error"] is None
        assert (d["latency_ms"] is None) == (d["status"] == "not_configured"), name
    assert fakes.probe_calls() == dict.fromkeys(HTTP_SERVICES, 1)
    datetime.fromisoformat(data["checked_at"])


def hang(fakes: Fakes, name: str) -> None:
    """Make one dependency's fake never answer (until it is stopped)."""
    if name == "stripe":
        fakes.stripe.hang_next(3600)
    elif name == "razorpay":
        fakes.razorpay.hang_next(3600)
    elif name == "flagsmith":
        fakes.flagsmith.hang_next(3600)
    else:
        {"daily_co": fakes.daily, "anthropic": fakes.anthropic}[name].hang()


@pytest.mark.parametrize("hanging", ["daily_co", "anthropic", "stripe", "flagsmith"])
async def test_one_dependency_hanging_forever_is_down_and_the_answer_comes_within_3_5_s(
    fakes: Fakes, tmp_path: Path, hanging: str
) -> None:
    hang(fakes, hanging)
    data, elapsed = await get_health(fakes.settings(tmp_path))  # the default 2 s timeout
    assert elapsed <= 3.5
    assert data["status"] == "degraded"
    expected = {"postgres": "ok", "neo4j": "not_configured", "redis": "not_configured"}
    expected |= {name: "down" if name == hanging else "ok" for name in HTTP_SERVICES}
    assert statuses(data) == expected
    assert data["dependencies"][hanging]["error"] == "no answer within 2 s"


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, "credentials refused (HTTP 401)"), (503, "server error (HTTP 503)")],
)
async def test_refused_credentials_and_server_errors_are_down(
    fakes: Fakes, tmp_path: Path, status: int, error: str
) -> None:
    for fake in (fakes.daily, fakes.qdrant, fakes.anthropic, fakes.langfuse):
        fake.fail(status)
    fakes.stripe.fail_next(status, path="/v1/refunds")
    fakes.razorpay.fail_next(status, path="/v1/payments")
    fakes.clerk.fail_next(status)
    fakes.flagsmith.fail_next(status, path="environment-document")
    data, _ = await get_health(fakes.settings(tmp_path))
    assert data["status"] == "degraded"
    for name in HTTP_SERVICES:
        assert data["dependencies"][name] | {"latency_ms": 0} == {
            "status": "down",
            "latency_ms": 0,
            "error": error,
        }, name


async def test_wrong_keys_are_down_and_no_error_shows_a_configured_secret(
    fakes: Fakes, tmp_path: Path
) -> None:
    wrong = {
        "flagsmith_server_key": "ser.wrong_flagsmith_server_key",
        "stripe_api_key": "sk_test_wrong_stripe_key_4242",
        "razorpay_key_secret": "wrong_razorpay_secret_99",
        "clerk_secret_key": "sk_test_wrong_clerk_key_77",
        "daily_api_key": "wrong_daily_key_55",
        "qdrant_api_key": "wrong_qdrant_key_66",
        "anthropic_api_key": "sk-ant-wrong-key-88",
        "langfuse_secret_key": "sk-lf-wrong-secret-33",
        # Credentials in URLs, on ports nothing listens on.
        "redis_url": f"redis://:redis_password_s3cr3t@127.0.0.1:{closed_port()}/0",
        "neo4j_url": f"bolt://127.0.0.1:{closed_port()}",
        "neo4j_user": "neo4j",
        "neo4j_password": "neo4j_password_s3cr3t",
    }
    settings = fakes.settings(tmp_path, **wrong)
    async with client(settings) as (http, _):
        response = await http.get(PATH)
    data = response.json()["data"]
    assert data["status"] == "degraded"
    assert set(statuses(data).values()) == {"ok", "down"}
    assert statuses(data)["postgres"] == "ok"
    assert {n for n, s in statuses(data).items() if s == "down"} == {
        "neo4j",
        "redis",
        *HTTP_SERVICES,
    }
    configured = secrets_of(settings)
    assert "redis_password_s3cr3t" in configured
    assert "sk-lf-wrong-secret-33" in configured
    texts = [d["error"] for d in data["dependencies"].values() if d["error"]]
    assert texts
    for secret in configured:
        assert all(secret not in text for text in texts), secret
        assert secret not in response.text, secret


async def test_a_closed_port_is_down_for_every_network_dependency(
    fakes: Fakes, tmp_path: Path
) -> None:
    nowhere = f"http://127.0.0.1:{closed_port()}"
    settings = fakes.settings(
        tmp_path,
        health_timeout_seconds=1.0,
        flagsmith_api_url=f"{nowhere}/api/v1/",
        stripe_api_url=nowhere,
        razorpay_api_url=nowhere,
        clerk_api_url=f"{nowhere}/v1",
        daily_api_url=f"{nowhere}/v1",
        qdrant_url=nowhere,
        anthropic_api_url=nowhere,
        langfuse_url=nowhere,
        redis_url=f"redis://127.0.0.1:{closed_port()}/0",
        neo4j_url=f"bolt://127.0.0.1:{closed_port()}",
    )
    data, elapsed = await get_health(settings)
    assert elapsed < 1.0 + GRACE_SECONDS + 0.5
    assert statuses(data) == {"postgres": "ok"} | dict.fromkeys(
        ("neo4j", "redis", *HTTP_SERVICES), "down"
    )
    for name in ("redis", *HTTP_SERVICES):
        assert (data["dependencies"][name]["error"] or "").startswith("unreachable ("), name
    assert fakes.probe_calls() == dict.fromkeys(HTTP_SERVICES, 0)


async def test_100_concurrent_requests_make_one_probe_per_dependency(
    fakes: Fakes, tmp_path: Path
) -> None:
    for fake in (fakes.daily, fakes.qdrant, fakes.anthropic, fakes.langfuse):
        fake.slow(0.3)  # the first check is still running while the others arrive
    async with client(fakes.settings(tmp_path)) as (http, _):
        responses = await asyncio.gather(*(http.get(PATH) for _ in range(100)))
        assert {r.status_code for r in responses} == {200}
        assert len({json.dumps(r.json()["data"]) for r in responses}) == 1
        assert fakes.probe_calls() == dict.fromkeys(HTTP_SERVICES, 1)
        # Within the cache's 5 s, a later request probes nothing either.
        assert (await http.get(PATH)).status_code == 200
        assert fakes.probe_calls() == dict.fromkeys(HTTP_SERVICES, 1)


async def test_the_cache_seconds_and_timeout_come_from_the_settings(
    fakes: Fakes, tmp_path: Path
) -> None:
    # A timeout well above a loaded machine's answer times, and a slow answer well above it.
    fakes.daily.slow(3.0)
    settings = fakes.settings(tmp_path, health_cache_seconds=0.0, health_timeout_seconds=1.0)
    async with client(settings) as (http, _):
        first = (await http.get(PATH)).json()["data"]
        fakes.daily.heal()
        second = (await http.get(PATH)).json()["data"]
    assert first["dependencies"]["daily_co"]["error"] == "no answer within 1 s"
    assert second["dependencies"]["daily_co"]["status"] == "ok"
    assert fakes.probe_calls()["stripe"] == 2


async def test_only_platform_admins_may_read_it(tmp_path: Path) -> None:
    settings = Settings(database_url="memory://", local_key_path=tmp_path / "signing.pem")
    async with client(settings) as (http, container):
        issuer = container.auth.token_issuer()
        coordinator = issuer.mint(user_id="u1", org_id="org_platform", role="org:coordinator")
        tenant_admin = issuer.mint(user_id="u2", org_id="org_apollo_chennai", role="org:admin")
        super_admin = issuer.mint(user_id="u3", org_id="org_platform", role="org:super_admin")
        answers = {
            name: (await http.get(PATH, headers={"Authorization": f"Bearer {token}"}))
            for name, token in (
                ("coordinator", coordinator),
                ("tenant admin", tenant_admin),
                ("super admin", super_admin),
            )
        }
        anonymous = await http.get(PATH, headers={"Authorization": ""})
    assert {n: r.status_code for n, r in answers.items()} == {
        "coordinator": 403,
        "tenant admin": 403,
        "super admin": 200,
    }
    assert answers["coordinator"].json()["errors"][0]["code"] == "AUTH_INSUFFICIENT_PERMISSION"
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["code"] == "AUTH_HEADER_MISSING"


async def run_cli(settings: Settings, argv: list[str], capsys: pytest.CaptureFixture[str]) -> int:
    container = build_container(settings)
    try:
        capsys.readouterr()
        return await execute(build_parser().parse_args(argv), container)
    finally:
        await aclose(container)


async def test_adminctl_health_prints_the_http_data_and_exits_1_when_degraded(
    fakes: Fakes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = replace(fakes.settings(tmp_path), health_cache_seconds=0.0)
    assert await run_cli(settings, ["--json", "health"], capsys) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["status"] == "ok"
    assert list(printed) == ["status", "checked_at", "dependencies"]
    assert statuses(printed)["anthropic"] == "ok"

    fakes.anthropic.fail(401)
    assert await run_cli(settings, ["--json", "health"], capsys) == 1
    printed = json.loads(capsys.readouterr().out)
    assert printed["status"] == "degraded"
    assert printed["dependencies"]["anthropic"]["error"] == "credentials refused (HTTP 401)"

    assert await run_cli(settings, ["health"], capsys) == 1
    table = capsys.readouterr().out
    assert "anthropic" in table
    assert "credentials refused (HTTP 401)" in table
    assert "degraded" in table
