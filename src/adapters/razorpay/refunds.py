"""Razorpay as a payment gateway: full refunds of payments, once per idempotency key.

Calls (REST API over `httpx.AsyncClient`, HTTP Basic `key_id:key_secret`; docs/adr/0053 says
why not the `razorpay` SDK):
- `refund`: `POST /v1/payments/{payment_id}/refund` with header `X-Refund-Idempotency: <key>`
  and the body `{"amount", "speed": "normal", "notes": {"session_id", "idempotency_key"},
  "receipt"}`. Razorpay refuses a retry whose body differs from the first request's, so the
  body is built from the key's request alone — never from the admin's free-text reason — and is
  byte-identical on every retry. `receipt` is the key, or, past 40 characters, its first 27
  characters, "-" and 12 hex digits of its SHA-256 (Razorpay limits receipts to 40 characters
  on orders and documents no other limit for refunds; the full key is in `notes`).
- `find_refund`: `GET /v1/payments/{payment_id}/refunds` (all pages, 100 at a time), the
  refund whose `notes.idempotency_key` is the key.

One attempt per call, bounded by `timeout_seconds`; the caller re-drives with the same key.

Errors, by HTTP status and Razorpay's error `code` (never by description):
- `GatewayUnavailable` — the outcome is unknown and a retry with the same key is safe:
  timeouts, connection errors, 409 (the first request with the key is still being processed),
  429, 5xx, and any answer this table does not name (an unexpected status, a body that is not
  Razorpay's).
- `GatewayRefused` — Razorpay answered that it did not refund: 401 (`code`
  `authentication_failed`: the key id or secret is wrong), and a 4xx whose error `code` is
  `BAD_REQUEST_ERROR` (`code` `BAD_REQUEST_ERROR`; the message carries Razorpay's
  description, `field` and `reason`): a payment not captured or unknown, already refunded, a
  retry with a different body, a malformed key. A key Razorpay would refuse (fewer than 10 of
  `[A-Za-z0-9_-]`) is refused before any call (`code` `invalid_idempotency_key`).
`find_refund` raises only `GatewayUnavailable`: an error never proves that no refund exists,
except the one that the payment itself does not exist (400 `BAD_REQUEST_ERROR` on `field` `id`),
whose refunds are none: reconcile then re-drives the key and records Razorpay's refusal.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn
from urllib.parse import quote

import httpx

from adapters.http.answers import json_body
from admin_core.payments.model import Refund, RefundStatus
from admin_core.payments.ports import (
    GatewayRefused,
    GatewayUnavailable,
    PaymentGateway,
    RefundRequest,
)

#: Razorpay's refund statuses → ours (`created` is an older name of the pending state).
_STATUSES = {
    "created": RefundStatus.PENDING,
    "pending": RefundStatus.PENDING,
    "processed": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
}
_KEY = re.compile(r"[A-Za-z0-9_-]{10,}")
RECEIPT_MAX = 40
#: The largest page `GET /v1/payments/{id}/refunds` serves (`count`).
_PAGE = 100
BAD_REQUEST = "BAD_REQUEST_ERROR"


def receipt_for(key: str) -> str:
    """The refund's `receipt`: the key, shortened to 40 characters the same way every time."""
    if len(key) <= RECEIPT_MAX:
        return key
    return f"{key[:27]}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _segment(value: str) -> str:
    """One path segment, so an id can never change the path it is put in."""
    return quote(value, safe="")


def _error(response: httpx.Response) -> dict[str, Any]:
    """Razorpay's `error` object, empty when the body is not Razorpay's error shape."""
    try:
        body = json_body(response)
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, Mapping) else None
    return dict(error) if isinstance(error, Mapping) else {}


def _unknown_payment(response: httpx.Response) -> bool:
    """Razorpay's answer that the payment in the path does not exist."""
    error = _error(response) if response.status_code == 400 else {}
    return error.get("code") == BAD_REQUEST and error.get("field") == "id"


def _said(response: httpx.Response, error: Mapping[str, Any]) -> str:
    parts = [f"HTTP {response.status_code}"]
    parts += [
        f"{name} {error[name]}"
        for name in ("code", "field", "reason")
        if isinstance(error.get(name), str) and error[name] not in ("", "NA")
    ]
    description = error.get("description")
    lead = description if isinstance(description, str) and description else "no description"
    return f"{lead} ({', '.join(parts)})"


def _notes(entity: Mapping[str, Any]) -> Mapping[str, Any]:
    notes = entity.get("notes")  # Razorpay sends `[]` for no notes
    return notes if isinstance(notes, Mapping) else {}


