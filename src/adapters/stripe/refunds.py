"""Stripe as a payment gateway: full refunds of payment intents, once per idempotency key.

Calls (official SDK `stripe` ≥ 16, `StripeClient` on `stripe.HTTPXClient`, async):
- `refund`: `POST /v1/refunds` with `payment_intent`, `amount` (the whole payment),
  `reason=requested_by_customer` and `metadata` `{session_id, idempotency_key}`, header
  `Idempotency-Key: <request.key>`. The body depends on the key's request only — never on the
  admin's free-text reason, which may differ between two calls that re-drive one attempt — so
  every retry sends the same parameters, as Stripe's idempotency layer requires.
- `find_refund`: `GET /v1/refunds?payment_intent=…` (all pages), the refund whose
  `metadata.idempotency_key` is the key. Stripe keeps idempotency keys for at least 24 hours
  only; the metadata is kept for ever, so `find_refund` still answers after the key is pruned.

Retries. The SDK itself retries (`max_network_retries` times, after 0.5 s doubling with
jitter, at most 5 s apart): connection errors and timeouts (any httpx error, as
`APIConnectionError(should_retry=True)`), HTTP 409 (a concurrent request with the same key),
HTTP 5xx, and whatever Stripe marks `Stripe-Should-Retry: true`; never a 429 or another 4xx
unless so marked, and never one marked `Stripe-Should-Retry: false`. Each retry resends the
same `Idempotency-Key` header (the SDK builds the headers once per call), so Stripe answers a
retry with the first request's saved result instead of refunding again: the retries are safe.
`timeout_seconds` bounds each attempt; a call lasts at most about
`(max_network_retries + 1) × timeout_seconds` plus the waits between attempts.

Errors, by SDK class and HTTP status (never by message):
- `GatewayUnavailable` — the outcome is unknown and a retry with the same key is safe:
  `APIConnectionError` (not reached, no answer in time), `RateLimitError` (429),
  `IdempotencyError` with 409 or any `APIError` (409 concurrent request with the key, 5xx,
  an answer that is not Stripe's, even one the SDK fails on), and any Stripe error this table
  does not name;
  `GatewayFailureReplayed`, one of them, when the 5xx is one Stripe saved for the key and
  replays (`Idempotent-Replayed: true`): retrying that key cannot succeed.
- `GatewayRefused` — Stripe answered that it did not refund: `InvalidRequestError` (400/404:
  `charge_already_refunded`, `resource_missing`, `amount_too_large`, …; `code` is Stripe's),
  `IdempotencyError` with 400 (the key was used with other parameters; `code`
  `idempotency_error`), `CardError` (402), `AuthenticationError` (401, `code`
  `authentication_failed`: the secret key is wrong) and `PermissionError` (403, `code`
  `permission_denied`: the key may not refund).
`find_refund` raises only `GatewayUnavailable`, except that a payment intent Stripe does not
know (`resource_missing` on `payment_intent`) has no refund: None.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NoReturn

import stripe
from stripe.params import RefundListParams

from admin_core.payments.model import Refund, RefundStatus
from admin_core.payments.ports import (
    GatewayFailureReplayed,
    GatewayRefused,
    GatewayUnavailable,
    PaymentGateway,
    RefundRequest,
)

#: Stripe's refund statuses → ours. `requires_action` waits for the customer's details.
_STATUSES = {
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
}
#: The largest page `GET /v1/refunds` serves.
_PAGE = 100


def _code(error: stripe.StripeError) -> str | None:
    """Stripe's error `code` (the SDK leaves it out of some error classes)."""
    if error.code:
        return error.code
    body = error.json_body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        return code if isinstance(code, str) else None
    return None


def _param(error: stripe.StripeError) -> str | None:
    body = error.json_body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        param = body["error"].get("param")
        return param if isinstance(param, str) else None
    return None


def _said(error: stripe.StripeError) -> str:
    status = f"HTTP {error.http_status}" if error.http_status else "no HTTP answer"
    code = _code(error)
    what = f"{status}, {code}" if code else status
    request_id = f", request {error.request_id}" if error.request_id else ""
    return f"{error.user_message or type(error).__name__} ({what}{request_id})"


def _unavailable(error: stripe.StripeError) -> GatewayUnavailable:
    if isinstance(error, stripe.APIConnectionError):
        return GatewayUnavailable(f"Stripe was not reached or did not answer in time: {error}")
    return GatewayUnavailable(f"Stripe failed: {_said(error)}")


