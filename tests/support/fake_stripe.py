"""A local fake of Stripe's refunds, for what stripe-mock (stateless) cannot show.

A real HTTP server on 127.0.0.1 (random port, a thread) that follows Stripe's documented API
for refunds, as the official SDK calls it (form-encoded bodies, `metadata[key]=value`):

- Auth: `Authorization: Bearer <secret key>` (or Basic with the key as user name). No key or
  another key: 401 `{"error": {"type": "invalid_request_error", "message": ...}}`.
- `POST /v1/refunds` (`payment_intent` or `charge`, `amount`, `reason`, `metadata`): a refund
  of a payment the fake knows (`add_payment`; with `auto_payments=True` any `pi_…` is a
  captured payment of the requested amount). Refunds are `succeeded` at once, or `pending`
  after `pending_next()` until `confirm(refund_id)` (or `fail_refund`). Unknown payment intent:
  400 `resource_missing`; nothing left to refund: 400 `charge_already_refunded`; more than is
  left: 400 `amount_too_large`; malformed parameters: 400 `invalid_request_error`.
- Idempotency (`Idempotency-Key`, Stripe's docs "Idempotent requests"): the first answer of a
  key — status and body, errors and 5xx included — is saved once the endpoint starts executing
  and replayed for the same key with `Idempotent-Replayed: true`; the same key with other
  parameters: 400 `idempotency_error`; the same key while its first request still runs: 409
  `idempotency_error` (`idempotency_key_in_use`). Requests refused before execution (auth,
  parameter validation, an injected fault not marked `saved`) save nothing.
- `GET /v1/refunds?payment_intent=&charge=&limit=&starting_after=` (newest first, pages with
  `has_more`; an unknown payment intent is 400 `resource_missing`) and `GET /v1/refunds/{id}`
  (404 `resource_missing`).
- `GET /v1/balance` (the health probe's read): an empty test-mode balance.

Test controls: `fail_next(status, times, saved=False)` answers an error instead of handling
the call (`saved=True`: as a failure after execution began — saved for the key, nothing
refunded), `hang_next(seconds, times)` answers 504 that late without handling the call,
`slow_next(seconds, times)` handles the call and answers it that late (its key stays in flight
meanwhile), each optionally only for a method or a path containing some text; `pending_next`,
`confirm`, `fail_refund`; `forget_keys` (keys pruned, as after 24 hours); `refunds_created`
counts refunds really made; `calls` records every request.

`fake_stripe()` runs one for a `with` block; `stripe_gateway(fake)` builds a `StripePaymentGateway`
connected to it (close it with `aclose()`); `running_fake_stripe()` starts one with
`auto_payments=True` (`stop()` it) for an adapter in another process (`adapter_env()`).
"""

from __future__ import annotations

import base64
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from adapters.stripe.refunds import StripePaymentGateway
from tests.support.fake_http import FakeServer, Incoming, Reply

API_KEY = "sk_test_fake_stripe_secret_key"
_ALPHABET = string.ascii_letters + string.digits
_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
#: Refunds that hold the payment's money (a failed or canceled one gives it back).
_HOLDING = ("pending", "requires_action", "succeeded")
_PARAMETERS = frozenset(
    {
        "amount",
        "charge",
        "payment_intent",
        "reason",
        "refund_application_fee",
        "reverse_transfer",
        "instructions_email",
        "origin",
        "currency",
        "customer",
    }
)
_LIST_PARAMETERS = frozenset(
    {"payment_intent", "charge", "limit", "starting_after", "ending_before", "created"}
)

Answer = tuple[int, dict[str, Any]]


def _id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def _error(status: int, type_: str, message: str, **more: Any) -> Answer:
    return status, {"error": {"type": type_, "message": message, **more}}


def _invalid(message: str, *, code: str | None = None, param: str | None = None) -> Answer:
    more = {k: v for k, v in (("code", code), ("param", param)) if v is not None}
    return _error(400, "invalid_request_error", message, **more)


