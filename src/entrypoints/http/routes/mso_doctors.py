"""Second-opinion doctors (SPEC §6.5): list, onboard, update.

Request bodies reject unknown fields and bound every value (codes are the core's reference
lists, enums in the document), so a malformed doctor is a 422 naming the field before any
use case runs; the core then applies the rules themselves. A PATCH changes only the fields it
gives; `"clerk_user_id": null` unlinks the identity provider's user (docs/adr/0052).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, ClassVar

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPIFormat
from litestar.params import JSONBody, PathParameter, QueryParameter

from admin_core.kernel.paging import MAX_OFFSET, MAX_OFFSET_LIMIT
from admin_core.kernel.principal import Permission, Principal
from admin_core.kernel.validation import FieldChecks
from admin_core.mso_doctors.errors import MsoDoctorAlreadyExists, MsoDoctorNotFound
from admin_core.mso_doctors.rules import (
    DOCTOR_ID_MAX,
    EMAIL_MAX,
    FULL_NAME_MAX,
    LICENSE_NUMBER_MAX,
    LIST_MAX,
    MAX_FEE_MINOR,
    SPECIALTY_MAX,
    check_day,
    check_email,
)
from admin_core.mso_doctors.use_cases import (
    ListMsoDoctors,
    ListMsoDoctorsQuery,
    OnboardMsoDoctor,
    OnboardMsoDoctorCommand,
    UpdateMsoDoctor,
    UpdateMsoDoctorCommand,
)
from admin_core.tenants.errors import TenantNotFound
from entrypoints.http.dependencies import use_case
from entrypoints.http.envelope import ok
from entrypoints.http.fields import (
    TEXT_PATTERN,
    USER_ID_PATTERN,
    Country,
    Currency,
    Language,
    PageCursor,
    TenantFilter,
    TenantId,
    TimeZone,
    query_rules,
    text,
)
from entrypoints.http.openapi import WRITE, errors
from entrypoints.http.presenters.mso_doctors import (
    MsoDoctorListOut,
    MsoDoctorOut,
    mso_doctor_list_out,
    mso_doctor_out,
)
from entrypoints.http.schemas import FieldRule, In, SuccessEnvelope
from entrypoints.http.security import requires

FullName = Annotated[str, text(FULL_NAME_MAX)]
Specialty = Annotated[str, text(SPECIALTY_MAX)]
LicenseNumber = Annotated[str, text(LICENSE_NUMBER_MAX)]
Email = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=EMAIL_MAX,
        # The core checks the address (trimmed, then matched against its syntax) and refuses
        # a bad one in words; the document says `email` rather than state that expression,
        # whose look-ahead no client or generator can use.
        extra_json_schema={"format": "email"},
        description="An email address (local part ≤ 64 characters, a domain with a dot);"
        " stored lower-cased: unique per tenant whatever its case.",
    ),
]
Languages = Annotated[
    list[Language],
    msgspec.Meta(min_length=1, max_length=LIST_MAX, description="ISO 639-1 codes."),
]
Countries = Annotated[
    list[Country],
    msgspec.Meta(min_length=1, max_length=LIST_MAX, description="ISO 3166-1 alpha-2 codes."),
]
FeeMinor = Annotated[
    int,
    msgspec.Meta(ge=0, le=MAX_FEE_MINOR, description="The fee in the currency's minor units."),
]
AvailableFrom = Annotated[
    date, msgspec.Meta(description="The first day the doctor can be booked (YYYY-MM-DD).")
]
ClerkUserId = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=USER_ID_PATTERN)]
DoctorPath = Annotated[
    str, PathParameter(min_length=1, max_length=DOCTOR_ID_MAX, pattern=TEXT_PATTERN)
]
Unset = msgspec.UnsetType
UNSET = msgspec.UNSET


def _available_from(checks: FieldChecks, query: Mapping[str, str]) -> None:
    """The list's `available_from`, read as the core reads it (a calendar day)."""
    check_day(checks, query.get("available_from"), field="available_from", required=False)


class OnboardDoctorIn(In, frozen=True):
    field_rules: ClassVar[Mapping[str, FieldRule]] = {"email": check_email}

    tenant_id: TenantId
    full_name: FullName
    email: Email
    specialty: Specialty
    languages: Languages
    countries: Countries
    license_number: LicenseNumber
    consultation_fee_minor: FeeMinor
    currency: Currency
    available_from: AvailableFrom
    timezone: TimeZone
    active: bool = True
    clerk_user_id: ClerkUserId | None = None


