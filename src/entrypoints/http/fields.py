"""The wire types of request fields: what the OpenAPI document promises is what the core
accepts, so a request the document calls valid is not refused for its syntax.

Free text has no control characters and at least one visible character (the core trims and
refuses blank text); codes are the core's own reference lists.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

import msgspec
from litestar.params import PathParameter, QueryParameter

from admin_core.audit.model import ACTION_FILTER
from admin_core.flags.model import FLAG_NAME
from admin_core.kernel.errors import FieldError
from admin_core.kernel.paging import MAX_CURSOR_LENGTH
from admin_core.kernel.reference import COUNTRIES, CURRENCIES, LANGUAGES
from admin_core.kernel.validation import CONTROL_RANGES, MAX_REASON_LENGTH, FieldChecks
from admin_core.tenants.rules import ORG_ID, REGION, TENANT_ID, timezones
from admin_core.users.model import ROLE, USER_ID

_VISIBLE = rf"[^\s{CONTROL_RANGES}]"
_PRINTABLE = rf"[^{CONTROL_RANGES}]"
#: Text with at least one visible character and no control characters (see
#: `CONTROL_RANGES`: invisible characters that change how text reads are refused too).
TEXT_PATTERN = rf"^{_PRINTABLE}*{_VISIBLE}{_PRINTABLE}*$"


def text(max_length: int) -> object:
    return msgspec.Meta(min_length=1, max_length=max_length, pattern=TEXT_PATTERN)


Name = Annotated[str, text(200)]
City = Annotated[str, text(100)]
Tag = Annotated[str, text(100)]
Tags = Annotated[list[Tag], msgspec.Meta(max_length=50)]
ProviderId = Annotated[str, text(128)]
TENANT_ID_PATTERN = f"^{TENANT_ID.pattern}$"
USER_ID_PATTERN = f"^{USER_ID.pattern}$"
ROLE_PATTERN = f"^{ROLE.pattern}$"
#: An id in an audit filter: anything printable.
FILTER_ID_PATTERN = rf"^{_PRINTABLE}+$"
ACTION_PATTERN = f"^{ACTION_FILTER.pattern}$"
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
#: A date (the whole UTC day) or an ISO-8601 date-time (UTC when it has no offset).
TIME_PATTERN = (
    r"^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?)?$"
)

#: The `opt` key of an operation's `QueryRule`s.
QUERY_RULES = "query_rules"
#: A check of the core on an operation's query values that their types do not state (a
#: calendar day that does not exist, `to_date` before `from_date`), given the values whose
#: types are right. A query refused for its types does not reach the core, so these run
#: then, and one answer names every offending parameter.
QueryRule = Callable[[FieldChecks, Mapping[str, str]], object]


def query_rules(*rules: QueryRule) -> dict[str, Any]:
    """The `opt` of an operation whose query the core checks further with `rules`."""
    return {QUERY_RULES: rules}


#: The `opt` key of an operation's `BodyRule`s.
BODY_RULES = "body_rules"
#: A check of the core on a body's fields that needs the app's state (the flag catalogue),
#: given the app's container and the fields whose types are right. A body refused for one
#: field's type does not reach the core, so these run then, and one answer names every
#: offending field (a blank reason and a threshold out of range alike).
BodyRule = Callable[[Any, Mapping[str, Any]], Sequence[FieldError]]


def body_rules(*rules: BodyRule) -> dict[str, Any]:
    """The `opt` of an operation whose body the core checks further with `rules`."""
    return {BODY_RULES: rules}


def time_range(checks: FieldChecks, query: Mapping[str, str]) -> None:
    """`from_date` and `to_date`, read as the core reads them."""
    checks.time_range(query.get("from_date"), query.get("to_date"))


FLAG_NAME_PATTERN = f"^{FLAG_NAME.pattern}$"
FlagName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=FLAG_NAME_PATTERN)]
#: Why a change is made; recorded in its audit entries.
Reason = Annotated[str, text(MAX_REASON_LENGTH)]
TenantId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=TENANT_ID_PATTERN)]
#: A tenant id as a query parameter (required; `TenantFilter` where it narrows a list) or a
#: path segment.
TenantQuery = Annotated[str, QueryParameter(pattern=TENANT_ID_PATTERN, min_length=1, max_length=64)]
TenantFilter = Annotated[
    str | None, QueryParameter(pattern=TENANT_ID_PATTERN, min_length=1, max_length=64)
]
TenantPath = Annotated[str, PathParameter(pattern=TENANT_ID_PATTERN, min_length=1, max_length=64)]
#: The `next_cursor` of an offset list's page: the next page starts right after its last row.
PageCursor = Annotated[
    str | None,
    QueryParameter(
        pattern=CURSOR_PATTERN,
        min_length=1,
        max_length=MAX_CURSOR_LENGTH,
        description="The `next_cursor` of the page before, with the same filters, instead "
        "of an offset: the page starts right after that page's last row, whatever was "
        "added or removed meanwhile.",
    ),
]
OrgId = Annotated[str, msgspec.Meta(min_length=5, max_length=124, pattern=f"^{ORG_ID.pattern}$")]
Region = Annotated[str, msgspec.Meta(min_length=4, max_length=32, pattern=f"^{REGION.pattern}$")]

# Codes from the reference lists: enums in the document, checked by msgspec on the way in.
if TYPE_CHECKING:
    Country: TypeAlias = str
    Currency: TypeAlias = str
    Language: TypeAlias = str
    TimeZone: TypeAlias = str
else:
    Country = Literal[tuple(sorted(COUNTRIES))]
    Currency = Literal[tuple(sorted(CURRENCIES))]
    Language = Literal[tuple(sorted(LANGUAGES))]
    TimeZone = Literal[tuple(sorted(timezones()))]

#: What each pattern means, for the error message of a value that does not match it.
PATTERN_HINTS: dict[str, str] = {
    TEXT_PATTERN: "must be text with a visible character and no control characters",
    TENANT_ID_PATTERN: "must be lowercase letters, digits and inner dashes (at most 64)",
    USER_ID_PATTERN: "must be an identity provider user id such as user_2abc",
    ROLE_PATTERN: "must be a role such as org:admin",
    FILTER_ID_PATTERN: "must not contain control characters",
    ACTION_PATTERN: "must be an action name, optionally ending in '.' or '*' (a prefix)",
    CURSOR_PATTERN: "is not a cursor returned by this endpoint",
    FLAG_NAME_PATTERN: "must be a flag name: lowercase letters, digits and underscores",
    TIME_PATTERN: "must be a date (YYYY-MM-DD) or an ISO date-time",
    f"^{ORG_ID.pattern}$": "must be a Clerk organisation id such as org_2abc",
    f"^{REGION.pattern}$": "must be a region code such as eu-central-1",
}


_REGEX = re.compile(r"^Expected `str` matching regex '(?P<pattern>.*)'$", re.DOTALL)
_LENGTH = re.compile(r"^Expected `(?P<kind>str|array|object)` of length (?P<op>[<>]=?) (?P<n>\d+)$")
_BOUND = re.compile(r"^Expected `(?:int|float)` (?P<op>[<>]=?) (?P<n>-?[\d.e+-]+)$")
_UNITS = {"str": "characters", "array": "items", "object": "entries"}
_BOUNDS = {
    ">=": "must be at least {n}",
    "<=": "must be at most {n}",
    ">": "must be more than {n}",
    "<": "must be less than {n}",
}


def readable(message: str) -> str:
    """A decoder's refusal in words: a pattern mismatch (the document states the pattern
    itself), a length or a bound ("Expected `str` of length <= 500" is "must be at most 500
    characters")."""
    length = _LENGTH.match(message)
    if length is not None:
        if length["op"] == ">=" and length["n"] == "1":
            return "must not be empty"
        rule = _BOUNDS[length["op"]].format(n=length["n"])
        return f"{rule} {_UNITS[length['kind']]}"
    bound = _BOUND.match(message)
    if bound is not None:
        return _BOUNDS[bound["op"]].format(n=bound["n"])
    match = _REGEX.match(message)
    if match is None:
        return message
    pattern = match["pattern"].encode().decode("unicode_escape")
    return PATTERN_HINTS.get(pattern, PATTERN_HINTS.get(match["pattern"], message))