def injected_error(status: int) -> Answer:
    """The body Stripe sends with `status` (for `fail_next`)."""
    if status == 401:
        return _error(401, "invalid_request_error", "Invalid API Key provided: sk_test_****")
    if status == 402:
        return _error(402, "card_error", "Your card was declined.", code="card_declined")
    if status == 409:
        return idempotency_in_use()
    if status == 429:
        return _error(
            429,
            "invalid_request_error",
            "Too many requests hit the API too quickly.",
            code="rate_limit",
        )
    if status >= 500:
        return _error(status, "api_error", f"Injected HTTP {status}.")
    return _error(status, "invalid_request_error", f"Injected HTTP {status}.")


def idempotency_in_use() -> Answer:
    return _error(
        409,
        "idempotency_error",
        "There is currently another in-progress request using this Idempotent Key (that "
        "probably means you submitted twice, and the other request is still going through). "
        "Please try again later.",
        code="idempotency_key_in_use",
    )


@dataclass
class Payment:
    id: str
    amount: int
    currency: str  # lower case, as Stripe writes it
    charge: str = field(default_factory=lambda: _id("ch_"))


@dataclass
class StoredRefund:
    id: str
    amount: int
    currency: str
    payment_intent: str
    charge: str
    status: str
    reason: str | None
    metadata: dict[str, str]
    created: int
    sequence: int
    failure_reason: str | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "refund",
            "amount": self.amount,
            "balance_transaction": None,
            "charge": self.charge,
            "created": self.created,
            "currency": self.currency,
            "destination_details": None,
            "metadata": dict(self.metadata),
            "payment_intent": self.payment_intent,
            "reason": self.reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": self.status,
            "transfer_reversal": None,
        }
        if self.failure_reason is not None:
            body["failure_reason"] = self.failure_reason
        return body


@dataclass(frozen=True)
class Saved:
    """A key's first request (method, path, parameters) and its answer."""

    request: tuple[str, str, tuple[tuple[str, str], ...]]
    status: int
    body: dict[str, Any]


@dataclass
class Fault:
    status: int | None = None  # answer this error instead of handling the call
    saved: bool = False  # ... as a failure after execution began (saved for the key)
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
    params: tuple[tuple[str, str], ...]
    idempotency_key: str | None


