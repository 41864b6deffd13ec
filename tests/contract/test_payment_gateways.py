"""The `PaymentGateway` contract (SPEC §6.4), run against every gateway; then what is proper to
each adapter, and the rules of the fakes themselves.

Gateways under the contract (`GATEWAYS`):
- `stripe-mock`: `StripePaymentGateway` on stripe-mock (`make services`; marked `stripe`).
  stripe-mock is stateless — it stores no refund, replays no key, knows every payment and fails on
  nothing — so only the happy path, the request's validity (stripe-mock checks each request
  against Stripe's OpenAPI) and the credentials apply; the other tests skip, saying so.
- `stripe-fake`: `StripePaymentGateway` on `tests/support/fake_stripe.py`.
- `razorpay-fake`: `RazorpayPaymentGateway` on `tests/support/fake_razorpay.py`.
- `sandbox`: `SandboxPaymentGateway` on the SQLite ledger (`SqlSandboxLedger`).
- `sandbox-memory`: `SandboxPaymentGateway` on the in-memory ledger (`InMemorySandboxLedger`),
  the one the `memory://` embedded mode uses.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from adapters.razorpay.refunds import RazorpayPaymentGateway, receipt_for
from adapters.sandbox.gateway import SandboxPaymentGateway, SandboxTransaction
from adapters.stripe.refunds import StripePaymentGateway
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.kernel.transaction import Transactions
from admin_core.payments.model import Refund, RefundStatus, refund_key
from admin_core.payments.ports import (
    GatewayFailureReplayed,
    GatewayRefused,
    GatewayUnavailable,
    PaymentGateway,
    RefundRequest,
)
from tests.support.databases import database
from tests.support.fake_http import FakeServer, Reply
from tests.support.fake_razorpay import FakeRazorpay, fake_razorpay, razorpay_gateway
from tests.support.fake_stripe import FakeStripe, fake_stripe, stripe_gateway
from tests.support.services import service_url

# The Stripe SDK (16.1) hands httpx its form body as `data=<str>`, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

#: Each HTTP attempt's timeout in these tests, and the Stripe SDK's own retries.
TIMEOUT = 1.0
STRIPE_RETRIES = 1
#: The Stripe SDK's first wait before a retry is at most 0.5 s (then doubling).
STRIPE_BACKOFF = 0.5
#: Slack for scheduling on a busy machine.
SLACK = 1.0

STATEFUL = "stateful"  # keeps refunds and keys, knows which payments exist
FAULTS = "faults"  # can fail, hang, answer late, leave a refund pending
CREDENTIALS = "credentials"  # can be called with wrong credentials
KNOWS_PAYMENTS = "knows_payments"  # refuses a payment it never took


class ProviderControls(Protocol):
    """What a fake provider lets a test steer (both fakes have these)."""

    refunds_created: int

    def fail_next(self, status: int, times: int = 1) -> None: ...
    def hang_next(self, seconds: float, times: int = 1) -> None: ...
    def slow_next(self, seconds: float, times: int = 1) -> None: ...
    def pending_next(self, times: int = 1) -> None: ...
    def confirm(self, refund_id: str) -> None: ...
    def fail_refund(self, refund_id: str) -> None: ...
    def clear_faults(self) -> None: ...


@dataclass
class GatewayUnderTest:
    name: str
    adapter: PaymentGateway
    #: What the refunds it makes say in `provider`.
    provider: str
    currency: str
    #: A captured payment of this amount the provider will refund; returns its reference.
    new_payment: Callable[[int], str]
    #: A payment reference the provider does not know.
    unknown_payment: Callable[[], str]
    #: HTTP attempts per call (1 + the adapter's own retries).
    attempts: int
    #: The longest a call may take when every attempt times out.
    worst_case_seconds: float
    capabilities: frozenset[str]
    #: Why a capability is missing (the skip reason).
    missing: dict[str, str] = field(default_factory=dict)
    fake: ProviderControls | None = None
    wrong_credentials: Callable[[], AbstractAsyncContextManager[PaymentGateway]] | None = None

    def needs(self, *capabilities: str) -> None:
        for capability in capabilities:
            if capability not in self.capabilities:
                pytest.skip(
                    self.missing.get(capability, f"{self.name} cannot be tested for {capability}")
                )

    @property
    def controls(self) -> ProviderControls:
        assert self.fake is not None
        return self.fake

    def created(self) -> int:
        return self.controls.refunds_created


def _token(n: int = 14) -> str:
    return secrets.token_hex(n)[:n]


def request_for(
    payment_ref: str,
    amount: int,
    currency: str,
    *,
    session: str | None = None,
    attempt: int = 1,
    reason: str = "patient cancelled",
) -> RefundRequest:
    session_id = session or f"ses_{_token(10)}"
    return RefundRequest(
        key=refund_key(session_id, attempt),
        session_id=session_id,
        payment_ref=payment_ref,
        amount_minor=amount,
        currency=currency,
        reason=reason,
    )


@asynccontextmanager
async def _on_stripe_mock() -> AsyncIterator[GatewayUnderTest]:
    url = service_url("STRIPE")
    adapter = StripePaymentGateway(
        "sk_test_123", api_base=url, timeout_seconds=TIMEOUT, max_network_retries=STRIPE_RETRIES
    )

    @asynccontextmanager
    async def wrong_credentials() -> AsyncIterator[PaymentGateway]:
        # stripe-mock accepts any key that looks like a test-mode secret key
        bad = StripePaymentGateway("not-a-stripe-key", api_base=url, timeout_seconds=TIMEOUT)
        try:
            yield bad
        finally:
            await bad.aclose()

    stateless = (
        "stripe-mock is stateless: it stores no refund, replays no idempotency key and knows "
        "every payment (needs the fake)"
    )
    try:
        yield GatewayUnderTest(
            name="stripe-mock",
            adapter=adapter,
            provider="stripe",
            currency="USD",  # stripe-mock's fixtures are in usd
            new_payment=lambda amount: f"pi_{_token(24)}",
            unknown_payment=lambda: f"pi_{_token(24)}",
            attempts=STRIPE_RETRIES + 1,
            worst_case_seconds=(STRIPE_RETRIES + 1) * TIMEOUT + STRIPE_BACKOFF + SLACK,
            capabilities=frozenset({CREDENTIALS}),
            missing={
                STATEFUL: stateless,
                FAULTS: "stripe-mock cannot be made to fail, hang or leave a refund pending",
            },
            wrong_credentials=wrong_credentials,
        )
    finally:
        await adapter.aclose()


@asynccontextmanager
async def _on_fake_stripe() -> AsyncIterator[GatewayUnderTest]:
    with fake_stripe() as fake:
        adapter = stripe_gateway(fake, timeout_seconds=TIMEOUT, max_network_retries=STRIPE_RETRIES)

        @asynccontextmanager
        async def wrong_credentials() -> AsyncIterator[PaymentGateway]:
            bad = stripe_gateway(fake, api_key="sk_test_not_the_right_key")
            try:
                yield bad
            finally:
                await bad.aclose()

        def new_payment(amount: int) -> str:
            return fake.add_payment(f"pi_{_token(24)}", amount, "usd").id

        try:
            yield GatewayUnderTest(
                name="stripe-fake",
                adapter=adapter,
                provider="stripe",
                currency="USD",
                new_payment=new_payment,
                unknown_payment=lambda: f"pi_{_token(24)}",
                attempts=STRIPE_RETRIES + 1,
                worst_case_seconds=(STRIPE_RETRIES + 1) * TIMEOUT + STRIPE_BACKOFF + SLACK,
                capabilities=frozenset({STATEFUL, FAULTS, CREDENTIALS, KNOWS_PAYMENTS}),
                fake=fake,
                wrong_credentials=wrong_credentials,
            )
        finally:
            await adapter.aclose()


@asynccontextmanager
async def _on_fake_razorpay() -> AsyncIterator[GatewayUnderTest]:
    with fake_razorpay() as fake:
        adapter = razorpay_gateway(fake, timeout_seconds=TIMEOUT)

        @asynccontextmanager
        async def wrong_credentials() -> AsyncIterator[PaymentGateway]:
            bad = razorpay_gateway(fake, key_secret="not-the-secret")
            try:
                yield bad
            finally:
                await bad.aclose()

        def new_payment(amount: int) -> str:
            return fake.add_payment(f"pay_{_token(14)}", amount, "INR").id

        try:
            yield GatewayUnderTest(
                name="razorpay-fake",
                adapter=adapter,
                provider="razorpay",
                currency="INR",
                new_payment=new_payment,
                unknown_payment=lambda: f"pay_{_token(14)}",
                attempts=1,
                worst_case_seconds=TIMEOUT + SLACK,
                capabilities=frozenset({STATEFUL, FAULTS, CREDENTIALS, KNOWS_PAYMENTS}),
                fake=fake,
                wrong_credentials=wrong_credentials,
            )
        finally:
            await adapter.aclose()


def _sandbox(name: str, transactions: Transactions[SandboxTransaction]) -> GatewayUnderTest:
    """The embedded mode's sandbox over `transactions`: stateful, never down, and it knows no
    payments (any reference is one it took)."""
    return GatewayUnderTest(
        name=name,
        adapter=SandboxPaymentGateway(transactions, SystemClock(), UlidGenerator()),
        provider="sandbox",
        currency="INR",
        new_payment=lambda amount: f"sbx_pay_{_token(14)}",
        unknown_payment=lambda: f"sbx_pay_{_token(14)}",
        attempts=1,
        worst_case_seconds=SLACK,
        capabilities=frozenset({STATEFUL}),
        missing={
            FAULTS: "the sandbox moves no money and has no faults to switch on",
            CREDENTIALS: "the sandbox takes no credentials",
            KNOWS_PAYMENTS: "the sandbox knows no payments: any reference is one it took",
        },
    )


@asynccontextmanager
async def _on_sandbox() -> AsyncIterator[GatewayUnderTest]:
    """The sandbox on the SQLite ledger (`SqlSandboxLedger`)."""
    with tempfile.TemporaryDirectory(prefix="sandbox-gateway-") as tmp:
        async with database("sqlite", Path(tmp)) as transactions:
            yield _sandbox("sandbox", transactions)


@asynccontextmanager
async def _on_sandbox_in_memory() -> AsyncIterator[GatewayUnderTest]:
    """The sandbox on the in-memory ledger (`InMemorySandboxLedger`, the `memory://` mode's)."""
    with tempfile.TemporaryDirectory(prefix="sandbox-gateway-") as tmp:
        async with database("memory", Path(tmp)) as transactions:
            yield _sandbox("sandbox-memory", transactions)


#: Every gateway the contract runs against: name → (how to build it, its pytest marks).
GATEWAYS: dict[
    str, tuple[Callable[[], AbstractAsyncContextManager[GatewayUnderTest]], list[Any]]
] = {
    "stripe-mock": (_on_stripe_mock, [pytest.mark.stripe]),
    "stripe-fake": (_on_fake_stripe, []),
    "razorpay-fake": (_on_fake_razorpay, []),
    "sandbox": (_on_sandbox, []),
    "sandbox-memory": (_on_sandbox_in_memory, []),
}


@pytest.fixture(params=[pytest.param(name, marks=marks) for name, (_, marks) in GATEWAYS.items()])
async def gateway(request: pytest.FixtureRequest) -> AsyncIterator[GatewayUnderTest]:
    build, _ = GATEWAYS[str(request.param)]
    async with build() as under_test:
        yield under_test


# --- the contract -------------------------------------------------------------------------------


async def test_a_full_refund_is_the_whole_payment_by_this_provider(
    gateway: GatewayUnderTest,
) -> None:
    ref = gateway.new_payment(4200)
    refund = await gateway.adapter.refund(request_for(ref, 4200, gateway.currency))
    assert refund.amount_minor == 4200
    assert refund.currency == gateway.currency
    assert refund.provider == gateway.provider == gateway.adapter.name
    assert refund.status is RefundStatus.SUCCEEDED
    assert refund.id
    assert isinstance(refund.created_at, datetime)
    assert refund.created_at.tzinfo is not None
    if gateway.fake is not None:
        assert gateway.created() == 1


async def test_the_same_key_twice_is_the_same_refund_made_once(gateway: GatewayUnderTest) -> None:
    gateway.needs(STATEFUL)
    ref = gateway.new_payment(4200)
    request = request_for(ref, 4200, gateway.currency)
    first = await gateway.adapter.refund(request)
    again = await gateway.adapter.refund(request)
    assert again == first
    if gateway.fake is not None:
        assert gateway.created() == 1


async def test_a_call_that_re_drives_the_key_with_another_reason_is_the_same_refund(
    gateway: GatewayUnderTest,
) -> None:
    """The admin's reason may differ between two calls for one attempt; the provider must not
    see a different request."""
    gateway.needs(STATEFUL)
    ref = gateway.new_payment(4200)
    request = request_for(ref, 4200, gateway.currency, reason="first reason")
    first = await gateway.adapter.refund(request)
    again = await gateway.adapter.refund(
        request_for(ref, 4200, gateway.currency, session=request.session_id, reason="another")
    )
    assert again.id == first.id


async def test_another_key_after_a_success_is_refused(gateway: GatewayUnderTest) -> None:
    gateway.needs(STATEFUL)
    ref = gateway.new_payment(4200)
    first = request_for(ref, 4200, gateway.currency)
    await gateway.adapter.refund(first)
    with pytest.raises(GatewayRefused) as refused:
        await gateway.adapter.refund(
            request_for(ref, 4200, gateway.currency, session=first.session_id, attempt=2)
        )
    assert refused.value.code
    if gateway.fake is not None:
        assert gateway.created() == 1


async def test_the_same_key_with_other_parameters_is_refused(gateway: GatewayUnderTest) -> None:
    gateway.needs(STATEFUL)
    ref = gateway.new_payment(4200)
    request = request_for(ref, 4200, gateway.currency)
    await gateway.adapter.refund(request)
    with pytest.raises(GatewayRefused):
        await gateway.adapter.refund(
            RefundRequest(
                key=request.key,
                session_id=request.session_id,
                payment_ref=request.payment_ref,
                amount_minor=4100,
                currency=request.currency,
                reason=request.reason,
            )
        )
    if gateway.fake is not None:
        assert gateway.created() == 1


async def test_an_unknown_payment_is_refused(gateway: GatewayUnderTest) -> None:
    gateway.needs(STATEFUL, KNOWS_PAYMENTS)
    with pytest.raises(GatewayRefused) as refused:
        await gateway.adapter.refund(request_for(gateway.unknown_payment(), 4200, gateway.currency))
    assert refused.value.code
    if gateway.fake is not None:
        assert gateway.created() == 0


async def test_find_refund_on_an_unknown_payment_is_none_so_reconcile_can_end_the_attempt(
    gateway: GatewayUnderTest,
) -> None:
    """The provider's answer that the payment does not exist proves it holds no refund of it;
    reconcile then re-drives the key and records the provider's refusal."""
    gateway.needs(STATEFUL, KNOWS_PAYMENTS)
    request = request_for(gateway.unknown_payment(), 4200, gateway.currency)
    assert await gateway.adapter.find_refund(request) is None


@pytest.mark.parametrize("status", [500, 502, 503, 429, 409])
async def test_a_provider_failure_is_unavailable_and_the_same_key_then_refunds_once(
    gateway: GatewayUnderTest, status: int
) -> None:
    gateway.needs(FAULTS)
    ref = gateway.new_payment(4200)
    request = request_for(ref, 4200, gateway.currency)
    gateway.controls.fail_next(status, times=gateway.attempts)
    with pytest.raises(GatewayUnavailable):
        await gateway.adapter.refund(request)
    gateway.controls.clear_faults()
    assert gateway.created() == 0
    refund = await gateway.adapter.refund(request)
    assert refund.status is RefundStatus.SUCCEEDED
    assert gateway.created() == 1


async def test_no_answer_in_time_is_unavailable_within_the_adapters_timeout(
    gateway: GatewayUnderTest,
) -> None:
    gateway.needs(FAULTS)
    ref = gateway.new_payment(4200)
    request = request_for(ref, 4200, gateway.currency)
    gateway.controls.hang_next(30, times=gateway.attempts)
    started = time.monotonic()
    with pytest.raises(GatewayUnavailable):
        await gateway.adapter.refund(request)
    assert time.monotonic() - started < gateway.worst_case_seconds
    gateway.controls.clear_faults()
    assert (await gateway.adapter.refund(request)).amount_minor == 4200
    assert gateway.created() == 1


async def test_wrong_credentials_are_refused_saying_so(gateway: GatewayUnderTest) -> None:
    gateway.needs(CREDENTIALS)
    assert gateway.wrong_credentials is not None
    ref = gateway.new_payment(4200)
    async with gateway.wrong_credentials() as wrong:
        with pytest.raises(GatewayRefused) as refused:
            await wrong.refund(request_for(ref, 4200, gateway.currency))
    assert refused.value.code == "authentication_failed"
    assert "check the" in str(refused.value)
    if gateway.fake is not None:
        assert gateway.created() == 0


async def test_a_pending_refund_is_found_succeeded_once_confirmed(
    gateway: GatewayUnderTest,
) -> None:
    gateway.needs(STATEFUL, FAULTS)
    ref = gateway.new_payment(4200)
    request = request_for(ref, 4200, gateway.currency)
    gateway.controls.pending_next()
    refund = await gateway.adapter.refund(request)
    assert refund.status is RefundStatus.PENDING
    assert await gateway.adapter.find_refund(request) == refund
    gateway.controls.confirm(refund.id)
    found = await gateway.adapter.find_refund(request)
    assert found is not None
    assert (found.id, found.status, found.amount_minor) == (
        refund.id,
        RefundStatus.SUCCEEDED,
        4200,
    )
    assert gateway.created() == 1


async def test_a_refund_that_fails_after_acceptance_is_found_failed(
    gateway: GatewayUnderTest,
) -> None:
    gateway.needs(STATEFUL, FAULTS)
    ref = gateway.new_payment(4200)
    request = request_for(ref, 4200, gateway.currency)
    gateway.controls.pending_next()
    refund = await gateway.adapter.refund(request)
    gateway.controls.fail_refund(refund.id)
    found = await gateway.adapter.find_refund(request)
    assert found is not None
    assert (found.id, found.status) == (refund.id, RefundStatus.FAILED)


async def test_find_refund_finds_the_refund_of_the_key(gateway: GatewayUnderTest) -> None:
    gateway.needs(STATEFUL)
    ref = gateway.new_payment(4200)
    request = request_for(ref, 4200, gateway.currency)
    refund = await gateway.adapter.refund(request)
    assert await gateway.adapter.find_refund(request) == refund


async def test_find_refund_of_a_key_never_used_is_none(gateway: GatewayUnderTest) -> None:
    ref = gateway.new_payment(4200)
    assert await gateway.adapter.find_refund(request_for(ref, 4200, gateway.currency)) is None


async def test_find_refund_of_another_key_of_the_payment_is_none(
    gateway: GatewayUnderTest,
) -> None:
    gateway.needs(STATEFUL)
    ref = gateway.new_payment(4200)
    first = request_for(ref, 4200, gateway.currency)
    await gateway.adapter.refund(first)
    other = request_for(ref, 4200, gateway.currency, session=first.session_id, attempt=2)
    assert await gateway.adapter.find_refund(other) is None


async def test_concurrent_calls_with_one_key_make_at_most_one_refund(
    gateway: GatewayUnderTest,
) -> None:
    gateway.needs(STATEFUL, FAULTS)
    ref = gateway.new_payment(4200)
    request = request_for(ref, 4200, gateway.currency)
    gateway.controls.slow_next(0.3, times=10)  # the first request is still running at the others
    results = await asyncio.gather(
        *(gateway.adapter.refund(request) for _ in range(10)), return_exceptions=True
    )
    refunds = [r for r in results if isinstance(r, Refund)]
    others = [r for r in results if not isinstance(r, Refund)]
    assert all(isinstance(e, GatewayUnavailable) for e in others), others
    assert refunds, "at least the first request answers with the refund"
    assert {r.id for r in refunds} == {refunds[0].id}
    assert gateway.created() == 1
    found = await gateway.adapter.find_refund(request)
    assert found is not None
    assert found.id == refunds[0].id


# --- both HTTP gateways, answered with what is not a refund --------------------------------------

#: 200 answers that are JSON but not what the call returns: an empty object, a refund without its
#: fields, fields of the wrong type, a list, a bare string.
NOT_A_REFUND: list[Any] = [
    {},
    {"object": "refund"},
    {
        "id": "re_1",
        "object": "refund",
        "status": "succeeded",
        "amount": "lots",
        "currency": 7,
        "created": "yesterday",
        "created_at": "yesterday",
        "metadata": {},
        "notes": {},
    },
    [1, 2],
    "ok",
]


def _http_gateway(name: str, url: str) -> PaymentGateway:
    if name == "stripe":
        return StripePaymentGateway(
            "sk_test_x", api_base=url, timeout_seconds=TIMEOUT, max_network_retries=0
        )
    return RazorpayPaymentGateway("rzp_test_x", "secret", api_base=url, timeout_seconds=TIMEOUT)


def _unreadable_list(name: str, body: Any) -> Any:
    """A list answer holding `body` as its one entry (what `find_refund` reads)."""
    entry = (
        dict(body, metadata={"idempotency_key": KEY}, notes={"idempotency_key": KEY})
        if (isinstance(body, dict))
        else body
    )
    if name == "stripe":
        return {"object": "list", "data": [entry], "has_more": False}
    return {"entity": "collection", "count": 1, "items": [entry]}


KEY = "mso-refund-s_unreadable-1"


@pytest.mark.parametrize("body", NOT_A_REFUND, ids=repr)
@pytest.mark.parametrize("name", ["stripe", "razorpay"])
async def test_an_answer_that_is_not_a_refund_is_unavailable_never_another_error(
    name: str, body: Any
) -> None:
    """A proxy, a changed API or a wrong base URL answering 200 leaves the outcome unknown:
    the caller gets the port's GatewayUnavailable (a retry-safe 502), not a crash."""
    server = FakeServer(
        lambda incoming: Reply(
            200, body if incoming.method == "POST" else _unreadable_list(name, body)
        ),
        name=f"not-{name}",
    )
    adapter = _http_gateway(name, server.url)
    request = RefundRequest(
        key=KEY,
        session_id="s_unreadable",
        payment_ref="pay_1234567890",
        amount_minor=4200,
        currency="USD",
        reason="r",
    )
    try:
        with pytest.raises(GatewayUnavailable):
            await adapter.refund(request)
        with pytest.raises(GatewayUnavailable):
            await adapter.find_refund(request)
    finally:
        await adapter.aclose()
        server.stop()


NOT_AN_ERROR: list[Any] = [
    {"error": "upstream connect error or disconnect/reset before headers"},
    {"error": None},
    {"error": ["busy"]},
    {"message": "Internal server error"},
    [1, 2],
]


@pytest.mark.parametrize("status", [400, 429, 502])
@pytest.mark.parametrize("body", NOT_AN_ERROR, ids=repr)
@pytest.mark.parametrize("name", ["stripe", "razorpay"])
async def test_an_error_answer_not_in_the_providers_shape_is_unavailable(
    name: str, body: Any, status: int
) -> None:
    """A gateway or proxy in front of the provider answering an error in its own JSON: not the
    provider's refusal, so the outcome is unknown (a retry-safe 502), never a crash (500)."""
    server = FakeServer(lambda _: Reply(status, body), name=f"not-{name}-error")
    adapter = _http_gateway(name, server.url)
    request = RefundRequest(
        key=KEY,
        session_id="s_unreadable",
        payment_ref="pay_1234567890",
        amount_minor=4200,
        currency="USD",
        reason="r",
    )
    try:
        with pytest.raises(GatewayUnavailable):
            await adapter.refund(request)
        with pytest.raises(GatewayUnavailable):
            await adapter.find_refund(request)
    finally:
        await adapter.aclose()
        server.stop()


# --- Stripe only ----------------------------------------------------------------------------------


@pytest.fixture
async def stripe() -> AsyncIterator[tuple[StripePaymentGateway, FakeStripe]]:
    with fake_stripe() as fake:
        adapter = stripe_gateway(fake, timeout_seconds=TIMEOUT, max_network_retries=STRIPE_RETRIES)
        try:
            yield adapter, fake
        finally:
            await adapter.aclose()


async def test_stripe_sends_the_key_and_parameters_that_depend_on_the_key_alone(
    stripe: tuple[StripePaymentGateway, FakeStripe],
) -> None:
    adapter, fake = stripe
    fake.add_payment("pi_sent", 4200)
    request = request_for("pi_sent", 4200, "USD", session="ses_1", reason="one")
    await adapter.refund(request)
    await adapter.refund(request_for("pi_sent", 4200, "USD", session="ses_1", reason="two"))
    first, second = fake.calls_to("POST", "/v1/refunds")
    assert first.idempotency_key == second.idempotency_key == request.key
    assert sorted(first.params) == sorted(second.params)
    assert dict(first.params) == {
        "payment_intent": "pi_sent",
        "amount": "4200",
        "reason": "requested_by_customer",
        "metadata[session_id]": "ses_1",
        "metadata[idempotency_key]": request.key,
    }
    assert fake.refunds_created == 1


async def test_stripe_sdk_retries_a_5xx_with_the_same_key(
    stripe: tuple[StripePaymentGateway, FakeStripe],
) -> None:
    adapter, fake = stripe
    fake.add_payment("pi_retry", 4200)
    fake.fail_next(503)
    request = request_for("pi_retry", 4200, "USD")
    refund = await adapter.refund(request)
    calls = fake.calls_to("POST", "/v1/refunds")
    assert [c.idempotency_key for c in calls] == [request.key, request.key]
    assert refund.status is RefundStatus.SUCCEEDED
    assert fake.refunds_created == 1


async def test_stripe_replays_a_saved_500_for_the_key_and_nothing_was_refunded(
    stripe: tuple[StripePaymentGateway, FakeStripe],
) -> None:
    """Stripe saves a 500 that happened after execution began and answers it again for the
    key: re-driving the key cannot succeed, `find_refund` says no refund was made."""
    adapter, fake = stripe
    fake.add_payment("pi_saved", 4200)
    fake.fail_next(500, saved=True)
    request = request_for("pi_saved", 4200, "USD")
    for _ in range(2):  # the SDK's own retry already gets the replay
        with pytest.raises(GatewayFailureReplayed):
            await adapter.refund(request)
    assert fake.refunds_created == 0
    assert await adapter.find_refund(request) is None


async def test_stripe_a_fresh_500_is_not_a_replayed_one(
    stripe: tuple[StripePaymentGateway, FakeStripe],
) -> None:
    """A 500 that Stripe did not save (the request never began) is only unavailable: the
    same key may still succeed."""
    _, fake = stripe
    fake.add_payment("pi_fresh", 4200)
    adapter = stripe_gateway(fake, timeout_seconds=2.0, max_network_retries=0)
    try:
        fake.fail_next(500)
        request = request_for("pi_fresh", 4200, "USD")
        with pytest.raises(GatewayUnavailable) as raised:
            await adapter.refund(request)
        assert not isinstance(raised.value, GatewayFailureReplayed)
        refund = await adapter.refund(request)
        assert refund.status is RefundStatus.SUCCEEDED
    finally:
        await adapter.aclose()


async def test_stripe_refund_whose_answer_is_lost_is_found(
    stripe: tuple[StripePaymentGateway, FakeStripe],
) -> None:
    """The refund is made and the answer comes after the timeout: unavailable, yet
    `find_refund` sees it (the core's reconciliation)."""
    _, fake = stripe
    fake.add_payment("pi_lost", 4200)
    adapter = stripe_gateway(fake, timeout_seconds=0.3, max_network_retries=0)
    try:
        fake.slow_next(1.0, method="POST")
        request = request_for("pi_lost", 4200, "USD")
        with pytest.raises(GatewayUnavailable):
            await adapter.refund(request)
        found = await adapter.find_refund(request)
        assert found is not None
        assert found.status is RefundStatus.SUCCEEDED
        assert fake.refunds_created == 1
    finally:
        await adapter.aclose()


async def test_stripe_find_refund_reads_every_page(
    stripe: tuple[StripePaymentGateway, FakeStripe],
) -> None:
    adapter, fake = stripe
    fake.add_payment("pi_pages", 100_000)
    request = request_for("pi_pages", 500, "USD")
    refund = await adapter.refund(request)  # the oldest: on the last page
    async with httpx.AsyncClient(base_url=fake.url, auth=(fake.api_key, "")) as client:
        for n in range(105):
            answer = await client.post(
                "/v1/refunds", data={"payment_intent": "pi_pages", "amount": "1"}
            )
            assert answer.status_code == 200, (n, answer.text)
    assert await adapter.find_refund(request) == refund


async def test_stripe_find_refund_of_an_unknown_payment_intent_is_none(
    stripe: tuple[StripePaymentGateway, FakeStripe],
) -> None:
    adapter, _ = stripe
    assert await adapter.find_refund(request_for("pi_nobody", 4200, "USD")) is None


async def test_stripe_maps_its_statuses() -> None:
    from adapters.stripe import refunds

    assert {k: v.value for k, v in refunds._STATUSES.items()} == {
        "pending": "pending",
        "requires_action": "pending",
        "succeeded": "succeeded",
        "failed": "failed",
        "canceled": "failed",
    }


# --- Razorpay only --------------------------------------------------------------------------------


@pytest.fixture
async def razorpay() -> AsyncIterator[tuple[RazorpayPaymentGateway, FakeRazorpay]]:
    with fake_razorpay() as fake:
        adapter = razorpay_gateway(fake, timeout_seconds=TIMEOUT)
        try:
            yield adapter, fake
        finally:
            await adapter.aclose()


async def test_razorpay_sends_an_identical_body_on_every_retry(
    razorpay: tuple[RazorpayPaymentGateway, FakeRazorpay],
) -> None:
    adapter, fake = razorpay
    fake.add_payment("pay_body", 4200)
    request = request_for("pay_body", 4200, "INR", session="ses_1", reason="one")
    fake.fail_next(503)
    with pytest.raises(GatewayUnavailable):
        await adapter.refund(request)
    await adapter.refund(request_for("pay_body", 4200, "INR", session="ses_1", reason="two"))
    first, second = fake.calls_to("POST", "/v1/payments/pay_body/refund")
    assert first.raw == second.raw
    assert first.idempotency_key == second.idempotency_key == request.key
    assert first.body == {
        "amount": 4200,
        "speed": "normal",
        "notes": {"session_id": "ses_1", "idempotency_key": request.key},
        "receipt": request.key,
    }
    assert fake.refunds_created == 1


async def test_razorpay_receipt_of_a_long_key_is_40_characters_and_stable(
    razorpay: tuple[RazorpayPaymentGateway, FakeRazorpay],
) -> None:
    adapter, fake = razorpay
    fake.add_payment("pay_long", 4200)
    request = request_for("pay_long", 4200, "INR", session="s" * 60)
    assert request.key == "mso-refund-" + "s" * 60 + "-1"
    # Pinned, not compared with itself: a re-drive after a restart (another process, another
    # release) must send the same receipt, which a process-salted hash would not.
    assert receipt_for(request.key) == "mso-refund-ssssssssssssssss-b6e6d212924e"
    assert len(receipt_for(request.key)) == 40
    assert receipt_for(request.key) != receipt_for(refund_key("s" * 60, 2))
    await adapter.refund(request)
    (call,) = fake.calls_to("POST", "/v1/payments/pay_long/refund")
    assert call.body["receipt"] == receipt_for(request.key)
    assert call.body["notes"]["idempotency_key"] == request.key


async def test_razorpay_refuses_a_key_razorpay_would_refuse_without_calling(
    razorpay: tuple[RazorpayPaymentGateway, FakeRazorpay],
) -> None:
    adapter, fake = razorpay
    fake.add_payment("pay_key", 4200)
    for key in ("short", "has spaces in it", "semi;colon;key"):
        with pytest.raises(GatewayRefused) as refused:
            await adapter.refund(
                RefundRequest(
                    key=key,
                    session_id="s",
                    payment_ref="pay_key",
                    amount_minor=4200,
                    currency="INR",
                    reason="r",
                )
            )
        assert refused.value.code == "invalid_idempotency_key"
    assert fake.calls == []


async def test_razorpay_refuses_a_payment_not_captured(
    razorpay: tuple[RazorpayPaymentGateway, FakeRazorpay],
) -> None:
    adapter, fake = razorpay
    fake.add_payment("pay_authorized", 4200, captured=False)
    with pytest.raises(GatewayRefused) as refused:
        await adapter.refund(request_for("pay_authorized", 4200, "INR"))
    assert refused.value.code == "BAD_REQUEST_ERROR"
    assert fake.refunds_created == 0


async def test_razorpay_find_refund_reads_every_page(
    razorpay: tuple[RazorpayPaymentGateway, FakeRazorpay],
) -> None:
    adapter, fake = razorpay
    fake.add_payment("pay_pages", 1_000_000)
    request = request_for("pay_pages", 500, "INR")
    refund = await adapter.refund(request)
    auth = (fake.key_id, fake.key_secret)
    async with httpx.AsyncClient(base_url=fake.url, auth=auth) as client:
        for n in range(105):
            answer = await client.post("/v1/payments/pay_pages/refund", json={"amount": 100})
            assert answer.status_code == 200, (n, answer.text)
    assert await adapter.find_refund(request) == refund


async def test_razorpay_find_refund_failure_is_unavailable(
    razorpay: tuple[RazorpayPaymentGateway, FakeRazorpay],
) -> None:
    adapter, fake = razorpay
    fake.add_payment("pay_find", 4200)
    fake.fail_next(500)
    with pytest.raises(GatewayUnavailable):  # an error never proves there is no refund
        await adapter.find_refund(request_for("pay_find", 4200, "INR"))


async def test_razorpay_maps_its_statuses() -> None:
    from adapters.razorpay import refunds

    assert {k: v.value for k, v in refunds._STATUSES.items()} == {
        "created": "pending",
        "pending": "pending",
        "processed": "succeeded",
        "failed": "failed",
    }


# --- the fakes' own rules -----------------------------------------------------------------------


@pytest.fixture
async def stripe_http() -> AsyncIterator[tuple[httpx.AsyncClient, FakeStripe]]:
    with fake_stripe() as fake:
        async with httpx.AsyncClient(
            base_url=fake.url, headers={"Authorization": f"Bearer {fake.api_key}"}
        ) as client:
            yield client, fake


def _form(pi: str, **more: str) -> dict[str, str]:
    return {"payment_intent": pi, "reason": "requested_by_customer", **more}


async def test_fake_stripe_answers_a_concurrent_request_with_the_key_409_and_saves_nothing(
    stripe_http: tuple[httpx.AsyncClient, FakeStripe],
) -> None:
    client, fake = stripe_http
    fake.add_payment("pi_c", 4200)
    fake.slow_next(1.0)
    headers = {"Idempotency-Key": "key-c"}
    first = asyncio.create_task(client.post("/v1/refunds", data=_form("pi_c"), headers=headers))
    await asyncio.sleep(0.3)
    second = await client.post("/v1/refunds", data=_form("pi_c"), headers=headers)
    assert second.status_code == 409
    assert second.json()["error"]["type"] == "idempotency_error"
    assert (await first).status_code == 200
    third = await client.post("/v1/refunds", data=_form("pi_c"), headers=headers)
    assert third.json() == (await first).json()
    assert third.headers["idempotent-replayed"] == "true"
    assert fake.refunds_created == 1


async def test_fake_stripe_replays_the_saved_answer_not_the_refund_as_it_is_now(
    stripe_http: tuple[httpx.AsyncClient, FakeStripe],
) -> None:
    client, fake = stripe_http
    fake.add_payment("pi_p", 4200)
    fake.pending_next()
    headers = {"Idempotency-Key": "key-p"}
    created = (await client.post("/v1/refunds", data=_form("pi_p"), headers=headers)).json()
    fake.confirm(created["id"])
    replayed = (await client.post("/v1/refunds", data=_form("pi_p"), headers=headers)).json()
    assert replayed["status"] == "pending"
    now = (await client.get(f"/v1/refunds/{created['id']}")).json()
    assert now["status"] == "succeeded"


async def test_fake_stripe_saves_errors_of_execution_but_not_of_validation(
    stripe_http: tuple[httpx.AsyncClient, FakeStripe],
) -> None:
    client, fake = stripe_http
    invalid = await client.post(
        "/v1/refunds", data=_form("pi_v", reason="bored"), headers={"Idempotency-Key": "key-v"}
    )
    assert invalid.status_code == 400
    assert invalid.json()["error"]["param"] == "reason"
    missing = await client.post(
        "/v1/refunds", data=_form("pi_v"), headers={"Idempotency-Key": "key-v"}
    )
    assert missing.json()["error"]["code"] == "resource_missing"  # handled afresh, and saved
    fake.add_payment("pi_v", 4200)
    again = await client.post(
        "/v1/refunds", data=_form("pi_v"), headers={"Idempotency-Key": "key-v"}
    )
    assert again.json()["error"]["code"] == "resource_missing"
    assert again.headers["idempotent-replayed"] == "true"
    other = await client.post(
        "/v1/refunds", data=_form("pi_v", amount="1"), headers={"Idempotency-Key": "key-v"}
    )
    assert other.json()["error"]["type"] == "idempotency_error"
    assert fake.refunds_created == 0


async def test_fake_stripe_gives_back_the_amount_of_a_failed_refund(
    stripe_http: tuple[httpx.AsyncClient, FakeStripe],
) -> None:
    client, fake = stripe_http
    fake.add_payment("pi_f", 4200)
    first = (await client.post("/v1/refunds", data=_form("pi_f"))).json()
    refused = await client.post("/v1/refunds", data=_form("pi_f"))
    assert refused.json()["error"]["code"] == "charge_already_refunded"
    too_much = await client.post("/v1/refunds", data=_form("pi_f", amount="1"))
    assert too_much.json()["error"]["code"] == "charge_already_refunded"
    fake.fail_refund(first["id"])
    assert (await client.post("/v1/refunds", data=_form("pi_f"))).status_code == 200
    assert fake.refunds_created == 2


async def test_fake_stripe_refuses_missing_or_wrong_keys_as_stripe_does(
    stripe_http: tuple[httpx.AsyncClient, FakeStripe],
) -> None:
    _, fake = stripe_http
    async with httpx.AsyncClient(base_url=fake.url) as anonymous:
        none = await anonymous.get("/v1/refunds")
        wrong = await anonymous.get("/v1/refunds", headers={"Authorization": "Bearer sk_test_x"})
        basic = await anonymous.get("/v1/refunds", auth=(fake.api_key, ""))
    assert none.status_code == wrong.status_code == 401
    assert none.json()["error"]["type"] == "invalid_request_error"
    assert "did not provide an API key" in none.json()["error"]["message"]
    assert "Invalid API Key" in wrong.json()["error"]["message"]
    assert basic.status_code == 200


async def test_fake_stripe_lists_newest_first_in_pages_and_knows_its_ids(
    stripe_http: tuple[httpx.AsyncClient, FakeStripe],
) -> None:
    client, fake = stripe_http
    fake.add_payment("pi_l", 3)
    ids = [
        (await client.post("/v1/refunds", data=_form("pi_l", amount="1"))).json()["id"]
        for _ in range(3)
    ]
    page = (await client.get("/v1/refunds", params={"payment_intent": "pi_l", "limit": 2})).json()
    assert [r["id"] for r in page["data"]] == ids[::-1][:2]
    assert page["has_more"] is True
    rest = (
        await client.get(
            "/v1/refunds",
            params={"payment_intent": "pi_l", "limit": 2, "starting_after": page["data"][-1]["id"]},
        )
    ).json()
    assert [r["id"] for r in rest["data"]] == [ids[0]]
    assert rest["has_more"] is False
    unknown_pi = await client.get("/v1/refunds", params={"payment_intent": "pi_none"})
    assert unknown_pi.status_code == 400
    assert unknown_pi.json()["error"]["code"] == "resource_missing"
    unknown = await client.get("/v1/refunds/re_none")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "resource_missing"


async def test_fake_stripe_auto_payments_refund_any_payment_intent_once() -> None:
    with fake_stripe(auto_payments=True) as fake:
        async with httpx.AsyncClient(base_url=fake.url, auth=(fake.api_key, "")) as client:
            made = await client.post("/v1/refunds", data=_form("pi_any", amount="700"))
            assert made.status_code == 200
            assert made.json()["amount"] == 700
            again = await client.post("/v1/refunds", data=_form("pi_any", amount="700"))
            assert again.json()["error"]["code"] == "charge_already_refunded"
            listed = await client.get("/v1/refunds", params={"payment_intent": "pi_other"})
            assert listed.json()["data"] == []


@pytest.fixture
async def razorpay_http() -> AsyncIterator[tuple[httpx.AsyncClient, FakeRazorpay]]:
    with fake_razorpay() as fake:
        async with httpx.AsyncClient(
            base_url=fake.url, auth=(fake.key_id, fake.key_secret)
        ) as client:
            yield client, fake


async def test_fake_razorpay_checks_the_idempotency_key(
    razorpay_http: tuple[httpx.AsyncClient, FakeRazorpay],
) -> None:
    client, fake = razorpay_http
    fake.add_payment("pay_k", 4200)
    for key in ("short", "ten chars!", "key.with.dots"):
        answer = await client.post(
            "/v1/payments/pay_k/refund", json={}, headers={"X-Refund-Idempotency": key}
        )
        assert answer.status_code == 400, key
        assert answer.json()["error"]["code"] == "BAD_REQUEST_ERROR"
    assert fake.refunds_created == 0


async def test_fake_razorpay_idempotency_body_in_flight_and_after(
    razorpay_http: tuple[httpx.AsyncClient, FakeRazorpay],
) -> None:
    client, fake = razorpay_http
    fake.add_payment("pay_i", 4200)
    headers = {"X-Refund-Idempotency": "key-i-0123456789"}
    fake.slow_next(1.0)
    first = asyncio.create_task(
        client.post("/v1/payments/pay_i/refund", json={"amount": 4200}, headers=headers)
    )
    await asyncio.sleep(0.3)
    during = await client.post("/v1/payments/pay_i/refund", json={"amount": 4200}, headers=headers)
    assert during.status_code == 409
    made = (await first).json()
    fake.pending_next()  # irrelevant: the key is answered with its refund
    after = await client.post("/v1/payments/pay_i/refund", json={"amount": 4200}, headers=headers)
    assert after.status_code == 200
    assert after.json()["id"] == made["id"]
    different = await client.post(
        "/v1/payments/pay_i/refund", json={"amount": 4100}, headers=headers
    )
    assert different.status_code == 400
    assert different.json()["error"]["code"] == "BAD_REQUEST_ERROR"
    assert fake.refunds_created == 1


async def test_fake_razorpay_binds_a_key_only_to_a_refund_it_made(
    razorpay_http: tuple[httpx.AsyncClient, FakeRazorpay],
) -> None:
    client, fake = razorpay_http
    fake.add_payment("pay_a", 4200, captured=False)
    headers = {"X-Refund-Idempotency": "key-a-0123456789"}
    refused = await client.post("/v1/payments/pay_a/refund", json={}, headers=headers)
    assert refused.status_code == 400
    fake.capture("pay_a")
    made = await client.post("/v1/payments/pay_a/refund", json={}, headers=headers)
    assert made.status_code == 200
    assert made.json()["amount"] == 4200
    second = await client.post(
        "/v1/payments/pay_a/refund", json={}, headers={"X-Refund-Idempotency": "key-a-other-key"}
    )
    assert second.status_code == 400
    assert second.json()["error"]["description"] == "The payment has been fully refunded already"


async def test_fake_razorpay_errors_and_entities_have_razorpays_shape(
    razorpay_http: tuple[httpx.AsyncClient, FakeRazorpay],
) -> None:
    client, fake = razorpay_http
    async with httpx.AsyncClient(base_url=fake.url, auth=(fake.key_id, "wrong")) as wrong:
        unauthorized = await wrong.get("/v1/refunds/rfnd_x")
    assert unauthorized.status_code == 401
    assert set(unauthorized.json()["error"]) == {
        "code",
        "description",
        "source",
        "step",
        "reason",
        "metadata",
        "field",
    }
    assert unauthorized.json()["error"]["description"] == "Authentication failed"
    unknown = await client.post("/v1/payments/pay_none/refund", json={})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["description"] == "The id provided does not exist"
    fake.add_payment("pay_e", 4200)
    for body, field_name in (
        ({"receipt": "r" * 41}, "receipt"),
        ({"amount": 99}, "amount"),
        ({"speed": "warp"}, "speed"),
        ({"reason": "x"}, "reason"),
    ):
        answer = await client.post("/v1/payments/pay_e/refund", json=body)
        assert answer.status_code == 400
        assert answer.json()["error"]["field"] == field_name
    made = (await client.post("/v1/payments/pay_e/refund", json={})).json()
    assert made["notes"] == []
    assert made["entity"] == "refund"
    assert made["status"] == "processed"
    listed = (await client.get("/v1/payments/pay_e/refunds")).json()
    assert listed == {"entity": "collection", "count": 1, "items": [made]}
    assert (await client.get(f"/v1/refunds/{made['id']}")).json() == made
    assert (await client.get("/v1/refunds/rfnd_none")).status_code == 400
    assert (await client.get("/v1/payments/pay_none/refunds")).status_code == 400
