"""A local fake of Razorpay's refunds (Razorpay publishes no mock server).

A real HTTP server on 127.0.0.1 (random port, a thread) that follows Razorpay's documented
API for refunds (JSON bodies, HTTP Basic `key_id:key_secret`):

- Auth: no or wrong credentials → 401 with Razorpay's error body (`BAD_REQUEST_ERROR`,
  "Authentication failed").
- `POST /v1/payments/{payment_id}/refund` (body `{}` or `amount`, `speed` normal|optimum,
  `notes` ≤ 15 pairs of ≤ 256 characters, `receipt` ≤ 40 characters — Razorpay documents 40
  for order receipts; the fake assumes it for refunds too): only captured payments the fake
  knows are refundable (`add_payment(pay_id, amount, currency, captured=True)`; with
  `auto_payments=True` any `pay_…` is a captured payment of the requested amount). Refunds are
  `processed` at once, or `pending` after `pending_next()` until `confirm(refund_id)` (or
  `fail_refund`). An unknown payment, one not captured, nothing left to refund, too much, or a
  malformed body: 400 `BAD_REQUEST_ERROR`.
- Idempotency (`X-Refund-Idempotency`, "Create a Normal Refund (Idempotent Request)"): the key
  must be ≥ 10 of `[A-Za-z0-9_-]` (else 400); a retry must send an identical body (else 400
  `BAD_REQUEST_ERROR`); while the first request with the key is still processing, a retry gets
  409; after it, the same refund entity (as it stands now). Razorpay documents nothing for a
  key whose first request failed: the fake binds a key only to a refund it made, so such a
  retry is handled afresh.
- `GET /v1/payments/{id}/refunds?count=&skip=` (newest first; `{"entity": "collection",
  "count", "items"}`) and `GET /v1/refunds/{id}`; an unknown id is 400 "The id provided does
  not exist".
- `GET /v1/payments?count=` (the health probe's read): the payments the fake knows.
- Errors: `{"error": {"code", "description", "source", "step", "reason", "metadata",
  "field"}}` (descriptions other than the documented ones are the fake's own wording).

Test controls as the Stripe fake's: `fail_next(status, times)`, `hang_next(seconds, times)`
(504 that late, unhandled), `slow_next(seconds, times)` (handled, answered that late; the key
stays in flight), `pending_next`, `confirm`, `fail_refund`, `refunds_created`, `calls`.

`fake_razorpay()` runs one for a `with` block; `razorpay_gateway(fake)` builds a connected
`RazorpayPaymentGateway` (`aclose()` it); `running_fake_razorpay()` starts one with
`auto_payments=True` (`stop()` it) for an adapter in another process (`adapter_env()`).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from adapters.razorpay.refunds import RazorpayPaymentGateway
from tests.support.fake_http import FakeServer, Incoming, Reply

KEY_ID = "rzp_test_FakeKeyId0001"
KEY_SECRET = "fake_razorpay_key_secret"
_ALPHABET = string.ascii_letters + string.digits
_KEY = re.compile(r"[A-Za-z0-9_-]{10,}")
_FIELDS = frozenset({"amount", "speed", "notes", "receipt"})
#: Refunds that hold the payment's money (a failed one gives it back).
_HOLDING = ("pending", "processed")

Answer = tuple[int, dict[str, Any]]


def _id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(14))


def _error(
    status: int,
    description: str,
    *,
    code: str = "BAD_REQUEST_ERROR",
    field: str | None = None,
    source: str = "business",
    step: str = "payment_initiation",
    reason: str = "input_validation_failed",
) -> Answer:
    return status, {
        "error": {
            "code": code,
            "description": description,
            "source": source,
            "step": step,
            "reason": reason,
            "metadata": {},
            "field": field,
        }
    }


def _bad(
    description: str, *, field: str | None = None, reason: str = "input_validation_failed"
) -> Answer:
    return _error(400, description, field=field, reason=reason)


def _no_such_id() -> Answer:
    return _bad("The id provided does not exist", field="id")


def injected_error(status: int) -> Answer:
    """The body Razorpay sends with `status` (for `fail_next`)."""
    if status == 401:
        return unauthorized()
    if status == 409:
        return in_progress()
    if status == 429:
        return _error(429, "Too many requests", source="NA", step="NA", reason="NA")
    if status == 502:
        return _error(
            502, "Injected gateway error", code="GATEWAY_ERROR", source="NA", step="NA", reason="NA"
        )
    if status >= 500:
        return _error(
            status,
            "The server encountered an error. The incident has been reported to admins.",
            code="SERVER_ERROR",
            source="NA",
            step="NA",
            reason="NA",
        )
    return _bad(f"Injected HTTP {status}")


def unauthorized() -> Answer:
    return _error(401, "Authentication failed", source="NA", step="NA", reason="NA")


def in_progress() -> Answer:
    return _error(
        409,
        "A request with this idempotency key is still being processed; retry later",
        source="NA",
        step="NA",
        reason="NA",
    )


@dataclass
class Payment:
    id: str
    amount: int
    currency: str  # upper case, as Razorpay writes it
    captured: bool = True


@dataclass
class StoredRefund:
    id: str
    amount: int
    currency: str
    payment_id: str
    status: str
    speed_requested: str
    notes: dict[str, Any]
    receipt: str | None
    created_at: int
    sequence: int

    def entity(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "entity": "refund",
            "amount": self.amount,
            "currency": self.currency,
            "payment_id": self.payment_id,
            "notes": dict(self.notes) if self.notes else [],
            "receipt": self.receipt,
            "acquirer_data": {"arn": None},
            "created_at": self.created_at,
            "batch_id": None,
            "status": self.status,
            "speed_processed": "normal",
            "speed_requested": self.speed_requested,
        }


@dataclass
class Bound:
    """A key's first request (payment and body) and the refund it made."""

    request: tuple[str, str]
    refund_id: str
    in_flight: bool = True