def _refund(entity: Any) -> Refund:
    """Our refund from Razorpay's refund entity (GatewayUnavailable when it is not one)."""
    try:
        return Refund(
            id=str(entity["id"]),
            status=_STATUSES.get(str(entity.get("status")), RefundStatus.PENDING),
            amount_minor=int(entity["amount"]),
            currency=str(entity["currency"]).upper(),
            provider=RazorpayPaymentGateway.name,
            created_at=datetime.fromtimestamp(int(entity["created_at"]), UTC),
        )
    except (KeyError, TypeError, ValueError) as error:
        unreadable = GatewayUnavailable(f"Razorpay answered with an unreadable refund: {error!r}")
        raise unreadable from error


class RazorpayPaymentGateway(PaymentGateway):
    """Razorpay's refunds over its REST API (see the module docstring for the rules)."""

    name = "razorpay"

    def __init__(
        self,
        key_id: str,
        key_secret: str,
        *,
        api_base: str = "https://api.razorpay.com",
        timeout_seconds: float = 10.0,
    ) -> None:
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        self._timeout = timeout_seconds
        self._client = httpx.AsyncClient(
            base_url=api_base.rstrip("/"),
            auth=httpx.BasicAuth(key_id, key_secret),
            timeout=timeout_seconds,
            headers={"Accept": "application/json", "User-Agent": "admin-core"},
        )

    async def refund(self, request: RefundRequest) -> Refund:
        if not _KEY.fullmatch(request.key):
            raise GatewayRefused(
                f"The idempotency key {request.key!r} is not one Razorpay accepts "
                "(at least 10 of A-Z, a-z, 0-9, '-' and '_')",
                code="invalid_idempotency_key",
            )
        body = {
            "amount": request.amount_minor,
            "speed": "normal",
            "notes": {"session_id": request.session_id, "idempotency_key": request.key},
            "receipt": receipt_for(request.key),
        }
        response = await self._send(
            "POST",
            f"/v1/payments/{_segment(request.payment_ref)}/refund",
            json=body,
            headers={"X-Refund-Idempotency": request.key},
        )
        if not response.is_success:
            self._raise_translated(response)
        return _refund(self._json(response))

    async def find_refund(self, request: RefundRequest) -> Refund | None:
        path = f"/v1/payments/{_segment(request.payment_ref)}/refunds"
        skip = 0
        while True:
            response = await self._send("GET", path, params={"count": _PAGE, "skip": skip})
            if _unknown_payment(response):
                return None
            if not response.is_success:
                raise GatewayUnavailable(
                    f"Razorpay did not list the payment's refunds: "
                    f"{_said(response, _error(response))}"
                )
            collection = self._json(response)
            items = collection.get("items") if isinstance(collection, Mapping) else None
            if not isinstance(items, list):
                raise GatewayUnavailable("Razorpay answered the refunds list without `items`")
            for entity in items:
                if not isinstance(entity, Mapping):  # it could be ours: nothing is proved
                    raise GatewayUnavailable("Razorpay listed a refund that is not an object")
                if _notes(entity).get("idempotency_key") == request.key:
                    return _refund(entity)
            if len(items) < _PAGE:
                return None
            skip += len(items)

    async def aclose(self) -> None:
        """Close the HTTP client (its connection pool)."""
        await self._client.aclose()

    async def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            return await self._client.request(method, path, **options)
        except httpx.TimeoutException as error:
            raise GatewayUnavailable(
                f"Razorpay did not answer within {self._timeout:g} s ({type(error).__name__})"
            ) from error
        except httpx.HTTPError as error:
            raise GatewayUnavailable(f"Razorpay was not reached: {error!r}") from error

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return json_body(response)
        except ValueError as error:
            raise GatewayUnavailable(
                f"Razorpay answered HTTP {response.status_code} with a body that is not JSON"
            ) from error

    @staticmethod
    def _raise_translated(response: httpx.Response) -> NoReturn:
        """The port's error for a failed refund request (see the module's table)."""
        status = response.status_code
        error = _error(response)
        if status == 401:
            raise GatewayRefused(
                "Razorpay refused the credentials; check the Razorpay key id and key secret: "
                f"{_said(response, error)}",
                code="authentication_failed",
            )
        if status in (409, 429) or status >= 500:
            raise GatewayUnavailable(f"Razorpay failed: {_said(response, error)}")
        if 400 <= status < 500 and error.get("code") == BAD_REQUEST:
            raise GatewayRefused(
                f"Razorpay refused the refund: {_said(response, error)}", code=BAD_REQUEST
            )
        raise GatewayUnavailable(f"Razorpay answered unexpectedly: {_said(response, error)}")
