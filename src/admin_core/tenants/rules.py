"""What a valid tenant, provider and organisation id look like, and how settings merge."""

from __future__ import annotations

import functools
import re
import unicodedata
import zoneinfo
from collections.abc import Mapping
from dataclasses import replace

from admin_core.kernel.principal import PLATFORM_TENANT_ID
from admin_core.kernel.reference import COUNTRIES, CURRENCIES, LANGUAGES
from admin_core.kernel.validation import FieldChecks
from admin_core.tenants.model import PaymentsProvider, TenantSettings

NAME_MAX = 200
CITY_MAX = 100
TAG_MAX = 100  # one specialty or accreditation name
LIST_MAX = 50
TENANT_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
ORG_ID = re.compile(r"org_[A-Za-z0-9_]{1,120}")
REGION = re.compile(r"[a-z]{2,}(?:-[a-z0-9]+){1,3}")
SETTINGS_FIELDS = ("payments_provider", "data_residency_region", "default_currency", "timezone")


#: Names the tz database lists that are no place's zone: the host's own zone (it differs
#: from host to host) and the placeholder of a system not yet configured.
_NOT_PLACES = frozenset({"localtime", "Factory"})


@functools.cache
def timezones() -> frozenset[str]:
    """IANA time zone names known to this system's tz database, places only."""
    return frozenset(zoneinfo.available_timezones()) - _NOT_PLACES


def check_tenant_id(
    checks: FieldChecks, field: str, value: str | None, *, required: bool = True
) -> str | None:
    """A tenant id naming a tenant, which may or may not exist: `platform` is of the form,
    and names no tenant (TENANT_NOT_FOUND where it is looked up)."""
    return checks.text(
        field,
        value,
        max_length=64,
        pattern=TENANT_ID,
        pattern_hint="lowercase letters, digits and inner dashes (at most 64)",
        required=required,
    )


def check_new_tenant_id(
    checks: FieldChecks, field: str, value: str | None, *, required: bool = True
) -> str | None:
    """The id of a tenant being created: `platform` is reserved (the platform's own roles and
    audit chain go by it)."""
    tenant_id = check_tenant_id(checks, field, value, required=required)
    if tenant_id == PLATFORM_TENANT_ID:
        checks.fail(field, f"'{PLATFORM_TENANT_ID}' is reserved")
        return None
    return tenant_id


def check_org_id(checks: FieldChecks, field: str, value: str | None) -> str | None:
    return checks.text(
        field,
        value,
        max_length=128,
        required=False,
        pattern=ORG_ID,
        pattern_hint="a Clerk organisation id such as org_2abc",
    )


def check_name(checks: FieldChecks, field: str, value: str | None, *, required: bool) -> str | None:
    return checks.text(field, value, max_length=NAME_MAX, required=required)


def check_country(checks: FieldChecks, field: str, value: str | None) -> str | None:
    hint = "an ISO 3166-1 alpha-2 country code such as IN"
    return checks.one_of(field, value, COUNTRIES, hint, max_length=2, required=False)


def check_languages(checks: FieldChecks, field: str, values: list[str]) -> tuple[str, ...]:
    return checks.texts(
        field,
        values,
        max_items=LIST_MAX,
        max_length=2,
        allowed=LANGUAGES,
        allowed_hint="an ISO 639-1 language code such as en",
    )


def merge_settings(
    checks: FieldChecks,
    base: TenantSettings,
    changes: Mapping[str, str | None],
    *,
    field: str = "settings",
) -> TenantSettings:
    """`base` with `changes` applied: a key present sets its value (null clears it), a key
    absent keeps the current value. Every value is validated."""
    merged = base
    for key, value in changes.items():
        where = f"{field}.{key}"
        if key not in SETTINGS_FIELDS:
            checks.fail(where, "unknown setting")
            continue
        if value is None:
            merged = replace(merged, **{key: None})
            continue
        if key == "payments_provider":
            if value not in {p.value for p in PaymentsProvider}:
                checks.fail(where, "must be stripe, razorpay or null")
                continue
            merged = replace(merged, payments_provider=PaymentsProvider(value))
        elif key == "default_currency":
            if value not in CURRENCIES:
                checks.fail(where, "must be an ISO 4217 currency code such as EUR")
                continue
            merged = replace(merged, default_currency=value)
        elif key == "timezone":
            if len(value) > 64 or value not in timezones():
                checks.fail(where, "must be an IANA time zone such as Europe/Istanbul")
                continue
            merged = replace(merged, timezone=value)
        else:
            region = checks.text(
                where,
                value,
                max_length=32,
                pattern=REGION,
                pattern_hint="a region code such as eu-central-1",
            )
            if region is not None:
                merged = replace(merged, data_residency_region=region)
    return merged


#: Letters that Unicode decomposition does not reduce to ASCII.
_LATIN = str.maketrans(
    {
        "ı": "i",
        "ø": "o",
        "Ø": "O",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ß": "ss",
        "đ": "d",
        "Đ": "D",
        "ł": "l",
        "Ł": "L",
        "þ": "th",
        "Þ": "Th",
    }
)


def slug(name: str) -> str:
    """A tenant id derived from a name: `Apollo Hospitals Chennai` → `apollo-hospitals-chennai`."""
    latin = name.translate(_LATIN)
    ascii_name = unicodedata.normalize("NFKD", latin).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_name.lower())
    value = "-".join(words)[:64].strip("-")
    return value if value and value != PLATFORM_TENANT_ID else ""


def settings_view(settings: TenantSettings) -> dict[str, str | None]:
    """Settings as plain values (audit before/after, outputs)."""
    return {
        "payments_provider": settings.payments_provider.value
        if settings.payments_provider
        else None,
        "data_residency_region": settings.data_residency_region,
        "default_currency": settings.default_currency,
        "timezone": settings.timezone,
    }
