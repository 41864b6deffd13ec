"""Second-opinion doctors on the wire (SPEC §6.5)."""

from __future__ import annotations

from datetime import date, datetime

from admin_core.kernel.paging import OffsetPage
from admin_core.mso_doctors.model import MsoDoctor
from entrypoints.http.schemas import Out


class MsoDoctorOut(Out, frozen=True):
    id: str
    tenant_id: str
    full_name: str
    email: str
    specialty: str
    languages: list[str]
    countries: list[str]
    license_number: str
    consultation_fee_minor: int
    currency: str
    available_from: date
    timezone: str
    active: bool
    clerk_user_id: str | None
    created_at: datetime
    updated_at: datetime


class MsoDoctorListOut(Out, frozen=True):
    doctors: list[MsoDoctorOut]
    total: int
    limit: int
    offset: int
    #: Where the next page starts (null on the last page): send it as `cursor`.
    next_cursor: str | None


def mso_doctor_out(doctor: MsoDoctor) -> MsoDoctorOut:
    return MsoDoctorOut(
        id=doctor.id,
        tenant_id=doctor.tenant_id,
        full_name=doctor.full_name,
        email=doctor.email,
        specialty=doctor.specialty,
        languages=list(doctor.languages),
        countries=list(doctor.countries),
        license_number=doctor.license_number,
        consultation_fee_minor=doctor.consultation_fee_minor,
        currency=doctor.currency,
        available_from=doctor.available_from,
        timezone=doctor.timezone,
        active=doctor.active,
        clerk_user_id=doctor.clerk_user_id,
        created_at=doctor.created_at,
        updated_at=doctor.updated_at,
    )


def mso_doctor_list_out(page: OffsetPage[MsoDoctor]) -> MsoDoctorListOut:
    return MsoDoctorListOut(
        doctors=[mso_doctor_out(d) for d in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
        next_cursor=page.next_cursor,
    )