def _raise_translated(error: stripe.StripeError) -> NoReturn:
    """The port's error for a failed `POST /v1/refunds` (see the module's table)."""
    status = error.http_status
    if isinstance(error, stripe.IdempotencyError):
        if status == 409:
            raise _unavailable(error) from error
        raise GatewayRefused(
            f"Stripe refused the idempotency key: it was used with other parameters: "
            f"{_said(error)}",
            code="idempotency_error",
        ) from error
    if isinstance(error, stripe.AuthenticationError):
        raise GatewayRefused(
            f"Stripe refused the API key; check the Stripe secret key: {_said(error)}",
            code="authentication_failed",
        ) from error
    if isinstance(error, stripe.PermissionError):
        raise GatewayRefused(
            f"Stripe does not let this API key refund: {_said(error)}",
            code="permission_denied",
        ) from error
    if isinstance(error, stripe.InvalidRequestError | stripe.CardError):
        refused = GatewayRefused(f"Stripe refused the refund: {_said(error)}", code=_code(error))
        raise refused from error
    if (status or 0) >= 500 and _replayed(error):
        raise GatewayFailureReplayed(
            f"Stripe replayed the failure it saved for this key: {_said(error)}"
        ) from error
    raise _unavailable(error) from error


def _replayed(error: stripe.StripeError) -> bool:
    """Whether Stripe answered with a result it saved for the key (`Idempotent-Replayed`)."""
    headers = error.headers or {}
    return any(
        name.lower() == "idempotent-replayed" and str(value).lower() == "true"
        for name, value in headers.items()
    )


def _metadata(refund: stripe.Refund) -> dict[str, object]:
    """The refund's metadata as a dict (a `StripeObject` is not a dict in SDK 16)."""
    return refund.metadata.to_dict() if refund.metadata is not None else {}


#: What reading a Stripe object that is not what its call returns raises (a missing field is
#: an AttributeError of the SDK's `StripeObject`, a field of another type one of the others).
_UNREADABLE = (AttributeError, KeyError, TypeError, ValueError, OverflowError)


def _unreadable(what: str, error: Exception) -> GatewayUnavailable:
    return GatewayUnavailable(f"Stripe answered with an unreadable {what}: {error!r}")


def _sdk_failed(error: Exception) -> GatewayUnavailable:
    """An answer the SDK itself fails on, before it gives us a Stripe object or error: an
    error body whose `error` is not an object (a gateway's `{"error": "upstream ..."}`) makes
    it raise AttributeError. Not Stripe's answer, so the outcome is unknown."""
    return GatewayUnavailable(f"Stripe's answer could not be read by its SDK: {error!r}")


def _refund(refund: stripe.Refund) -> Refund:
    """Our refund from Stripe's (GatewayUnavailable when the answer is not a refund)."""
    try:
        return Refund(
            id=str(refund.id),
            status=_STATUSES.get(str(refund.status or ""), RefundStatus.PENDING),
            amount_minor=int(refund.amount),
            currency=str(refund.currency).upper(),
            provider=StripePaymentGateway.name,
            created_at=datetime.fromtimestamp(int(refund.created), UTC),
        )
    except _UNREADABLE as error:
        raise _unreadable("refund", error) from error


class StripePaymentGateway(PaymentGateway):
    """Stripe's refunds through the official SDK (see the module docstring for the rules)."""

    name = "stripe"

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str = "https://api.stripe.com",
        timeout_seconds: float = 10.0,
        max_network_retries: int = 2,
    ) -> None:
        if timeout_seconds <= 0 or max_network_retries < 0:
            raise ValueError("timeout_seconds must be positive, max_network_retries ≥ 0")
        self._http = stripe.HTTPXClient(timeout=timeout_seconds)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")},
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    async def refund(self, request: RefundRequest) -> Refund:
        try:
            refund = await self._client.v1.refunds.create_async(
                {
                    "payment_intent": request.payment_ref,
                    "amount": request.amount_minor,
                    "reason": "requested_by_customer",
                    "metadata": {
                        "session_id": request.session_id,
                        "idempotency_key": request.key,
                    },
                },
                {"idempotency_key": request.key},
            )
        except stripe.StripeError as error:
            _raise_translated(error)
        except _UNREADABLE as error:  # the SDK could not read the answer (see `_sdk_failed`)
            raise _sdk_failed(error) from error
        return _refund(refund)

    async def find_refund(self, request: RefundRequest) -> Refund | None:
        params: RefundListParams = {"payment_intent": request.payment_ref, "limit": _PAGE}
        while True:
            try:
                page = await self._client.v1.refunds.list_async(params)
            except stripe.InvalidRequestError as error:
                if _code(error) == "resource_missing" and _param(error) == "payment_intent":
                    return None
                raise _unavailable(error) from error
            except stripe.StripeError as error:
                raise _unavailable(error) from error
            except _UNREADABLE as error:
                raise _sdk_failed(error) from error
            try:
                refunds = list(page.data)
                mine = [r for r in refunds if _metadata(r).get("idempotency_key") == request.key]
                after = str(refunds[-1].id) if page.has_more and refunds else None
            except _UNREADABLE as error:
                raise _unreadable("list of refunds", error) from error
            if mine:
                return _refund(mine[0])
            if after is None:
                return None
            params["starting_after"] = after

    async def aclose(self) -> None:
        """Close the HTTP client (its connection pool)."""
        await self._http.close_async()  # type: ignore[no-untyped-call]  # the SDK leaves it bare
