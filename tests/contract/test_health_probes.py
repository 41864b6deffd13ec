"""The `DependencyProbe` contract (SPEC §6.10), run against every probe of every technology:
a dependency that answers is ok; one with nothing listening, or refusing our credentials, is
`DependencyDown` with a reason that names no secret.

Probes under the contract (`LIVE`): the database's on process memory, SQLite and the real
PostgreSQL (marked `postgres`); Neo4j and Redis on the real services (marked `neo4j`,
`redis`); Stripe on stripe-mock (marked `stripe`) and on its fake; Razorpay, Clerk and
Flagsmith on their fakes; Daily, Qdrant, Anthropic and Langfuse on `tests/support/fake_saas.py`.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from adapters.anthropic.health import AnthropicDependencyProbe
from adapters.clerk.health import ClerkDependencyProbe
from adapters.daily.health import DailyDependencyProbe
from adapters.flagsmith.health import FlagsmithDependencyProbe
from adapters.langfuse.health import LangfuseDependencyProbe
from adapters.memory.health import InMemoryDependencyProbe
from adapters.neo4j.health import Neo4jDependencyProbe
from adapters.qdrant.health import QdrantDependencyProbe
from adapters.razorpay.health import RazorpayDependencyProbe
from adapters.redis.health import RedisDependencyProbe
from adapters.sql.engine import create_engine
from adapters.sql.health import SqlDependencyProbe
from adapters.stripe.health import StripeDependencyProbe
from admin_core.health.ports import DependencyDown, DependencyProbe
from tests.support.fake_clerk import running_fake_clerk
from tests.support.fake_flagsmith import running_fake_flagsmith
from tests.support.fake_http import FakeServer, Reply
from tests.support.fake_razorpay import fake_razorpay
from tests.support.fake_saas import running_fake
from tests.support.fake_stripe import fake_stripe
from tests.support.proxy import FaultyProxy
from tests.support.services import service_url

TIMEOUT = 2.0


@dataclass
class ProbeUnderTest:
    probe: DependencyProbe
    #: The secrets it was given (none may appear in a reason).
    secrets: tuple[str, ...] = ()


Factory = Callable[[Path, str | None], AbstractAsyncContextManager[ProbeUnderTest]]


async def _close(probe: Any) -> None:
    close = getattr(probe, "aclose", None)
    if close is not None:
        await close()


@asynccontextmanager
async def _closing(probe: DependencyProbe, *secrets: str) -> AsyncIterator[ProbeUnderTest]:
    try:
        yield ProbeUnderTest(probe, tuple(s for s in secrets if s))
    finally:
        await _close(probe)


# --- live dependencies: the probe says ok ----------------------------------------------------


@asynccontextmanager
async def memory(_: Path, __: str | None) -> AsyncIterator[ProbeUnderTest]:
    yield ProbeUnderTest(InMemoryDependencyProbe())


@asynccontextmanager
async def sqlite(tmp: Path, _: str | None) -> AsyncIterator[ProbeUnderTest]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp / 'health.db'}")
    try:
        yield ProbeUnderTest(SqlDependencyProbe(engine))
    finally:
        await engine.dispose()


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(
        parts._replace(netloc=f"{parts.username}:{password}@{parts.hostname}:{parts.port}")
    )


@asynccontextmanager
async def postgres(_: Path, wrong: str | None) -> AsyncIterator[ProbeUnderTest]:
    url = service_url("POSTGRES")
    if wrong:
        url = _with_password(url, wrong)
    engine = create_engine(url)
    try:
        yield ProbeUnderTest(SqlDependencyProbe(engine), (url, urlsplit(url).password or ""))
    finally:
        await engine.dispose()


@asynccontextmanager
async def neo4j(_: Path, __: str | None) -> AsyncIterator[ProbeUnderTest]:
    probe = Neo4jDependencyProbe.connect(service_url("NEO4J"), None, None, timeout_seconds=TIMEOUT)
    async with _closing(probe) as under_test:
        yield under_test


@asynccontextmanager
async def redis(_: Path, __: str | None) -> AsyncIterator[ProbeUnderTest]:
    probe = RedisDependencyProbe(url=service_url("REDIS"), timeout_seconds=TIMEOUT)
    async with _closing(probe) as under_test:
        yield under_test


@asynccontextmanager
async def stripe_mock(_: Path, __: str | None) -> AsyncIterator[ProbeUnderTest]:
    key = "sk_test_123"  # stripe-mock takes any well-formed test key
    probe = StripeDependencyProbe(
        api_key=key, api_url=service_url("STRIPE"), timeout_seconds=TIMEOUT
    )
    async with _closing(probe, key) as under_test:
        yield under_test


@asynccontextmanager
async def stripe_fake(_: Path, wrong: str | None) -> AsyncIterator[ProbeUnderTest]:
    with fake_stripe() as fake:
        key = wrong or fake.api_key
        probe = StripeDependencyProbe(api_key=key, api_url=fake.url, timeout_seconds=TIMEOUT)
        async with _closing(probe, key, fake.api_key) as under_test:
            yield under_test
        assert len(fake.calls_to("GET", "/v1/refunds")) == 1


@asynccontextmanager
async def razorpay_fake(_: Path, wrong: str | None) -> AsyncIterator[ProbeUnderTest]:
    with fake_razorpay() as fake:
        secret = wrong or fake.key_secret
        probe = RazorpayDependencyProbe(
            key_id=fake.key_id, key_secret=secret, api_url=fake.url, timeout_seconds=TIMEOUT
        )
        async with _closing(probe, secret, fake.key_secret) as under_test:
            yield under_test
        assert len(fake.calls_to("GET", "/v1/payments")) == 1


@asynccontextmanager
async def clerk_fake(_: Path, wrong: str | None) -> AsyncIterator[ProbeUnderTest]:
    with running_fake_clerk() as fake:
        key = wrong or fake.secret_key
        probe = ClerkDependencyProbe(secret_key=key, api_url=fake.url, timeout_seconds=TIMEOUT)
        async with _closing(probe, key, fake.secret_key) as under_test:
            yield under_test


@asynccontextmanager
async def flagsmith_fake(_: Path, wrong: str | None) -> AsyncIterator[ProbeUnderTest]:
    with running_fake_flagsmith() as fake:
        key = f"ser.{wrong}" if wrong else fake.server_key
        probe = FlagsmithDependencyProbe(
            server_key=key, api_url=fake.api_url, timeout_seconds=TIMEOUT
        )
        async with _closing(probe, key, fake.server_key) as under_test:
            yield under_test
        assert fake.calls_to("GET", "environment-document") == 1


def _saas(service: str, build: Callable[[str, str | None], DependencyProbe]) -> Factory:
    @asynccontextmanager
    async def factory(_: Path, wrong: str | None) -> AsyncIterator[ProbeUnderTest]:
        with running_fake(service) as fake:
            key = wrong or fake.api_key
            async with _closing(build(fake.api_url, key), key or "", fake.api_key or "") as ut:
                yield ut
            assert fake.probe_calls == 1

    return factory


daily_fake = _saas(
    "daily",
    lambda url, key: DailyDependencyProbe(api_key=key or "", api_url=url, timeout_seconds=TIMEOUT),
)
qdrant_fake = _saas(
    "qdrant",
    lambda url, key: QdrantDependencyProbe(url=url, api_key=key, timeout_seconds=TIMEOUT),
)
anthropic_fake = _saas(
    "anthropic",
    lambda url, key: AnthropicDependencyProbe(
        api_key=key or "", api_url=url, timeout_seconds=TIMEOUT
    ),
)


def _langfuse(url: str, key: str | None) -> LangfuseDependencyProbe:
    """`key`: the fake's `public:secret`, or a wrong one."""
    public, _, secret = (key or "").partition(":")
    return LangfuseDependencyProbe(
        url=url, timeout_seconds=TIMEOUT, public_key=public, secret_key=secret or public
    )


