"""A refund never happens twice (SPEC §6.4), proven against the real adapters on the fake
providers, which count the refunds they really made:

- 50 concurrent refund requests for one session, spread over two app instances on the same
  PostgreSQL: one refund at the provider, each caller gets the refunded session (200) or a
  clear in-progress answer (202), and one audit entry;
- the process killed after the provider accepted and before the database recorded it: the
  next call, or reconcile, finishes it with the same key, and the provider still counts one;
- a provider timeout: 502 PAYMENT_PROVIDER_ERROR with `retry_safe: true`, the session
  `refund_pending`, and a retry completes it once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryTransactions
from adapters.sql.engine import create_engine
from adapters.sql.migrate import upgrade
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.payments.errors import PaymentProviderError
from admin_core.payments.model import SessionStatus
from admin_core.payments.ports import PaymentGateway
from admin_core.payments.use_cases import ReconcileRefundsCommand, RefundSessionCommand
from admin_core.side_effects.runner import LEASE
from entrypoints.settings import Settings
from tests.support.clock import LaterClock
from tests.support.databases import postgres_urls, truncate_postgres
from tests.support.fake_razorpay import running_fake_razorpay
from tests.support.fake_stripe import FakeStripe, fake_stripe
from tests.support.http import ApiClient, api
from tests.support.killed import run_until_killed
from tests.support.killed_refund import gateway_for, prepare
from tests.support.payments import payments_world

SESSIONS = "/api/v1/admin/mso/sessions"
#: The refund an operator asks for in the tests of one paid session (`mso_00000`).
REFUND = RefundSessionCommand(session_id="mso_00000", reason="patient asked")


def stripe_settings(fake: FakeStripe, database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        stripe_api_key=fake.api_key,
        stripe_api_url=fake.url,
        payment_timeout_seconds=1.0,
    )


async def a_stripe_session(http: ApiClient) -> dict[str, Any]:
    response = await http.client.get(
        SESSIONS, params={"status": "completed", "limit": 200}, headers=http.auth()
    )
    return next(s for s in response.json()["data"]["sessions"] if s["payment_provider"] == "stripe")


async def refund(http: ApiClient, session_id: str) -> Any:
    return await http.client.post(
        f"{SESSIONS}/{session_id}/refund", json={"reason": "patient asked"}, headers=http.auth()
    )


async def audited(http: ApiClient, session_id: str) -> list[dict[str, Any]]:
    response = await http.client.get(
        "/api/v1/admin/audit-log",
        params={"action": "mso_session.refund", "limit": 200},
        headers=http.auth(),
    )
    return [e for e in response.json()["data"]["entries"] if e["resource_id"] == session_id]


@pytest.mark.postgres
async def test_fifty_concurrent_refunds_over_two_instances_make_one_refund(
    tmp_path: Path,
) -> None:
    app_url, owner_url = postgres_urls()
    await truncate_postgres(owner_url)
    with fake_stripe(auto_payments=True) as fake:
        settings = stripe_settings(fake, app_url)
        async with AsyncExitStack() as stack:
            first = await stack.enter_async_context(api(tmp_path, settings))
            second = await stack.enter_async_context(api(tmp_path, settings))
            session = await a_stripe_session(first)
            responses = await asyncio.gather(
                *(refund(first if n % 2 else second, session["id"]) for n in range(50))
            )
            for response in responses:
                assert response.status_code in (200, 202), response.text
                data = response.json()["data"]
                if response.status_code == 200:
                    assert data["status"] == "refunded"
                    assert data["refund"]["provider"] == "stripe"
                else:
                    assert data["status"] == "refund_pending"
            assert any(r.status_code == 200 for r in responses)
            assert fake.refunds_created == 1
            assert (
                len({r.json()["data"]["refund"]["id"] for r in responses if r.status_code == 200})
                == 1
            )
            assert len(await audited(first, session["id"])) == 1
            final = await refund(second, session["id"])
            assert final.status_code == 200
            assert final.json()["data"]["status"] == "refunded"
            assert fake.refunds_created == 1


async def test_a_provider_timeout_is_a_retry_safe_502_and_a_retry_completes_once(
    tmp_path: Path,
) -> None:
    with fake_stripe(auto_payments=True) as fake:
        async with api(tmp_path, stripe_settings(fake, "memory://")) as http:
            session = await a_stripe_session(http)
            fake.hang_next(3.0, times=20)  # every try of the SDK, and the lookup after it
            response = await refund(http, session["id"])
            assert response.status_code == 502, response.text
            error = response.json()["errors"][0]
            assert error["code"] == "PAYMENT_PROVIDER_ERROR"
            assert error["details"]["retry_safe"] is True
            listed = await http.client.get(
                SESSIONS, params={"status": "refund_pending", "limit": 200}, headers=http.auth()
            )
            assert session["id"] in [s["id"] for s in listed.json()["data"]["sessions"]]
            fake.clear_faults()
            retried = await refund(http, session["id"])
            assert retried.status_code == 200, retried.text
            assert retried.json()["data"]["status"] == "refunded"
            assert fake.refunds_created == 1
            assert len(await audited(http, session["id"])) == 1


@contextmanager
def running_fake(kind: str) -> Iterator[Any]:
    from tests.support.fake_stripe import running_fake_stripe

    fake = running_fake_stripe() if kind == "stripe" else running_fake_razorpay()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.mark.parametrize("finisher", ["next_call", "reconcile"])
@pytest.mark.parametrize("kind", ["stripe", "razorpay"])
async def test_a_process_killed_after_the_provider_accepted_is_finished_once(
    kind: str, finisher: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'admin_core.db'}"
    await upgrade(database)
    with running_fake(kind) as fake:
        env = fake.adapter_env()
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        engine = create_engine(database)
        try:
            transactions = SqlTransactions(engine, SystemClock(), UlidGenerator())
            await prepare(transactions, kind)
            await run_until_killed("tests.support.killed_refund", database, kind, env=env)
            assert fake.refunds_created == 1

            # A process that runs later than the dead one's lease.
            gateway = gateway_for(kind)
            world = payments_world(transactions, LaterClock(LEASE), gateway)
            assert (await world.session("mso_00000")).status is SessionStatus.REFUND_PENDING
            assert await world.audit_entries("mso_00000") == []
            if finisher == "next_call":
                outcome = await world.refund.execute(world.operator, REFUND)
                assert outcome.session.status is SessionStatus.REFUNDED
            else:
                report = await world.reconcile.execute(
                    world.operator, ReconcileRefundsCommand(older_than=timedelta(0))
                )
                assert len(report.completed) == 1
            session = await world.session("mso_00000")
            assert session.status is SessionStatus.REFUNDED
            assert session.refund is not None
            assert session.refund.provider == kind
            assert fake.refunds_created == 1
            [entry] = await world.audit_entries("mso_00000")
            assert entry.request_id == "req-killed-refund"  # the request that asked for it
            operator = world.operator
            by = {"actor_id": operator.user_id, "request_id": operator.request_id}
            finished_by = (entry.after or {}).get("completed_by")
            assert finished_by == (by if finisher == "next_call" else None)
            await gateway.aclose()
        finally:
            await engine.dispose()


@dataclass(frozen=True)
class OnStripe:
    """A paid session (`mso_00000`) on an in-memory store, its payment the fake Stripe's;
    `world` refunds and reconciles it through the Stripe adapter."""

    fake: Any
    transactions: InMemoryTransactions
    gateway: PaymentGateway
    world: Any

    def later(self) -> Any:
        """`world` in a process that runs after the attempt's lease has run out."""
        return payments_world(self.transactions, LaterClock(LEASE), self.gateway)


