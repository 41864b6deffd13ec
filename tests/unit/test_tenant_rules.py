"""The rules of tenant ids, settings and role grants, as pure functions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from admin_core.auth.policy import ROLES, RolePolicy
from admin_core.kernel.errors import ValidationFailed
from admin_core.kernel.principal import OrgKind, Permission, Principal, Scope
from admin_core.kernel.validation import FieldChecks, time_bound
from admin_core.tenants.model import PaymentsProvider, TenantSettings
from admin_core.tenants.rules import TENANT_ID, merge_settings, slug
from admin_core.users.errors import RoleNotAllowed
from admin_core.users.grants import check_role_change, membership_role, roles_of_kind

POLICY = RolePolicy.default()


@given(st.text(max_size=300))
def test_a_slug_is_a_valid_tenant_id_or_nothing(name: str) -> None:
    value = slug(name)
    assert value == "" or (TENANT_ID.fullmatch(value) and value != "platform")


def test_slugs_read_like_the_name() -> None:
    assert slug("Acıbadem Maslak Hospital") == "acibadem-maslak-hospital"
    assert slug("  St. Mary's — London  ") == "st-mary-s-london"
    assert slug("Platform") == ""


@pytest.mark.parametrize(
    ("name", "tenant_id"),
    [
        ("a" * 100, "a" * 64),
        ("b" * 63 + " c" * 10, "b" * 63),  # cut at 64, the dash it ends on dropped
        ("Platform", ""),
    ],
)
def test_a_long_name_gives_an_id_of_at_most_64_characters(name: str, tenant_id: str) -> None:
    assert slug(name) == tenant_id


def test_settings_merge_key_by_key() -> None:
    base = TenantSettings(
        payments_provider=PaymentsProvider.STRIPE, default_currency="EUR", timezone="UTC"
    )
    checks = FieldChecks()
    merged = merge_settings(checks, base, {"payments_provider": None, "timezone": "Asia/Kolkata"})
    checks.done()
    assert merged == TenantSettings(default_currency="EUR", timezone="Asia/Kolkata")


def test_every_bad_setting_is_named_at_once() -> None:
    checks = FieldChecks()
    merge_settings(
        checks,
        TenantSettings(),
        {
            "payments_provider": "paypal",
            "default_currency": "EURO",
            "timezone": "Mars/Base",
            "data_residency_region": "Frankfurt",
            "colour": "blue",
        },
    )
    with pytest.raises(ValidationFailed) as caught:
        checks.done()
    assert sorted(e.field for e in caught.value.errors) == [
        "settings.colour",
        "settings.data_residency_region",
        "settings.default_currency",
        "settings.payments_provider",
        "settings.timezone",
    ]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (
            "payments_provider",
            "razorpay",
            TenantSettings(payments_provider=PaymentsProvider.RAZORPAY),
        ),
        ("default_currency", "INR", TenantSettings(default_currency="INR")),
        ("timezone", "Asia/Kolkata", TenantSettings(timezone="Asia/Kolkata")),
        (
            "data_residency_region",
            "eu-central-1",
            TenantSettings(data_residency_region="eu-central-1"),
        ),
        ("data_residency_region", "ap-south-1", TenantSettings(data_residency_region="ap-south-1")),
    ],
)
def test_each_valid_setting_is_kept(key: str, value: str, expected: TenantSettings) -> None:
    checks = FieldChecks()
    merged = merge_settings(checks, TenantSettings(), {key: value})
    checks.done()
    assert merged == expected


def test_a_data_residency_region_has_at_most_32_characters() -> None:
    longest = "eu-" + "x" * 29
    checks = FieldChecks()
    merged = merge_settings(checks, TenantSettings(), {"data_residency_region": longest})
    checks.done()
    assert merged.data_residency_region == longest
    checks = FieldChecks()
    merge_settings(checks, TenantSettings(), {"data_residency_region": longest + "x"})
    with pytest.raises(ValidationFailed) as caught:
        checks.done()
    assert [e.field for e in caught.value.errors] == ["settings.data_residency_region"]


@pytest.mark.parametrize("name", ["localtime", "Factory", "Mars/Base"])
def test_a_timezone_is_a_place_the_tz_database_names(name: str) -> None:
    """`localtime` (the host's own, differing between hosts) and `Factory` are listed by the
    tz database but are no place's zone."""
    checks = FieldChecks()
    merge_settings(checks, TenantSettings(), {"timezone": name})
    with pytest.raises(ValidationFailed) as caught:
        checks.done()
    assert [e.field for e in caught.value.errors] == ["settings.timezone"]


def principal(role: str, scope: Scope, kind: OrgKind) -> Principal:
    return Principal(
        user_id="user_x",
        org_id="org_x",
        role=role,
        tenant_id="t" if scope is Scope.TENANT else None,
        scope=scope,
        permissions=POLICY.permissions(role, kind),
    )


def test_roles_of_each_kind_of_organisation() -> None:
    assert roles_of_kind(POLICY, OrgKind.PLATFORM) == {
        "org:super_admin",
        "org:admin",
        "org:coordinator",
    }
    assert roles_of_kind(POLICY, OrgKind.TENANT) == {
        "org:admin",
        "org:provider:admin",
        "org:provider:staff",
        "org:mso:doctor",
        "org:facilitator",
    }


@given(granted=st.sampled_from(ROLES), kind=st.sampled_from(list(OrgKind)))
def test_nobody_grants_more_than_they_hold(granted: str, kind: OrgKind) -> None:
    """Whatever a non-super-admin caller may grant gives at most its own permissions."""
    for caller_role, scope, caller_kind in (
        ("org:admin", Scope.PLATFORM, OrgKind.PLATFORM),
        ("org:admin", Scope.TENANT, OrgKind.TENANT),
        ("org:provider:admin", Scope.TENANT, OrgKind.TENANT),
    ):
        caller = principal(caller_role, scope, caller_kind)
        try:
            check_role_change(caller, POLICY, granted, kind, granting=True)
        except RoleNotAllowed:
            continue
        assert POLICY.permissions(granted, kind) <= caller.permissions
        assert Permission.SUPER_ADMIN not in POLICY.permissions(granted, kind)


def test_the_membership_carries_the_strongest_role() -> None:
    assert membership_role(POLICY, OrgKind.TENANT, []) is None
    assert (
        membership_role(POLICY, OrgKind.TENANT, ["org:mso:doctor", "org:provider:staff"])
        == "org:provider:staff"
    )
    assert (
        membership_role(POLICY, OrgKind.TENANT, ["org:provider:admin", "org:admin"]) == "org:admin"
    )
    assert (
        membership_role(POLICY, OrgKind.PLATFORM, ["org:admin", "org:super_admin"])
        == "org:super_admin"
    )


# Bounds every list and every change shares: a page of 1..200 items from offset 0..10**9,
# a reason of at most 500 characters.


def refused_fields(checks: FieldChecks) -> list[str]:
    try:
        checks.done()
    except ValidationFailed as failure:
        return sorted(e.field for e in failure.errors)
    return []


@given(
    limit=st.integers(min_value=-5, max_value=205) | st.sampled_from([-(2**63), 2**63]),
    offset=st.integers(min_value=-5, max_value=5)
    | st.integers(min_value=10**9 - 5, max_value=10**9 + 5)
    | st.sampled_from([2**63]),
)
@example(limit=1, offset=0)
@example(limit=200, offset=1_000_000_000)
@example(limit=0, offset=-1)
@example(limit=201, offset=1_000_000_001)
def test_a_page_is_refused_exactly_when_its_limit_or_offset_is_out_of_bounds(
    limit: int, offset: int
) -> None:
    checks = FieldChecks()
    checks.page(limit, offset)
    expected = [] if 1 <= limit <= 200 else ["limit"]
    expected += [] if 0 <= offset <= 1_000_000_000 else ["offset"]
    assert refused_fields(checks) == expected


@given(st.integers(min_value=1, max_value=510), st.booleans())
@example(500, True)
@example(501, True)
@example(501, False)
def test_a_reason_of_up_to_500_characters_is_kept_whole(length: int, required: bool) -> None:
    checks = FieldChecks()
    reason = checks.reason("r" * length, required=required)
    if length <= 500:
        assert (reason, refused_fields(checks)) == ("r" * length, [])
    else:
        assert (reason, refused_fields(checks)) == (None, ["reason"])


def test_a_reason_is_required_unless_the_change_says_otherwise() -> None:
    checks = FieldChecks()
    assert checks.reason(None, required=False) is None
    assert refused_fields(checks) == []
    assert checks.reason(None) is None
    assert refused_fields(checks) == ["reason"]


# A time bound (`from_date`, `to_date` of audit and session lists) is an instant in UTC.


@given(
    st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.one_of(
            st.none(),
            st.integers(min_value=-18 * 60 + 1, max_value=18 * 60 - 1).map(
                lambda minutes: timezone(timedelta(minutes=minutes))
            ),
        ),
    ),
    st.booleans(),
    st.booleans(),
)
def test_a_date_time_bound_is_the_same_instant_in_utc(
    moment: datetime, as_text: bool, end: bool
) -> None:
    value: str | datetime = moment.isoformat() if as_text else moment
    bound = time_bound(value, field="from_date", end=end)
    expected = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    assert bound == expected
    assert bound is not None
    assert bound.utcoffset() == timedelta(0)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1)), st.booleans())
def test_a_date_bound_covers_its_whole_utc_day(day: date, as_text: bool) -> None:
    value: str | date = day.isoformat() if as_text else day
    first = time_bound(value, field="from_date", end=False)
    last = time_bound(value, field="to_date", end=True)
    assert first == datetime(day.year, day.month, day.day, tzinfo=UTC)
    assert last == first + timedelta(days=1) - timedelta(microseconds=1)


def test_a_bound_with_an_offset_counts_from_its_own_clock() -> None:
    checks = FieldChecks()
    first, last = checks.time_range("2026-03-01T10:00:00+05:30", "2026-03-01T04:30:00Z")
    assert refused_fields(checks) == []
    assert first == last == datetime(2026, 3, 1, 4, 30, tzinfo=UTC)
    checks.time_range("2026-03-01T10:00:00+05:30", "2026-03-01T04:29:59Z")
    assert refused_fields(checks) == ["to_date"]
