"""What Flagsmith holds for a flag is read as a value of the flag's type, or found unreadable
(`Unreadable`: the flag shows its default, and the operator is warned once). Nothing a
dashboard or another client can store there makes the read fail otherwise: not an integer
beyond what a float holds, not a JSON document nested deeper than the parser goes, not a
value of another type."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.flagsmith.flags import Unreadable, decode
from admin_core.flags.model import FlagDefinition, FlagType

#: What Flagsmith's JSON can hold as a feature state's `enabled` or `feature_state_value`.
stored_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**308, max_value=10**400)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(["1", " 12 ", "1.5", "1e400", "nan", "inf", "true", "[1,2]", '{"a":1}']),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)

#: The Python types of each flag type's values, as the catalogue's checks take them.
_TYPES: dict[FlagType, tuple[type, ...]] = {
    FlagType.BOOL: (bool,),
    FlagType.INT: (int,),
    FlagType.FLOAT: (float,),
    FlagType.STRING: (str,),
    FlagType.JSON: (type(None), bool, int, float, str, list, dict),
}


def _flag(kind: FlagType) -> FlagDefinition:
    return FlagDefinition(name="a_flag", type=kind, default=None)


def _read(kind: FlagType, enabled: Any, value: Any) -> Any:
    try:
        return decode(_flag(kind), enabled, value)
    except Unreadable:
        return Unreadable


@given(kind=st.sampled_from(FlagType), enabled=stored_values, value=stored_values)
def test_a_stored_value_is_read_as_the_flags_type_or_found_unreadable(
    kind: FlagType, enabled: Any, value: Any
) -> None:
    read = _read(kind, enabled, value)
    if read is Unreadable:
        return
    assert isinstance(read, _TYPES[kind]), (kind, enabled, value, read)
    if kind is not FlagType.BOOL and kind is not FlagType.JSON:
        assert not isinstance(read, bool)
    if isinstance(read, float):
        assert math.isfinite(read)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (FlagType.FLOAT, 10**400),  # beyond a float
        (FlagType.JSON, "[" * 100_000 + "]" * 100_000),  # deeper than the parser goes
        (FlagType.JSON, '{"a":' * 5_000 + "1" + "}" * 5_000),
        (FlagType.FLOAT, "1e400"),
        (FlagType.INT, 1.5),
        (FlagType.JSON, "NaN"),
        (FlagType.JSON, "1e400"),
        (FlagType.JSON, '{"a": [-1e400]}'),
    ],
)
def test_values_no_flag_of_the_type_holds_are_found_unreadable(kind: FlagType, value: Any) -> None:
    assert _read(kind, True, value) is Unreadable


@pytest.mark.parametrize(
    ("kind", "enabled", "value", "read"),
    [
        (FlagType.BOOL, False, "ignored", False),
        (FlagType.INT, True, " 12 ", 12),
        (FlagType.INT, True, 10**30, 10**30),
        (FlagType.FLOAT, True, 3, 3.0),
        (FlagType.FLOAT, True, "0.25", 0.25),
        (FlagType.STRING, True, True, "true"),  # a dashboard types "true" as a boolean
        (FlagType.STRING, True, 12, "12"),  # ... and "12" as an integer
        (FlagType.JSON, True, '{"a":[1,2]}', {"a": [1, 2]}),
        (FlagType.JSON, True, 0.5, 0.5),
    ],
)
def test_values_of_the_type_are_read_as_flagsmith_holds_them(
    kind: FlagType, enabled: Any, value: Any, read: Any
) -> None:
    assert _read(kind, enabled, value) == read