langfuse_fake = _saas("langfuse", _langfuse)

LIVE: dict[str, tuple[Factory, list[pytest.MarkDecorator]]] = {
    "memory": (memory, []),
    "sqlite": (sqlite, []),
    "postgres": (postgres, [pytest.mark.postgres]),
    "neo4j": (neo4j, [pytest.mark.neo4j]),
    "redis": (redis, [pytest.mark.redis]),
    "stripe-mock": (stripe_mock, [pytest.mark.stripe]),
    "stripe-fake": (stripe_fake, []),
    "razorpay-fake": (razorpay_fake, []),
    "clerk-fake": (clerk_fake, []),
    "flagsmith-fake": (flagsmith_fake, []),
    "daily-fake": (daily_fake, []),
    "qdrant-fake": (qdrant_fake, []),
    "anthropic-fake": (anthropic_fake, []),
    "langfuse-fake": (langfuse_fake, []),
}
#: Those that take credentials a test can get wrong.
WITH_CREDENTIALS = (
    "postgres",
    "stripe-fake",
    "razorpay-fake",
    "clerk-fake",
    "flagsmith-fake",
    "daily-fake",
    "qdrant-fake",
    "anthropic-fake",
    "langfuse-fake",
)


def _params(names: Iterator[str] | tuple[str, ...] | list[str]) -> list[Any]:
    return [pytest.param(n, marks=LIVE[n][1], id=n) for n in names]