@dataclass
class Fault:
    status: int | None = None  # answer this error instead of handling the call
    hang: float = 0.0  # or answer 504 this late, without handling the call
    slow: float = 0.0  # or handle the call and answer it this late
    method: str | None = None
    path: str | None = None  # only calls whose path contains this

    def matches(self, method: str, path: str) -> bool:
        return self.method in (None, method) and (self.path is None or self.path in path)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Any
    idempotency_key: str | None
    raw: bytes = b""


@dataclass
class FakeRazorpay:
    key_id: str = KEY_ID
    key_secret: str = KEY_SECRET
    auto_payments: bool = False
    #: The currency of the payments `auto_payments` makes up.
    auto_currency: str = "INR"
    payments: dict[str, Payment] = field(default_factory=dict)
    refunds: dict[str, StoredRefund] = field(default_factory=dict)
    keys: dict[str, Bound] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    refunds_created: int = 0
    pending: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)
    released: threading.Event = field(default_factory=threading.Event)
    url: str = ""
    server: FakeServer | None = field(default=None, repr=False)

    # --- test controls -------------------------------------------------------------------

    def add_payment(
        self, payment_id: str, amount: int, currency: str = "INR", *, captured: bool = True
    ) -> Payment:
        """A payment Razorpay holds; refundable up to `amount` once captured."""
        with self.lock:
            payment = Payment(payment_id, amount, currency.upper(), captured)
            self.payments[payment_id] = payment
            return payment

    def capture(self, payment_id: str) -> None:
        with self.lock:
            self.payments[payment_id].captured = True

    def fail_next(
        self, status: int, times: int = 1, *, method: str | None = None, path: str | None = None
    ) -> None:
        """The next `times` matching calls answer `status` with Razorpay's error body,
        refunding nothing."""
        with self.lock:
            self.faults.extend(Fault(status=status, method=method, path=path) for _ in range(times))

    def hang_next(
        self, seconds: float, times: int = 1, *, method: str | None = None, path: str | None = None
    ) -> None:
        """The next `times` matching calls are answered 504 `seconds` late, unhandled."""
        with self.lock:
            self.faults.extend(Fault(hang=seconds, method=method, path=path) for _ in range(times))

    def slow_next(
        self, seconds: float, times: int = 1, *, method: str | None = None, path: str | None = None
    ) -> None:
        """The next `times` matching calls are handled at once and answered `seconds` late;
        a refund's key stays in flight meanwhile (a retry with it gets 409)."""
        with self.lock:
            self.faults.extend(Fault(slow=seconds, method=method, path=path) for _ in range(times))

    def pending_next(self, times: int = 1) -> None:
        """The next `times` refunds are created `pending` (see `confirm`, `fail_refund`)."""
        with self.lock:
            self.pending += times

    def confirm(self, refund_id: str) -> None:
        """A pending refund is processed."""
        with self.lock:
            self.refunds[refund_id].status = "processed"

    def fail_refund(self, refund_id: str) -> None:
        """A refund fails after acceptance; its amount can be refunded again."""
        with self.lock:
            self.refunds[refund_id].status = "failed"

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def refunds_of(self, payment_id: str) -> list[StoredRefund]:
        with self.lock:
            return [r for r in self.refunds.values() if r.payment_id == payment_id]

    def calls_to(self, method: str, path: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method and c.path == path]

    def adapter_env(self) -> dict[str, str]:
        """The adapter's settings for a process of its own (`ADMIN_TEST_RAZORPAY_*`)."""
        return {
            "ADMIN_TEST_RAZORPAY_API_BASE": self.url,
            "ADMIN_TEST_RAZORPAY_KEY_ID": self.key_id,
            "ADMIN_TEST_RAZORPAY_KEY_SECRET": self.key_secret,
        }

    def stop(self) -> None:
        """Stop serving (hung and slow calls are answered at once)."""
        self.released.set()
        if self.server is not None:
            self.server.stop()
            self.server = None

    # --- the API ---------------------------------------------------------------------------

    def authenticate(self, headers: Mapping[str, str]) -> Answer | None:
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme != "Basic":  # Razorpay: exactly `Basic <base64>`
            return unauthorized()
        try:
            key_id, _, secret = base64.b64decode(credentials, validate=True).decode().partition(":")
        except ValueError:
            return unauthorized()
        if (key_id, secret) != (self.key_id, self.key_secret):
            return unauthorized()
        return None

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    self.faults.remove(fault)
                    return fault
        return None

    def start_refund(self, payment_id: str, raw: bytes, key: str | None) -> tuple[Answer, bool]:
        """`POST /v1/payments/{id}/refund` up to its answer: (answer, whether `key` is now in
        flight — then `finish_refund` releases it)."""
        with self.lock:
            if key is not None and not _KEY.fullmatch(key):
                return (
                    _bad(
                        "The idempotency key must be at least 10 characters long and contain "
                        "only letters, digits, hyphens and underscores",
                        field="X-Refund-Idempotency",
                    ),
                    False,
                )
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                return _bad("The request body is not valid JSON"), False
            if not isinstance(body, dict):
                return _bad("The request body must be a JSON object"), False
            request = (payment_id, json.dumps(body, sort_keys=True))
            if key is not None and key in self.keys:
                bound = self.keys[key]
                if bound.request != request:
                    # Razorpay's documented answer ("Create a Normal Refund (Idempotent
                    # Request)"), word for word.
                    reused = _error(
                        400,
                        "Different request with the same idempotency key has already been "
                        "processed.",
                        source="NA",
                        step="NA",
                        reason="NA",
                    )
                    return reused, False
                if bound.in_flight:
                    return in_progress(), False
                return (200, self.refunds[bound.refund_id].entity()), False
            answer = self._validate(body) or self._execute(payment_id, body)
            if answer[0] != 200 or key is None:
                return answer, False
            self.keys[key] = Bound(request, str(answer[1]["id"]))
            return answer, True

    def finish_refund(self, key: str) -> None:
        with self.lock:
            self.keys[key].in_flight = False

    def _validate(self, body: Mapping[str, Any]) -> Answer | None:
        extra = sorted(set(body) - _FIELDS)
        if extra:
            return _bad(
                f"{', '.join(extra)} is/are not required and should not be sent", field=extra[0]
            )
        amount = body.get("amount")
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int | str)):
            return _bad("The amount must be an integer.", field="amount")
        if amount is not None:
            if not str(amount).isdigit():
                return _bad("The amount must be an integer.", field="amount")
            if int(amount) < 100:
                return _bad("The amount must be at least INR 1.00", field="amount")
        if body.get("speed", "normal") not in ("normal", "optimum"):
            return _bad("The selected speed is invalid.", field="speed")
        notes = body.get("notes", {})
        if notes == []:
            notes = {}
        if not isinstance(notes, dict) or len(notes) > 15:
            return _bad("notes must be an object of at most 15 pairs", field="notes")
        for name, value in notes.items():
            if not isinstance(value, str | int | float) or len(str(value)) > 256:
                return _bad(f"notes.{name} may have at most 256 characters", field="notes")
        receipt = body.get("receipt")
        if receipt is not None and (not isinstance(receipt, str) or len(receipt) > 40):
            return _bad("The receipt may not be greater than 40 characters.", field="receipt")
        return None

    def _execute(self, payment_id: str, body: Mapping[str, Any]) -> Answer:
        payment = self.payments.get(payment_id)
        if payment is None and self.auto_payments and payment_id.startswith("pay_"):
            payment = self.add_payment(
                payment_id, int(body.get("amount", 10_000)), self.auto_currency
            )
        if payment is None:
            return _no_such_id()
        if not payment.captured:
            return _bad("Only captured payments can be refunded", reason="payment_not_captured")
        held = sum(
            r.amount
            for r in self.refunds.values()
            if r.payment_id == payment.id and r.status in _HOLDING
        )
        left = payment.amount - held
        if left <= 0:
            return _bad("The payment has been fully refunded already", field="amount")
        amount = int(body.get("amount", left))
        if amount > left:
            return _bad(
                "The refund amount provided is greater than amount captured", field="amount"
            )
        status = "processed"
        if self.pending:
            self.pending -= 1
            status = "pending"
        notes = body.get("notes") or {}
        refund = StoredRefund(
            id=_id("rfnd_"),
            amount=amount,
            currency=payment.currency,
            payment_id=payment.id,
            status=status,
            speed_requested=str(body.get("speed", "normal")),
            notes=dict(notes),
            receipt=body.get("receipt"),
            created_at=int(time.time()),
            sequence=len(self.refunds),
        )
        self.refunds[refund.id] = refund
        self.refunds_created += 1
        return 200, refund.entity()

    def list_refunds(self, payment_id: str, query: Mapping[str, str]) -> Answer:
        count_text, skip_text = query.get("count", "10"), query.get("skip", "0")
        if not count_text.isdigit() or not 1 <= int(count_text) <= 100:
            return _bad("The count must be between 1 and 100.", field="count")
        if not skip_text.isdigit():
            return _bad("The skip must be an integer.", field="skip")
        with self.lock:
            if payment_id not in self.payments and not (
                self.auto_payments and payment_id.startswith("pay_")
            ):
                return _no_such_id()
            chosen = sorted(
                (r for r in self.refunds.values() if r.payment_id == payment_id),
                key=lambda r: (r.created_at, r.sequence),
                reverse=True,
            )
            page = chosen[int(skip_text) : int(skip_text) + int(count_text)]
            return 200, {
                "entity": "collection",
                "count": len(page),
                "items": [r.entity() for r in page],
            }

    def list_payments(self, query: Mapping[str, str]) -> Answer:
        """`GET /v1/payments?count=` (the health probe's read): the payments the fake knows,
        as a collection of minimal payment entities."""
        count_text = query.get("count", "10")
        if not count_text.isdigit() or not 1 <= int(count_text) <= 100:
            return _bad("The count must be between 1 and 100.", field="count")
        with self.lock:
            page = list(self.payments.values())[: int(count_text)]
            items = [
                {
                    "id": p.id,
                    "entity": "payment",
                    "amount": p.amount,
                    "currency": p.currency,
                    "status": "captured" if p.captured else "authorized",
                    "captured": p.captured,
                }
                for p in page
            ]
        return 200, {"entity": "collection", "count": len(items), "items": items}

    def get_refund(self, refund_id: str) -> Answer:
        with self.lock:
            refund = self.refunds.get(refund_id)
            return (200, refund.entity()) if refund is not None else _no_such_id()


