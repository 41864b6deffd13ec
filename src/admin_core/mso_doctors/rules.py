"""What a valid second-opinion doctor looks like (SPEC §6.5, docs/adr/0052-mso-doctors.md).

Each check adds at most one error for its field to the `FieldChecks` it is given and returns
the value as stored (trimmed; an email lower-cased; a day as a `date`), or None when the value
is bad. Codes come from the core's reference lists (`admin_core.kernel.reference`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from admin_core.kernel.reference import COUNTRIES, CURRENCIES, LANGUAGES
from admin_core.kernel.validation import FieldChecks
from admin_core.mso_doctors.model import MsoDoctor
from admin_core.tenants.rules import timezones
from admin_core.users.model import USER_ID

#: The prefix of the ids the runtime's `IdGenerator` gives doctors (`msd_01J...`).
ID_PREFIX = "msd"
FULL_NAME_MAX = 200
SPECIALTY_MAX = 100
LICENSE_NUMBER_MAX = 64
EMAIL_MAX = 254  # RFC 5321's limit on a forward path
TIMEZONE_MAX = 64
DOCTOR_ID_MAX = 128
#: Languages or countries of one doctor.
LIST_MAX = 50
#: A fee in minor units: enough for a consultation priced in the currency with the most
#: units to the dollar (IRR: about 10^11 minor units for USD 1,000), far inside the integers
#: JSON clients read exactly (2^53) and PostgreSQL's bigint.
MAX_FEE_MINOR = 10**12

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#: An address as people type them: a dot-atom local part of at most 64 characters, `@`, a
#: domain of at least two DNS labels whose last starts with a letter. No quoted local parts,
#: IP literals or non-ASCII (internationalised domains come as punycode, `xn--...`).
EMAIL = re.compile(
    rf"(?=[^@]{{1,64}}@){_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?"
)
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_DAY_HINT = "must be a date (YYYY-MM-DD)"

#: The doctor's fields an update may change, in the order of `MsoDoctor`.
UPDATABLE_FIELDS = (
    "full_name",
    "email",
    "specialty",
    "languages",
    "countries",
    "license_number",
    "consultation_fee_minor",
    "currency",
    "available_from",
    "timezone",
    "active",
    "clerk_user_id",
)


def check_full_name(checks: FieldChecks, value: str | None, *, required: bool = True) -> str | None:
    return checks.text("full_name", value, max_length=FULL_NAME_MAX, required=required)


def check_email(checks: FieldChecks, value: str | None, *, required: bool = True) -> str | None:
    """Trimmed and lower-cased: two spellings of one address are one doctor of a tenant."""
    email = checks.text(
        "email",
        value,
        max_length=EMAIL_MAX,
        pattern=EMAIL,
        pattern_hint="an email address such as dr.rao@example.com",
        required=required,
    )
    return email.lower() if email is not None else None


def check_specialty(
    checks: FieldChecks, value: str | None, *, field: str = "specialty", required: bool = True
) -> str | None:
    return checks.text(field, value, max_length=SPECIALTY_MAX, required=required)


def check_license_number(
    checks: FieldChecks, value: str | None, *, required: bool = True
) -> str | None:
    return checks.text("license_number", value, max_length=LICENSE_NUMBER_MAX, required=required)


def _codes(
    checks: FieldChecks,
    field: str,
    values: Sequence[str] | None,
    *,
    allowed: frozenset[str],
    hint: str,
) -> tuple[str, ...] | None:
    """At least one code, each from `allowed`, distinct, in the order given."""
    if values is None or isinstance(values, str):
        checks.fail(field, "must be a list of codes" if values is not None else "is required")
        return None
    if not values:
        checks.fail(field, "must have at least one item")
        return None
    errors = len(checks.errors)
    codes = checks.texts(
        field, values, max_items=LIST_MAX, max_length=3, allowed=allowed, allowed_hint=hint
    )
    return codes if len(checks.errors) == errors else None


def check_languages(
    checks: FieldChecks, values: Sequence[str] | None, *, field: str = "languages"
) -> tuple[str, ...] | None:
    return _codes(
        checks, field, values, allowed=LANGUAGES, hint="an ISO 639-1 language code such as en"
    )


def check_countries(checks: FieldChecks, values: Sequence[str] | None) -> tuple[str, ...] | None:
    return _codes(
        checks,
        "countries",
        values,
        allowed=COUNTRIES,
        hint="an ISO 3166-1 alpha-2 country code such as IN",
    )


def check_language(checks: FieldChecks, value: str | None, *, field: str) -> str | None:
    """One language code (a list filter)."""
    hint = "an ISO 639-1 language code such as en"
    return checks.one_of(field, value, LANGUAGES, hint, max_length=3, required=False)


def check_fee(checks: FieldChecks, value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        checks.fail("consultation_fee_minor", "must be a whole number of minor units")
        return None
    if not 0 <= value <= MAX_FEE_MINOR:
        checks.fail("consultation_fee_minor", f"must be between 0 and {MAX_FEE_MINOR}")
        return None
    return value


def check_currency(checks: FieldChecks, value: str | None, *, required: bool = True) -> str | None:
    hint = "an ISO 4217 currency code such as EUR"
    return checks.one_of("currency", value, CURRENCIES, hint, max_length=3, required=required)


def check_timezone(checks: FieldChecks, value: str | None, *, required: bool = True) -> str | None:
    hint = "an IANA time zone such as Asia/Kolkata"
    return checks.one_of(
        "timezone", value, timezones(), hint, max_length=TIMEZONE_MAX, required=required
    )


def check_day(
    checks: FieldChecks, value: date | str | None, *, field: str, required: bool = True
) -> date | None:
    """A calendar day: a `date`, or its ISO text `YYYY-MM-DD` (a date-time is not a day)."""
    if value is None:
        if required:
            checks.fail(field, "is required")
        return None
    if isinstance(value, datetime):
        checks.fail(field, _DAY_HINT)
        return None
    if isinstance(value, date):
        return value
    text = value.strip() if isinstance(value, str) else ""
    if not DAY.fullmatch(text):
        checks.fail(field, _DAY_HINT)
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        checks.fail(field, _DAY_HINT)
        return None


def check_active(checks: FieldChecks, value: Any) -> bool | None:
    if not isinstance(value, bool):
        checks.fail("active", "must be true or false")
        return None
    return value


def check_clerk_user_id(checks: FieldChecks, value: str | None) -> str | None:
    return checks.text(
        "clerk_user_id",
        value,
        max_length=128,
        pattern=USER_ID,
        pattern_hint="an identity provider user id such as user_2abc",
        required=False,
    )


def plain(value: Any) -> Any:
    """A field's value as audit before/after hold it: JSON values only."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def snapshot(doctor: MsoDoctor, names: Sequence[str] | None = None) -> dict[str, Any]:
    """The doctor (or the fields `names`) as audit before/after hold it. No timestamps: the
    entry has its own time."""
    fields = ("id", "tenant_id", *UPDATABLE_FIELDS) if names is None else names
    return {name: plain(getattr(doctor, name)) for name in fields}
