"""Errors of MSO sessions and their payments (SPEC §6.4)."""

from __future__ import annotations

from typing import Any

from admin_core.kernel.errors import AdminError


class MsoSessionNotFound(AdminError):
    code = "MSO_SESSION_NOT_FOUND"
    default_message = "Second-opinion session not found."


class MsoRefundNotAllowed(AdminError):
    code = "MSO_REFUND_NOT_ALLOWED"
    default_message = "The session cannot be refunded in its current status."


class PaymentProviderError(AdminError):
    code = "PAYMENT_PROVIDER_ERROR"
    default_message = "The payment provider refused or failed."

    def __init__(self, message: str | None = None, *, retry_safe: bool, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.details["retry_safe"] = retry_safe


class PaymentProviderNotConfigured(AdminError):
    code = "PAYMENT_PROVIDER_NOT_CONFIGURED"
    default_message = "Credentials for the session's payment provider are missing."
