"""Second-opinion (MSO) doctors (SPEC §6.5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class MsoDoctor:
    id: str
    tenant_id: str
    full_name: str
    email: str  # stored lower-cased: unique per tenant
    specialty: str
    languages: tuple[str, ...]  # ISO 639-1
    countries: tuple[str, ...]  # ISO 3166-1 alpha-2
    license_number: str
    consultation_fee_minor: int
    currency: str  # ISO 4217
    available_from: date
    timezone: str  # IANA
    active: bool
    clerk_user_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class DoctorFilter:
    tenant_id: str | None = None
    specialty: str | None = None
    language: str | None = None
    #: Doctors available on this day: `available_from <= day` and active.
    available_on: date | None = None
