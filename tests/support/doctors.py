"""An MSO doctor's onboarding body that the API accepts, for tests whose subject is elsewhere
(a guard, an outage, the document's declared errors)."""

from __future__ import annotations

from typing import Any


def doctor_body(tenant_id: str, **changes: Any) -> dict[str, Any]:
    """A valid `POST /mso/doctors` body for `tenant_id`, with `changes` over it."""
    return {
        "tenant_id": tenant_id,
        "full_name": "Dr. X",
        "email": "x@apollo.example",
        "specialty": "cardiology",
        "languages": ["en"],
        "countries": ["IN"],
        "license_number": "L-1",
        "consultation_fee_minor": 100,
        "currency": "INR",
        "available_from": "2026-01-01",
        "timezone": "Asia/Kolkata",
    } | changes