@pytest.fixture
async def on_stripe(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[OnStripe]:
    with running_fake("stripe") as fake:
        for name, value in fake.adapter_env().items():
            monkeypatch.setenv(name, value)
        transactions = InMemoryTransactions(InMemoryStore(), SystemClock(), UlidGenerator())
        await prepare(transactions, "stripe")
        gateway = gateway_for("stripe")
        try:
            world = payments_world(transactions, SystemClock(), gateway)
            yield OnStripe(fake, transactions, gateway, world)
        finally:
            await gateway.aclose()


async def test_a_failure_stripe_saved_for_the_key_ends_the_attempt_at_reconcile(
    on_stripe: OnStripe,
) -> None:
    """Stripe saved a 500 for the attempt's key and replays it for the key's lifetime (24 h
    or more). The caller gets a retry-safe 502; reconcile asks Stripe, finds no refund and
    the replayed failure, and ends the attempt (`refund_failed`) instead of re-driving the
    key for a day; the next call refunds with a new key, once."""
    fake, world = on_stripe.fake, on_stripe.world
    fake.fail_next(500, saved=True)
    with pytest.raises(PaymentProviderError) as raised:
        await world.refund.execute(world.operator, REFUND)
    assert raised.value.details["retry_safe"] is True
    assert (await world.session("mso_00000")).status is SessionStatus.REFUND_PENDING

    later = on_stripe.later()
    report = await later.reconcile.execute(
        later.operator, ReconcileRefundsCommand(older_than=timedelta(0))
    )
    assert (len(report.abandoned), len(report.unresolved)) == (1, 0)
    assert (await later.session("mso_00000")).status is SessionStatus.REFUND_FAILED
    assert await later.audit_entries("mso_00000") == []

    outcome = await later.refund.execute(later.operator, REFUND)
    assert outcome.session.status is SessionStatus.REFUNDED
    assert fake.refunds_created == 1
    assert len(await later.audit_entries("mso_00000")) == 1


@pytest.mark.parametrize("forgotten", [False, True], ids=["key_kept", "key_pruned"])
async def test_calling_again_on_a_pending_stripe_refund_answers_it_as_stripe_holds_it_now(
    forgotten: bool, on_stripe: OnStripe
) -> None:
    """Stripe answered the refund `pending`. Calling again looks the refund up before sending
    the key again: Stripe would replay its first answer (`pending`, though confirmed since),
    and once it has pruned the key (24 hours) it would refuse a second refund of the charge —
    which read as the attempt failed while its refund stood. The call answers the refund as
    Stripe holds it: still pending, then refunded once Stripe confirms, one refund made."""
    fake, world = on_stripe.fake, on_stripe.world
    fake.pending_next()
    first = await world.refund.execute(world.operator, REFUND)
    assert (first.in_progress, first.session.status) == (True, SessionStatus.REFUND_PENDING)
    if forgotten:
        fake.forget_keys()
        still = await world.refund.execute(world.operator, REFUND)
        assert (still.in_progress, still.session.status) == (True, SessionStatus.REFUND_PENDING)
    [made] = fake.refunds.values()
    fake.confirm(made.id)
    again = await world.refund.execute(world.operator, REFUND)
    assert (again.in_progress, again.session.status) == (False, SessionStatus.REFUNDED)
    assert again.session.refund is not None
    assert again.session.refund.id == made.id
    assert fake.refunds_created == 1
    assert len(await world.audit_entries("mso_00000")) == 1


async def test_a_call_again_after_a_failure_stripe_saved_ends_the_attempt_then_refunds_once(
    on_stripe: OnStripe,
) -> None:
    """The call that re-drives an attempt whose key Stripe answers with a saved 500 and no
    refund ends it as reconcile would (retry no longer safe: `refund_failed`); the next call
    refunds with a new key, once."""
    fake, world = on_stripe.fake, on_stripe.world
    fake.fail_next(500, saved=True)
    with pytest.raises(PaymentProviderError) as first:
        await world.refund.execute(world.operator, REFUND)
    assert first.value.details["retry_safe"] is True
    with pytest.raises(PaymentProviderError) as second:
        await world.refund.execute(world.operator, REFUND)
    assert second.value.details["retry_safe"] is False
    assert second.value.details["provider_code"] == "failure_replayed"
    assert (await world.session("mso_00000")).status is SessionStatus.REFUND_FAILED
    outcome = await world.refund.execute(world.operator, REFUND)
    assert outcome.session.status is SessionStatus.REFUNDED
    assert fake.refunds_created == 1
    assert len(await world.audit_entries("mso_00000")) == 1