def _respond(fake: FakeRazorpay) -> Callable[[Incoming], Reply]:
    def respond(incoming: Incoming) -> Reply:
        method, path = incoming.method, incoming.path
        segments = [unquote(s) for s in path.strip("/").split("/")]
        key = incoming.headers.get("x-refund-idempotency")
        with fake.lock:
            fake.calls.append(Call(method, path, incoming.json(), key, incoming.body))
        denied = fake.authenticate(incoming.headers)
        if denied is not None:
            return Reply(*denied)
        fault = fake.take_fault(method, path)
        if fault is not None and fault.hang:
            fake.released.wait(fault.hang)
            return Reply(*injected_error(504))
        if fault is not None and fault.status is not None:
            return Reply(*injected_error(fault.status))
        slow = fault.slow if fault is not None else 0.0
        query = dict(parse_qsl(incoming.query))
        of_a_payment = len(segments) == 4 and segments[:2] == ["v1", "payments"]
        if method == "POST" and of_a_payment and segments[3] == "refund":
            answer, in_flight = fake.start_refund(segments[2], incoming.body, key)
            try:
                if slow:
                    fake.released.wait(slow)
            finally:
                if in_flight and key is not None:
                    fake.finish_refund(key)
            return Reply(*answer)
        if method == "GET" and of_a_payment and segments[3] == "refunds":
            answer = fake.list_refunds(segments[2], query)
        elif method == "GET" and segments == ["v1", "payments"]:
            answer = fake.list_payments(query)
        elif method == "GET" and len(segments) == 3 and segments[:2] == ["v1", "refunds"]:
            answer = fake.get_refund(segments[2])
        else:
            answer = _error(
                404,
                "The requested URL was not found on the server.",
                source="NA",
                step="NA",
                reason="NA",
            )
        if slow:
            fake.released.wait(slow)
        return Reply(*answer)

    return respond