class UpdateDoctorIn(In, frozen=True):
    """Only the fields given change; a list given replaces the whole list. `clerk_user_id`
    null unlinks the user; no other field takes null."""

    field_rules: ClassVar[Mapping[str, FieldRule]] = {"email": check_email}

    full_name: FullName | Unset = UNSET
    email: Email | Unset = UNSET
    specialty: Specialty | Unset = UNSET
    languages: Languages | Unset = UNSET
    countries: Countries | Unset = UNSET
    license_number: LicenseNumber | Unset = UNSET
    consultation_fee_minor: FeeMinor | Unset = UNSET
    currency: Currency | Unset = UNSET
    available_from: AvailableFrom | Unset = UNSET
    timezone: TimeZone | Unset = UNSET
    active: bool | Unset = UNSET
    clerk_user_id: ClerkUserId | Unset | None = UNSET

    def command(self, doctor_id: str) -> UpdateMsoDoctorCommand:
        given = {
            name: value
            for name in self.__struct_fields__
            if (value := getattr(self, name)) is not UNSET
        }
        unlink = "clerk_user_id" in given and given["clerk_user_id"] is None
        return UpdateMsoDoctorCommand(doctor_id=doctor_id, unlink_clerk_user=unlink, **given)


class MsoDoctorController(Controller):
    path = "/api/v1/admin/mso/doctors"
    tags = ["mso doctors"]  # noqa: RUF012 - Litestar reads it as a plain attribute
    opt = requires(Permission.TENANT_MANAGE)
    dependencies = {  # noqa: RUF012
        "list_mso_doctors": use_case(lambda c: c.mso_doctors.list_mso_doctors),
        "onboard_mso_doctor": use_case(lambda c: c.mso_doctors.onboard_mso_doctor),
        "update_mso_doctor": use_case(lambda c: c.mso_doctors.update_mso_doctor),
    }

    @get(
        "/",
        summary="List second-opinion doctors",
        operation_id="listMsoDoctors",
        responses=errors(TenantNotFound),
        opt=query_rules(_available_from),
    )
    async def list_doctors(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        list_mso_doctors: NamedDependency[ListMsoDoctors],
        tenant_id: TenantFilter = None,
        specialty: Annotated[
            str | None,
            QueryParameter(
                min_length=1,
                max_length=SPECIALTY_MAX,
                pattern=TEXT_PATTERN,
                description="Exactly the doctor's specialty.",
            ),
        ] = None,
        language: Annotated[
            Language | None, QueryParameter(description="An ISO 639-1 code the doctor speaks.")
        ] = None,
        available_from: Annotated[
            str | None,
            QueryParameter(
                min_length=10,
                max_length=10,
                format=OpenAPIFormat.DATE,
                description="A day D (YYYY-MM-DD): the active doctors available on D, "
                "i.e. whose `available_from` is D or earlier.",
            ),
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_OFFSET_LIMIT)] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)] = 0,
        cursor: PageCursor = None,
    ) -> Response[SuccessEnvelope[MsoDoctorListOut]]:
        """Doctors by full name, then id. A tenant-scoped caller sees only its own tenant's.
        A page with a next one gives `next_cursor`: sent as `cursor` (same filters, no
        offset), the next page starts right after this one's last doctor, so none is read
        twice or skipped when doctors are onboarded or leave the filter between pages."""
        page = await list_mso_doctors.execute(
            principal,
            ListMsoDoctorsQuery(
                tenant_id=tenant_id,
                specialty=specialty,
                language=language,
                available_from=available_from,
                limit=limit,
                offset=offset,
                cursor=cursor,
            ),
        )
        return ok(
            request,
            mso_doctor_list_out(page),
            total=page.total,
            limit=page.limit,
            offset=page.offset,
            next_cursor=page.next_cursor,
        )

    @post(
        "/",
        summary="Onboard a second-opinion doctor",
        operation_id="onboardMsoDoctor",
        responses=errors(TenantNotFound, MsoDoctorAlreadyExists, base=WRITE),
    )
    async def onboard(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        onboard_mso_doctor: NamedDependency[OnboardMsoDoctor],
        data: JSONBody[OnboardDoctorIn],
    ) -> Response[SuccessEnvelope[MsoDoctorOut]]:
        """404 TENANT_NOT_FOUND for an unknown tenant; 409 MSO_DOCTOR_ALREADY_EXISTS when the
        tenant has a doctor with that email. Audited as `mso_doctor.onboard`."""
        doctor = await onboard_mso_doctor.execute(
            principal, OnboardMsoDoctorCommand(**msgspec.structs.asdict(data))
        )
        return ok(request, mso_doctor_out(doctor), status_code=201)

    @patch(
        "/{doctor_id:str}",
        summary="Update a second-opinion doctor",
        operation_id="updateMsoDoctor",
        responses=errors(MsoDoctorNotFound, MsoDoctorAlreadyExists, base=WRITE),
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        update_mso_doctor: NamedDependency[UpdateMsoDoctor],
        doctor_id: DoctorPath,
        data: JSONBody[UpdateDoctorIn],
    ) -> Response[SuccessEnvelope[MsoDoctorOut]]:
        """404 MSO_DOCTOR_NOT_FOUND for an unknown doctor and for another tenant's alike; 409
        when the new email is another doctor's of the tenant. Audited as `mso_doctor.update`
        (before/after of the fields that changed); an update that changes nothing writes
        nothing."""
        update = await update_mso_doctor.execute(principal, data.command(doctor_id))
        return ok(request, mso_doctor_out(update.doctor))
