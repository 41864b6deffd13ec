"""Second-opinion doctors (SPEC §6.5): list, onboard, update. Each use case takes the acting
principal and one command defined beside it; values arrive as given (text, lists, a day as a
`date` or its ISO text) and are validated here, every offending field named at once. The
decisions the SPEC leaves open are in docs/adr/0052-mso-doctors.md."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, cast

from admin_core.audit.recording import audit_record
from admin_core.kernel.paging import OffsetPage
from admin_core.kernel.principal import Permission, Principal
from admin_core.kernel.runtime import Clock, IdGenerator
from admin_core.kernel.transaction import Transactions
from admin_core.kernel.validation import FieldChecks
from admin_core.mso_doctors.errors import MsoDoctorNotFound
from admin_core.mso_doctors.model import DoctorFilter, MsoDoctor
from admin_core.mso_doctors.ports import MsoDoctorsTransaction
from admin_core.mso_doctors.rules import (
    DOCTOR_ID_MAX,
    ID_PREFIX,
    UPDATABLE_FIELDS,
    check_active,
    check_clerk_user_id,
    check_countries,
    check_currency,
    check_day,
    check_email,
    check_fee,
    check_full_name,
    check_language,
    check_languages,
    check_license_number,
    check_specialty,
    check_timezone,
    snapshot,
)
from admin_core.tenants.known import KnownTenants
from admin_core.tenants.rules import check_tenant_id

RESOURCE = "mso_doctor"


@dataclass(frozen=True, slots=True, kw_only=True)
class ListMsoDoctorsQuery:
    """Filters of the list; each one given narrows it. `available_from` is a day D: the
    doctors who can be booked on D (`available_from <= D` and active)."""

    tenant_id: str | None = None
    specialty: str | None = None
    language: str | None = None
    available_from: date | str | None = None
    limit: int = 50
    offset: int = 0
    #: Where the page starts: the `next_cursor` of the page before (instead of `offset`).
    cursor: str | None = None


class ListMsoDoctors:
    """List second-opinion doctors by full name, then id.

    Rules: `tenant:manage`; a tenant-scoped caller without a tenant filter sees only its own
    tenant's doctors, and naming another tenant is refused (403). `specialty` matches
    exactly; `language` is an ISO 639-1 code the doctor speaks; `available_from=D` keeps the
    active doctors available on day D. Without it, inactive doctors are listed too. `limit`
    1..200, `offset` 0..10^9. Every bad filter is named at once (422). A tenant that does
    not exist → TENANT_NOT_FOUND (looked up only when the page is empty; without `tenants`,
    its page is just empty). A page that has a next one gives its `next_cursor`: read with
    it (same filters, no offset), the next page starts right after this page's last doctor,
    so doctors onboarded or deactivated meanwhile shift nothing.
    """

    def __init__(
        self,
        transactions: Transactions[MsoDoctorsTransaction],
        *,
        tenants: KnownTenants | None = None,
    ) -> None:
        self._transactions = transactions
        self._tenants = tenants

    async def execute(
        self, principal: Principal, query: ListMsoDoctorsQuery
    ) -> OffsetPage[MsoDoctor]:
        checks = FieldChecks()
        checks.page(query.limit, query.offset)
        requested = check_tenant_id(checks, "tenant_id", query.tenant_id, required=False)
        specialty = check_specialty(checks, query.specialty, required=False)
        language = check_language(checks, query.language, field="language")
        day = check_day(checks, query.available_from, field="available_from", required=False)
        scope = ("mso_doctors", requested, specialty, language, day and day.isoformat())
        window = checks.window(
            query.cursor, query.limit, query.offset, scope=scope, shape=(str, str)
        )
        checks.done()
        tenant_id = principal.visible_tenant(requested, Permission.TENANT_MANAGE)
        where = DoctorFilter(
            tenant_id=tenant_id, specialty=specialty, language=language, available_on=day
        )
        async with self._transactions() as tx:
            found = await tx.mso_doctors.page(
                where,
                limit=window.reads,
                offset=window.offset,
                after=cast(tuple[str, str] | None, window.after),
            )
        if not found.items and tenant_id is not None and self._tenants is not None:
            await self._tenants.require(tenant_id)
        return window.page(found, key=lambda d: (d.full_name, d.id))


@dataclass(frozen=True, slots=True, kw_only=True)
class OnboardMsoDoctorCommand:
    tenant_id: str
    full_name: str
    email: str
    specialty: str
    languages: Sequence[str]  # ISO 639-1
    countries: Sequence[str]  # ISO 3166-1 alpha-2
    license_number: str
    consultation_fee_minor: int
    currency: str  # ISO 4217
    available_from: date | str
    timezone: str  # IANA
    active: bool = True
    clerk_user_id: str | None = None


class OnboardMsoDoctor:
    """Onboard a second-opinion doctor into a tenant.

    Rules: `tenant:manage` reaching the tenant; the tenant must exist (404 TENANT_NOT_FOUND);
    the email is trimmed and lower-cased, and unique within the tenant (409
    MSO_DOCTOR_ALREADY_EXISTS, also when two requests race); at least one language (ISO
    639-1) and one country (ISO 3166-1 alpha-2); the fee is a whole number of minor units,
    0..10^12, in an ISO 4217 currency; the time zone is IANA's; texts are trimmed, bounded and
    free of control characters. The id comes from the runtime's id generator. Audit
    `mso_doctor.onboard` with the doctor as `after`.
    """

    def __init__(
        self,
        transactions: Transactions[MsoDoctorsTransaction],
        tenants: KnownTenants,
        clock: Clock,
        ids: IdGenerator,
    ) -> None:
        self._transactions = transactions
        self._tenants = tenants
        self._clock = clock
        self._ids = ids

    async def execute(self, principal: Principal, command: OnboardMsoDoctorCommand) -> MsoDoctor:
        c = command
        principal.require(Permission.TENANT_MANAGE, tenant_id=c.tenant_id)
        checks = FieldChecks()
        tenant_id = check_tenant_id(checks, "tenant_id", c.tenant_id)
        values: dict[str, Any] = {
            "full_name": check_full_name(checks, c.full_name),
            "email": check_email(checks, c.email),
            "specialty": check_specialty(checks, c.specialty),
            "languages": check_languages(checks, c.languages),
            "countries": check_countries(checks, c.countries),
            "license_number": check_license_number(checks, c.license_number),
            "consultation_fee_minor": check_fee(checks, c.consultation_fee_minor),
            "currency": check_currency(checks, c.currency),
            "available_from": check_day(checks, c.available_from, field="available_from"),
            "timezone": check_timezone(checks, c.timezone),
            "active": check_active(checks, c.active),
            "clerk_user_id": check_clerk_user_id(checks, c.clerk_user_id),
        }
        checks.done()
        assert tenant_id is not None  # required, checked above
        await self._tenants.require(tenant_id)
        now = self._clock.now()
        doctor = MsoDoctor(
            id=self._ids.new_id(ID_PREFIX),
            tenant_id=tenant_id,
            created_at=now,
            updated_at=now,
            **values,
        )
        async with self._transactions() as tx:
            await tx.mso_doctors.add(doctor)
            await tx.audit.append(
                audit_record(
                    principal,
                    action="mso_doctor.onboard",
                    event_type="ADMIN_MSO_DOCTOR_ONBOARD",
                    resource_type=RESOURCE,
                    resource_id=doctor.id,
                    tenant_id=tenant_id,
                    after=snapshot(doctor),
                )
            )
            await tx.commit()
        return doctor


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateMsoDoctorCommand:
    """A partial update: a field left None keeps its value; a list given replaces the whole
    list. `unlink_clerk_user` clears `clerk_user_id` (the wire's `"clerk_user_id": null`)."""

    doctor_id: str
    full_name: str | None = None
    email: str | None = None
    specialty: str | None = None
    languages: Sequence[str] | None = None
    countries: Sequence[str] | None = None
    license_number: str | None = None
    consultation_fee_minor: int | None = None
    currency: str | None = None
    available_from: date | str | None = None
    timezone: str | None = None
    active: bool | None = None
    clerk_user_id: str | None = None
    unlink_clerk_user: bool = False


def _changes(checks: FieldChecks, c: UpdateMsoDoctorCommand) -> dict[str, Any]:
    """The fields given, validated: {field: value as stored}."""
    given: dict[str, Any] = {}
    if c.full_name is not None:
        given["full_name"] = check_full_name(checks, c.full_name)
    if c.email is not None:
        given["email"] = check_email(checks, c.email)
    if c.specialty is not None:
        given["specialty"] = check_specialty(checks, c.specialty)
    if c.languages is not None:
        given["languages"] = check_languages(checks, c.languages)
    if c.countries is not None:
        given["countries"] = check_countries(checks, c.countries)
    if c.license_number is not None:
        given["license_number"] = check_license_number(checks, c.license_number)
    if c.consultation_fee_minor is not None:
        given["consultation_fee_minor"] = check_fee(checks, c.consultation_fee_minor)
    if c.currency is not None:
        given["currency"] = check_currency(checks, c.currency)
    if c.available_from is not None:
        given["available_from"] = check_day(checks, c.available_from, field="available_from")
    if c.timezone is not None:
        given["timezone"] = check_timezone(checks, c.timezone)
    if c.active is not None:
        given["active"] = check_active(checks, c.active)
    if c.clerk_user_id is not None:
        if c.unlink_clerk_user:
            checks.fail("clerk_user_id", "give a user id or unlink the user, not both")
        given["clerk_user_id"] = check_clerk_user_id(checks, c.clerk_user_id)
    elif c.unlink_clerk_user:
        given["clerk_user_id"] = None
    return given


@dataclass(frozen=True, slots=True, kw_only=True)
class MsoDoctorUpdate:
    """The doctor after an update. `changed` is False when the update had nothing to change:
    nothing was written."""

    doctor: MsoDoctor
    changed: bool


class UpdateMsoDoctor:
    """Change some of a doctor's fields.

    Rules: `tenant:manage` reaching the doctor's tenant; an unknown doctor, and another
    tenant's doctor for a tenant-scoped caller, is 404 MSO_DOCTOR_NOT_FOUND, the same answer
    for both, so an id tells nothing about other tenants (docs/adr/0060); only the
    fields given change, each validated as `OnboardMsoDoctor` does (every bad one named at
    once, before the doctor is read); the tenant and id never change; a new email must be free
    in the tenant (409 MSO_DOCTOR_ALREADY_EXISTS); an update that changes nothing writes
    nothing, not even `updated_at`. Audit `mso_doctor.update` with before/after of the
    fields that changed.
    """

    def __init__(self, transactions: Transactions[MsoDoctorsTransaction], clock: Clock) -> None:
        self._transactions = transactions
        self._clock = clock

    async def execute(
        self, principal: Principal, command: UpdateMsoDoctorCommand
    ) -> MsoDoctorUpdate:
        principal.require(Permission.TENANT_MANAGE)
        checks = FieldChecks()
        doctor_id = checks.text("doctor_id", command.doctor_id, max_length=DOCTOR_ID_MAX)
        given = _changes(checks, command)
        checks.done()
        assert doctor_id is not None  # required, checked above
        async with self._transactions() as tx:
            doctor = await tx.mso_doctors.get(doctor_id, lock=True)
            if doctor is None or not principal.can(
                Permission.TENANT_MANAGE, tenant_id=doctor.tenant_id
            ):
                raise MsoDoctorNotFound(details={"doctor_id": doctor_id})
            changed = [f for f in UPDATABLE_FIELDS if f in given and given[f] != getattr(doctor, f)]
            if not changed:
                return MsoDoctorUpdate(doctor=doctor, changed=False)
            updated = replace(
                doctor, **{f: given[f] for f in changed}, updated_at=self._clock.now()
            )
            await tx.mso_doctors.update(updated)
            await tx.audit.append(
                audit_record(
                    principal,
                    action="mso_doctor.update",
                    event_type="ADMIN_MSO_DOCTOR_UPDATE",
                    resource_type=RESOURCE,
                    resource_id=doctor.id,
                    tenant_id=doctor.tenant_id,
                    before=snapshot(doctor, changed),
                    after=snapshot(updated, changed),
                )
            )
            await tx.commit()
        return MsoDoctorUpdate(doctor=updated, changed=True)
