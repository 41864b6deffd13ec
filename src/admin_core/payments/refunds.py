"""Refunding a session through its provider, as a side effect (docs/adr/0048, 0051).

A refund attempt is an intent: its key is the idempotency key the provider receives (the same
on every call that re-drives the attempt), its payload what the provider needs, its audit
entry `mso_session.refund`. `record` keeps the session in step with the provider's answer in
the transaction that records it: refunded once the provider confirmed, refund_pending while
it has not, refund_failed after a definite refusal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from admin_core.audit.model import AuditRecord
from admin_core.payments.errors import PaymentProviderNotConfigured
from admin_core.payments.model import (
    MsoSession,
    PaymentProvider,
    Refund,
    RefundAnswer,
    RefundStatus,
)
from admin_core.payments.ports import (
    GatewayFailureReplayed,
    GatewayRefused,
    Gateways,
    PaymentGateway,
    PaymentsTransaction,
    RefundRequest,
)
from admin_core.side_effects.model import Answer, Intent, Outcome

#: The kind of intent a refund attempt is.
KIND = "payments.refund"
#: The audit action of an attempt that ended without a refund.
FAILED_ACTION = "mso_session.refund_failed"

_OUTCOMES = {
    RefundStatus.SUCCEEDED: Outcome.APPLIED,
    RefundStatus.PENDING: Outcome.PENDING,
    RefundStatus.FAILED: Outcome.NOT_APPLIED,
}


class GatewayRegistry(Gateways):
    """The gateways a deployment has, by the provider whose payments each refunds."""

    def __init__(self, gateways: Mapping[PaymentProvider, PaymentGateway]) -> None:
        self._gateways = dict(gateways)

    def gateway(self, provider: PaymentProvider) -> PaymentGateway:
        found = self._gateways.get(provider)
        if found is None:
            raise PaymentProviderNotConfigured(details={"payment_provider": provider.value})
        return found


def payload(session: MsoSession, reason: str) -> dict[str, Any]:
    return {
        "session_id": session.id,
        "payment_provider": session.payment_provider.value,
        "payment_ref": session.payment_ref,
        "amount_minor": session.amount_minor,
        "currency": session.currency,
        "reason": reason,
    }


class SessionRefunds:
    """The `Effect` of `KIND` intents."""

    def __init__(self, gateways: Gateways) -> None:
        self._gateways = gateways

    def gateway(self, session: MsoSession) -> PaymentGateway:
        return self._gateways.gateway(session.payment_provider)

    async def apply(self, intent: Intent) -> Answer:
        gateway, request = self._request(intent)
        try:
            refund = await gateway.refund(request)
        except GatewayRefused as refused:
            return Answer(
                Outcome.NOT_APPLIED,
                {"provider": gateway.name, "error": str(refused), "code": refused.code},
            )
        return _answer(refund)

    async def settle(self, intent: Intent, *, redrive: bool) -> Answer:
        """The refund made with the intent's key, as the provider holds it now; none made yet
        → UNKNOWN (a request may still be on its way), or with `redrive`, the refund asked
        for again with the same key (the provider makes it, or answers with the one it
        made). Asking first also finds a refund whose key the provider has forgotten. A
        provider that replays a failure it saved for the key, with no refund made, ends the
        attempt (NOT_APPLIED) instead of leaving it pending for the key's lifetime."""
        gateway, request = self._request(intent)
        found = await gateway.find_refund(request)
        if found is not None:
            return _answer(found)
        if not redrive:
            return Answer(Outcome.UNKNOWN)
        try:
            return await self.apply(intent)
        except GatewayFailureReplayed as replayed:
            # The first request with this key ended in a failure and made no refund (asked
            # just now): this attempt is over; the next call starts one with a new key.
            return Answer(
                Outcome.NOT_APPLIED,
                {"provider": gateway.name, "error": str(replayed), "code": "failure_replayed"},
            )

    async def record(self, tx: PaymentsTransaction, intent: Intent, answer: Answer) -> None:
        """The session as the answer leaves it; an attempt that ended without a refund is
        audited too (`mso_session.refund_failed`, with who asked for it): every change of a
        session's status has its entry."""
        await tx.mso_sessions.record_refund(
            str(intent.payload["session_id"]),
            intent.id,
            RefundAnswer.of(answer),
            at=intent.updated_at,
        )
        if answer.outcome is Outcome.NOT_APPLIED:
            await tx.audit.append(failed(intent, answer))

    def _request(self, intent: Intent) -> tuple[PaymentGateway, RefundRequest]:
        raw = intent.payload
        gateway = self._gateways.gateway(PaymentProvider(raw["payment_provider"]))
        return gateway, RefundRequest(
            key=intent.key,
            session_id=str(raw["session_id"]),
            payment_ref=str(raw["payment_ref"]),
            amount_minor=int(raw["amount_minor"]),
            currency=str(raw["currency"]),
            reason=str(raw["reason"]),
        )


def failed(intent: Intent, answer: Answer) -> AuditRecord:
    """The entry of an attempt that ended without a refund: the attempt's own entry (who
    asked, the session, the status before), with the failure as what came after."""
    [attempt] = intent.audit
    result = answer.result or {}
    planned = attempt.after or {}
    return replace(
        attempt,
        action=FAILED_ACTION,
        after={
            "status": RefundAnswer.of(answer).status.value,
            "provider": planned.get("provider"),
            "idempotency_key": intent.key,
            "reason": planned.get("reason"),
            "error": result.get("error"),
            "provider_code": result.get("code"),
        },
    )


def _answer(refund: Refund) -> Answer:
    return Answer(
        _OUTCOMES[refund.status],
        {
            "refund": {
                "id": refund.id,
                "status": refund.status.value,
                "amount_minor": refund.amount_minor,
                "currency": refund.currency,
                "provider": refund.provider,
                "created_at": refund.created_at.isoformat(),
            }
        },
    )