def start_fake_razorpay(*, auto_payments: bool = False) -> FakeRazorpay:
    """A fake started on a free port; `stop()` it."""
    fake = FakeRazorpay(auto_payments=auto_payments)
    fake.server = FakeServer(_respond(fake), name="razorpay", keep_alive=True)
    fake.url = fake.server.url
    return fake


def running_fake_razorpay(*, auto_payments: bool = True) -> FakeRazorpay:
    """A started fake (any `pay_…` a captured payment unless told otherwise); `stop()` it. For
    a test whose adapter runs in another process, configured from `adapter_env()`."""
    return start_fake_razorpay(auto_payments=auto_payments)


@contextmanager
def fake_razorpay(*, auto_payments: bool = False) -> Iterator[FakeRazorpay]:
    """A started fake, stopped after."""
    fake = start_fake_razorpay(auto_payments=auto_payments)
    try:
        yield fake
    finally:
        fake.stop()


def razorpay_gateway(fake: FakeRazorpay, **options: Any) -> RazorpayPaymentGateway:
    """A `RazorpayPaymentGateway` connected to the fake (2 s timeout unless given); `aclose()`
    it."""
    settings: dict[str, Any] = {
        "key_id": fake.key_id,
        "key_secret": fake.key_secret,
        "api_base": fake.url,
        "timeout_seconds": 2.0,
    }
    settings.update(options)
    return RazorpayPaymentGateway(settings.pop("key_id"), settings.pop("key_secret"), **settings)