@dataclass
class FakeStripe:
    api_key: str = API_KEY
    auto_payments: bool = False
    #: The currency of the payments `auto_payments` makes up.
    auto_currency: str = "usd"
    payments: dict[str, Payment] = field(default_factory=dict)
    refunds: dict[str, StoredRefund] = field(default_factory=dict)
    saved: dict[str, Saved] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)
    faults: list[Fault] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    refunds_created: int = 0
    pending: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)
    released: threading.Event = field(default_factory=threading.Event)
    url: str = ""
    server: FakeServer | None = field(default=None, repr=False)

    # --- test controls -------------------------------------------------------------------

    def add_payment(self, payment_intent: str, amount: int, currency: str = "usd") -> Payment:
        """A captured payment Stripe holds, refundable up to `amount`."""
        with self.lock:
            payment = Payment(payment_intent, amount, currency.lower())
            self.payments[payment_intent] = payment
            return payment

    def fail_next(
        self,
        status: int,
        times: int = 1,
        *,
        saved: bool = False,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """The next `times` matching calls answer `status` with Stripe's error body, refunding
        nothing. `saved=True`: as if the endpoint had begun and failed, so the answer is saved
        for the call's `Idempotency-Key` and replayed for it (as Stripe does with a 500)."""
        with self.lock:
            self.faults.extend(
                Fault(status=status, saved=saved, method=method, path=path) for _ in range(times)
            )

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
        a refund's key stays in flight meanwhile (a second request with it gets 409)."""
        with self.lock:
            self.faults.extend(Fault(slow=seconds, method=method, path=path) for _ in range(times))

    def pending_next(self, times: int = 1) -> None:
        """The next `times` refunds are created `pending` (see `confirm`, `fail_refund`)."""
        with self.lock:
            self.pending += times

    def confirm(self, refund_id: str) -> None:
        """A pending refund succeeds, as Stripe's `refund.updated` would report."""
        with self.lock:
            self.refunds[refund_id].status = "succeeded"

    def fail_refund(self, refund_id: str, reason: str = "declined") -> None:
        """A refund fails after acceptance; its amount can be refunded again."""
        with self.lock:
            refund = self.refunds[refund_id]
            refund.status, refund.failure_reason = "failed", reason

    def forget_keys(self) -> None:
        """Prune every saved idempotency key, as Stripe may once a key is 24 hours old: a
        request with a forgotten key is handled afresh."""
        with self.lock:
            self.saved.clear()

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def refunds_of(self, payment_intent: str) -> list[StoredRefund]:
        with self.lock:
            return [r for r in self.refunds.values() if r.payment_intent == payment_intent]

    def calls_to(self, method: str, path: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method and c.path == path]

    def adapter_env(self) -> dict[str, str]:
        """The adapter's settings for a process of its own (`ADMIN_TEST_STRIPE_*`)."""
        return {"ADMIN_TEST_STRIPE_API_BASE": self.url, "ADMIN_TEST_STRIPE_API_KEY": self.api_key}

    def stop(self) -> None:
        """Stop serving (hung and slow calls are answered at once)."""
        self.released.set()
        if self.server is not None:
            self.server.stop()
            self.server = None

    # --- the API ---------------------------------------------------------------------------

    def authenticate(self, headers: Mapping[str, str]) -> Answer | None:
        """None when the secret key is right, else Stripe's 401."""
        authorization = headers.get("authorization", "")
        scheme, _, credentials = authorization.partition(" ")
        key = ""
        if scheme.lower() == "bearer":
            key = credentials.strip()
        elif scheme.lower() == "basic":
            try:
                key = base64.b64decode(credentials).decode().partition(":")[0]
            except ValueError:
                key = ""
        if not key:
            return _error(
                401,
                "invalid_request_error",
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        if key != self.api_key:
            return _error(
                401, "invalid_request_error", f"Invalid API Key provided: {key[:8]}****{key[-4:]}"
            )
        return None

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    self.faults.remove(fault)
                    return fault
        return None

    def start_refund(
        self, params: Sequence[tuple[str, str]], key: str | None, fault: Fault | None
    ) -> tuple[Answer, dict[str, str], bool]:
        """`POST /v1/refunds` up to its answer: (answer, extra headers, whether `key` is now
        in flight — then `finish_refund` saves the answer for it)."""
        request = ("POST", "/v1/refunds", tuple(sorted(params)))
        with self.lock:
            if key is not None:
                if len(key) > 255:
                    return (
                        _invalid("Idempotency-Key must be at most 255 characters long."),
                        {},
                        False,
                    )
                saved = self.saved.get(key)
                if saved is not None:
                    if saved.request != request:
                        return (
                            _error(
                                400,
                                "idempotency_error",
                                "Keys for idempotent requests can only be used with the same "
                                "parameters they were first used with. Try using a key other "
                                f"than '{key}' if you meant to execute a different request.",
                            ),
                            {},
                            False,
                        )
                    return (saved.status, saved.body), {"Idempotent-Replayed": "true"}, False
                if key in self.in_flight:
                    return idempotency_in_use(), {}, False
            invalid = self._validate(params)
            if invalid is not None:
                return invalid, {}, False
            if fault is not None and fault.saved and fault.status is not None:
                answer = injected_error(fault.status)
            else:
                answer = self._execute(params)
            if key is not None:
                self.in_flight.add(key)
            return answer, {}, key is not None

    def finish_refund(self, params: Sequence[tuple[str, str]], key: str, answer: Answer) -> None:
        with self.lock:
            self.saved[key] = Saved(("POST", "/v1/refunds", tuple(sorted(params))), *answer)
            self.in_flight.discard(key)

    def _validate(self, params: Sequence[tuple[str, str]]) -> Answer | None:
        flat = dict(params)
        for name in flat:
            if name.startswith("metadata[") and name.endswith("]"):
                if len(name) - 10 > 40:
                    return _invalid(
                        "Metadata keys can have a maximum length of 40 characters.",
                        param=name,
                    )
                continue
            if name not in _PARAMETERS and not name.startswith("expand["):
                return _invalid(
                    f"Received unknown parameter: {name}", code="parameter_unknown", param=name
                )
        metadata = {k: v for k, v in flat.items() if k.startswith("metadata[")}
        if len(metadata) > 50:
            return _invalid("Metadata can have at most 50 keys.", param="metadata")
        for name, value in metadata.items():
            if len(value) > 500:
                return _invalid(
                    "Metadata values can have a maximum length of 500 characters.", param=name
                )
        if not flat.get("payment_intent") and not flat.get("charge"):
            return _invalid(
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
                code="parameter_missing",
            )
        if "amount" in flat and not (flat["amount"].isdigit() and int(flat["amount"]) > 0):
            return _invalid(
                "Invalid positive integer", code="parameter_invalid_integer", param="amount"
            )
        if "reason" in flat and flat["reason"] not in _REASONS:
            return _invalid(
                "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
                code="parameter_invalid_string",
                param="reason",
            )
        return None

    def _payment(self, flat: Mapping[str, str]) -> Payment | None:
        if "payment_intent" in flat:
            payment = self.payments.get(flat["payment_intent"])
            if payment is None and self.auto_payments and flat["payment_intent"].startswith("pi_"):
                amount = int(flat.get("amount", "10000"))
                payment = self.add_payment(flat["payment_intent"], amount, self.auto_currency)
            return payment
        return next((p for p in self.payments.values() if p.charge == flat.get("charge")), None)

    def _execute(self, params: Sequence[tuple[str, str]]) -> Answer:
        flat = dict(params)
        payment = self._payment(flat)
        if payment is None:
            which = "payment_intent" if "payment_intent" in flat else "charge"
            return _invalid(
                f"No such {which}: '{flat[which]}'", code="resource_missing", param=which
            )
        held = sum(
            r.amount
            for r in self.refunds.values()
            if r.payment_intent == payment.id and r.status in _HOLDING
        )
        left = payment.amount - held
        if left <= 0:
            return _invalid(
                f"Charge {payment.charge} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = int(flat.get("amount", left))
        if amount > left:
            return _invalid(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                code="amount_too_large",
                param="amount",
            )
        status = "succeeded"
        if self.pending:
            self.pending -= 1
            status = "pending"
        refund = StoredRefund(
            id=_id("re_"),
            amount=amount,
            currency=payment.currency,
            payment_intent=payment.id,
            charge=payment.charge,
            status=status,
            reason=flat.get("reason"),
            metadata={k[9:-1]: v for k, v in flat.items() if k.startswith("metadata[")},
            created=int(time.time()),
            sequence=len(self.refunds),
        )
        self.refunds[refund.id] = refund
        self.refunds_created += 1
        return 200, refund.body()

    def list_refunds(self, params: Sequence[tuple[str, str]]) -> Answer:
        flat = dict(params)
        for name in flat:
            if name not in _LIST_PARAMETERS and not name.startswith(("expand[", "created[")):
                return _invalid(
                    f"Received unknown parameter: {name}", code="parameter_unknown", param=name
                )
        limit_text = flat.get("limit", "10")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
            return _invalid(
                f"This value must be between 1 and 100 (it currently is {limit_text}).",
                param="limit",
            )
        with self.lock:
            chosen = sorted(self.refunds.values(), key=lambda r: (r.created, r.sequence))
            chosen.reverse()
            if "payment_intent" in flat:
                pi = flat["payment_intent"]
                if pi not in self.payments and not self.auto_payments:
                    return _invalid(
                        f"No such payment_intent: '{pi}'",
                        code="resource_missing",
                        param="payment_intent",
                    )
                chosen = [r for r in chosen if r.payment_intent == pi]
            if "charge" in flat:
                chosen = [r for r in chosen if r.charge == flat["charge"]]
            if "starting_after" in flat:
                ids = [r.id for r in chosen]
                if flat["starting_after"] not in ids:
                    return _invalid(
                        f"No such refund: '{flat['starting_after']}'",
                        code="resource_missing",
                        param="starting_after",
                    )
                chosen = chosen[ids.index(flat["starting_after"]) + 1 :]
            limit = int(limit_text)
            return 200, {
                "object": "list",
                "data": [r.body() for r in chosen[:limit]],
                "has_more": len(chosen) > limit,
                "url": "/v1/refunds",
            }

    def balance(self) -> dict[str, Any]:
        """`GET /v1/balance` (the health probe's read): an empty test-mode balance."""
        amounts = [{"amount": 0, "currency": self.auto_currency, "source_types": {"card": 0}}]
        return {"object": "balance", "available": amounts, "pending": amounts, "livemode": False}

    def get_refund(self, refund_id: str) -> Answer:
        with self.lock:
            refund = self.refunds.get(refund_id)
            if refund is None:
                _, body = _invalid(
                    f"No such refund: '{refund_id}'", code="resource_missing", param="id"
                )
                return 404, body
            return 200, refund.body()


def _respond(fake: FakeStripe) -> Callable[[Incoming], Reply]:
    def respond(incoming: Incoming) -> Reply:
        method, path = incoming.method, incoming.path
        query = parse_qsl(incoming.query, keep_blank_values=True)
        form = parse_qsl(incoming.body.decode("utf-8", "replace"), keep_blank_values=True)
        key = incoming.headers.get("idempotency-key")
        with fake.lock:
            fake.calls.append(Call(method, path, tuple(form if method == "POST" else query), key))
        denied = fake.authenticate(incoming.headers)
        if denied is not None:
            return _reply(denied)
        fault = fake.take_fault(method, path)
        if fault is not None and fault.hang:
            fake.released.wait(fault.hang)
            return _reply(_error(504, "api_error", "Injected hang."))
        creating = method == "POST" and path == "/v1/refunds"
        if fault is not None and fault.status is not None and not (fault.saved and creating):
            return _reply(injected_error(fault.status))
        slow = fault.slow if fault is not None else 0.0
        if creating:
            answer, extra, in_flight = fake.start_refund(form, key, fault)
            try:
                if slow:
                    fake.released.wait(slow)
            finally:
                if in_flight and key is not None:
                    fake.finish_refund(form, key, answer)
            return _reply(answer, extra)
        if method == "GET" and path == "/v1/balance":
            answer = 200, fake.balance()
        elif method == "GET" and path == "/v1/refunds":
            answer = fake.list_refunds(query)
        elif method == "GET" and path.startswith("/v1/refunds/"):
            answer = fake.get_refund(unquote(path.removeprefix("/v1/refunds/")))
        else:
            _, body = _invalid(
                f"Unrecognized request URL ({method}: {path}). Please see "
                "https://stripe.com/docs or we can help at https://support.stripe.com/."
            )
            answer = 404, body
        if slow:
            fake.released.wait(slow)
        return _reply(answer)

    return respond


def _reply(answer: tuple[int, Mapping[str, Any]], extra: Mapping[str, str] | None = None) -> Reply:
    """Stripe's answer: JSON, with a request id, as every Stripe response has."""
    status, body = answer
    return Reply(status, body, {"request-id": _id("req_"), **(extra or {})})


def start_fake_stripe(*, auto_payments: bool = False, api_key: str = API_KEY) -> FakeStripe:
    """A fake started on a free port; `stop()` it."""
    fake = FakeStripe(api_key=api_key, auto_payments=auto_payments)
    fake.server = FakeServer(_respond(fake), name="stripe", keep_alive=True)
    fake.url = fake.server.url
    return fake


def running_fake_stripe(*, auto_payments: bool = True) -> FakeStripe:
    """A started fake (any `pi_…` a captured payment unless told otherwise); `stop()` it. For a
    test whose adapter runs in another process, configured from `adapter_env()`."""
    return start_fake_stripe(auto_payments=auto_payments)


@contextmanager
def fake_stripe(*, auto_payments: bool = False) -> Iterator[FakeStripe]:
    """A started fake, stopped after."""
    fake = start_fake_stripe(auto_payments=auto_payments)
    try:
        yield fake
    finally:
        fake.stop()


def stripe_gateway(fake: FakeStripe, **options: Any) -> StripePaymentGateway:
    """A `StripePaymentGateway` connected to the fake (2 s timeout, 1 retry unless given);
    `aclose()` it."""
    settings: dict[str, Any] = {
        "api_key": fake.api_key,
        "api_base": fake.url,
        "timeout_seconds": 2.0,
        "max_network_retries": 1,
    }
    settings.update(options)
    api_key = settings.pop("api_key")
    return StripePaymentGateway(api_key, **settings)