@pytest.mark.parametrize("backend", _params(list(LIVE)))
async def test_a_dependency_that_answers_is_ok(backend: str, tmp_path: Path) -> None:
    async with LIVE[backend][0](tmp_path, None) as under_test:
        await under_test.probe.check()


WRONG = "wrong_s3cr3t_for_the_test_91"


@pytest.mark.parametrize("backend", _params(WITH_CREDENTIALS))
async def test_refused_credentials_are_down_and_the_reason_names_no_secret(
    backend: str, tmp_path: Path
) -> None:
    async with LIVE[backend][0](tmp_path, WRONG) as under_test:
        with pytest.raises(DependencyDown) as raised:
            await under_test.probe.check()
    reason = str(raised.value)
    assert reason.startswith("credentials refused ("), reason
    for secret in (*under_test.secrets, WRONG):
        assert secret not in reason


# --- nothing listening: the probe says down --------------------------------------------------


@contextmanager
def closed_port() -> Iterator[int]:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    yield port


SECRET = "s3cr3t_never_shown_42"
UNREACHABLE: dict[str, Callable[[str], Any]] = {
    "postgres": lambda hp: SqlDependencyProbe(
        create_engine(f"postgresql+asyncpg://admin_app:{SECRET}@{hp}/admin_core")
    ),
    "neo4j": lambda hp: Neo4jDependencyProbe.connect(
        f"bolt://{hp}", "neo4j", SECRET, timeout_seconds=TIMEOUT
    ),
    "redis": lambda hp: RedisDependencyProbe(
        url=f"redis://:{SECRET}@{hp}/0", timeout_seconds=TIMEOUT
    ),
    "stripe": lambda hp: StripeDependencyProbe(
        api_key=SECRET, api_url=f"http://{hp}", timeout_seconds=TIMEOUT
    ),
    "razorpay": lambda hp: RazorpayDependencyProbe(
        key_id="rzp_test_x", key_secret=SECRET, api_url=f"http://{hp}", timeout_seconds=TIMEOUT
    ),
    "clerk": lambda hp: ClerkDependencyProbe(
        secret_key=SECRET, api_url=f"http://{hp}/v1", timeout_seconds=TIMEOUT
    ),
    "flagsmith": lambda hp: FlagsmithDependencyProbe(
        server_key=f"ser.{SECRET}", api_url=f"http://{hp}/api/v1/", timeout_seconds=TIMEOUT
    ),
    "daily_co": lambda hp: DailyDependencyProbe(
        api_key=SECRET, api_url=f"http://{hp}/v1", timeout_seconds=TIMEOUT
    ),
    "qdrant": lambda hp: QdrantDependencyProbe(
        url=f"http://{hp}", api_key=SECRET, timeout_seconds=TIMEOUT
    ),
    "anthropic": lambda hp: AnthropicDependencyProbe(
        api_key=SECRET, api_url=f"http://{hp}", timeout_seconds=TIMEOUT
    ),
    "langfuse": lambda hp: LangfuseDependencyProbe(url=f"http://{hp}", timeout_seconds=TIMEOUT),
}


#: Probes that speak no HTTP, and Qdrant, whose readiness answer is text.
SQL_AND_DRIVERS = ("postgres", "neo4j", "redis", "qdrant")


@pytest.mark.parametrize("technology", list(UNREACHABLE))
async def test_nothing_listening_is_down_unreachable_and_names_no_secret(technology: str) -> None:
    with closed_port() as port:
        probe = UNREACHABLE[technology](f"127.0.0.1:{port}")
        engine = getattr(probe, "_engine", None)
        try:
            with pytest.raises(DependencyDown) as raised:
                await probe.check()
        finally:
            await _close(probe)
            if engine is not None:
                await engine.dispose()
    reason = str(raised.value)
    assert reason.startswith("unreachable ("), reason
    assert SECRET not in reason
    assert probe.name == technology


async def test_langfuse_without_status_ok_is_down(tmp_path: Path) -> None:
    """Langfuse's health answers 200 only with `status: OK`; anything else is not healthy."""
    with running_fake("langfuse") as fake:
        fake.fail(503)
        probe = LangfuseDependencyProbe(url=fake.url, timeout_seconds=TIMEOUT)
        try:
            with pytest.raises(DependencyDown, match=r"server error \(HTTP 503\)"):
                await probe.check()
        finally:
            await probe.aclose()


PORTAL_PAGE = "<!doctype html><html><body><h1>Sign in to the network</h1></body></html>"
#: Bodies of a 200 that no service's API answers, with their content types.
NOT_THE_SERVICE = {
    "a web page": (PORTAL_PAGE, "text/html"),
    "JSON nested deeper than a parser goes": ("[" * 100_000 + "]" * 100_000, "application/json"),
}


@pytest.mark.parametrize("body", list(NOT_THE_SERVICE))
@pytest.mark.parametrize("technology", [t for t in UNREACHABLE if t not in SQL_AND_DRIVERS])
async def test_a_200_that_is_not_the_services_api_is_down_not_the_service(
    technology: str, body: str
) -> None:
    """A captive portal, a proxy or a wrong base URL answering every path 200 with a web page,
    or with a JSON document no parser reads, is not the JSON API the probe calls (Qdrant's
    readiness is text: it is not asked)."""
    text, content_type = NOT_THE_SERVICE[body]
    server = FakeServer(lambda _: Reply(200, text, content_type=content_type), name="web-page")
    hp = server.url.removeprefix("http://")
    probe = UNREACHABLE[technology](hp)
    try:
        with pytest.raises(DependencyDown) as raised:
            await probe.check()
    finally:
        await _close(probe)
        server.stop()
    assert str(raised.value).startswith("unexpected answer ("), str(raised.value)


#: The probes that keep a connection open between checks, each built on a proxied URL.
KEEPING: dict[str, tuple[str, Callable[[str], Any], list[pytest.MarkDecorator]]] = {
    "postgres": (
        "POSTGRES",
        lambda url: SqlDependencyProbe(create_engine(url)),
        [pytest.mark.postgres],
    ),
    "neo4j": (
        "NEO4J",
        lambda url: Neo4jDependencyProbe.connect(url, None, None, timeout_seconds=TIMEOUT),
        [pytest.mark.neo4j],
    ),
    "redis": (
        "REDIS",
        lambda url: RedisDependencyProbe(url=url, timeout_seconds=TIMEOUT),
        [pytest.mark.redis],
    ),
}


@pytest.mark.parametrize(
    "technology", [pytest.param(name, marks=marks) for name, (_, _, marks) in KEEPING.items()]
)
async def test_a_kept_connection_the_server_dropped_is_not_reported_down(technology: str) -> None:
    """The dependency answers; only the connection the probe kept from its last check was
    closed (a server's idle timeout, a restart, a proxy in between): the next check opens
    another and says ok, instead of one false "down" that `adminctl health` and a monitor
    would report. A dependency that refuses every connection is still down."""
    key, make, _ = KEEPING[technology]
    url = service_url(key)
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    with FaultyProxy(parts.hostname, parts.port) as proxy:
        probe = make(proxy.url(url))
        engine = getattr(probe, "_engine", None)
        try:
            await probe.check()
            proxy.cut()
            await asyncio.sleep(0.05)
            await probe.check()
            proxy.refuse()
            with pytest.raises(DependencyDown):
                await probe.check()
        finally:
            await _close(probe)
            if engine is not None:
                await engine.dispose()
