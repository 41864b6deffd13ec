"""The flag catalogue: the file's errors name file and line, and every value a flag takes or
refuses follows its definition."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.config_files.flags import load_flag_catalogue, parse_flag_catalogue
from admin_core.flags.errors import FlagCatalogueInvalid, FlagUnknown, FlagValueInvalid
from admin_core.flags.model import (
    MAX_JSON_BYTES,
    MAX_STRING_LENGTH,
    FlagCatalogue,
    FlagDefinition,
    FlagType,
)
from admin_core.kernel.validation import has_control_characters

CATALOGUE = Path(__file__).resolve().parents[2] / "config" / "flags.yaml"
TRIAGE = (
    "triage_risk_threshold",
    "triage_layer_advance_threshold",
    "mso_completion_threshold",
    "mso_pfs_skip_threshold",
    "mso_max_offers_per_case",
    "mso_eligible_decision_stages",
)


def test_the_shipped_catalogue_holds_the_seed_flags_and_the_six_thresholds() -> None:
    catalogue = load_flag_catalogue(CATALOGUE)
    assert catalogue.get("matching_strategy_version").default == "v2.1"
    assert catalogue.get("enable_mso_booking").default is True
    assert tuple(d.name for d in catalogue.triage) == TRIAGE
    layer = catalogue.get("triage_layer_advance_threshold")
    assert (layer.minimum, layer.maximum, layer.step, layer.default) == (0, 1, 0.05, 0.7)
    weights = catalogue.get("matching_domain_weights")
    assert len(weights.weights) == 12
    assert math.isclose(sum(weights.default.values()), 1)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("flags:\n  - name: a\n    type: bool\n    default: [\n", 5, "not valid YAML"),
        ("flag:\n  - name: a\n", 1, "unknown key 'flag'"),
        ("flags: 3\n", 1, "'flags' must be a list"),
        ("flags:\n  - name: ok\n    type: bool\n    default: true\n  - 7\n", 5, "a flag must be"),
        ("flags:\n  - name: a\n    type: bool\n    default: true\n    colour: red\n", 5, "colour"),
        ("flags:\n  - name: Bad-Name\n    type: bool\n    default: true\n", 2, "'name'"),
        ("flags:\n  - name: a\n    type: decimal\n    default: 1\n", 3, "'type'"),
        ("flags:\n  - name: a\n    type: int\n", 2, "has no 'default'"),
        ("flags:\n  - name: a\n    type: int\n    default: 30\n    max: 20\n", 4, "at most 20"),
        (
            "flags:\n  - name: a\n    type: int\n    default: 1\n    min: 5\n    max: 2\n",
            6,
            "'min'",
        ),
        ("flags:\n  - name: a\n    type: float\n    default: 0.5\n    step: 0\n", 5, "positive"),
        (
            "flags:\n  - name: a\n    type: bool\n    default: true\n    min: 0\n",
            5,
            "int and float",
        ),
        ("flags:\n  - name: a\n    type: int\n    default: 1\n    allowed: [x]\n", 5, "'allowed'"),
        (
            "flags:\n  - name: a\n    type: bool\n    default: true\n"
            "  - name: a\n    type: bool\n    default: false\n",
            5,
            "defined twice",
        ),
    ],
)
def test_a_bad_catalogue_is_refused_with_file_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(FlagCatalogueInvalid) as refused:
        parse_flag_catalogue(text, source="flags.yaml")
    assert str(refused.value).startswith(f"flags.yaml:{line}:")
    assert message in str(refused.value)


def test_a_missing_catalogue_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FlagCatalogueInvalid, match=r"missing\.yaml: cannot be read"):
        load_flag_catalogue(tmp_path / "missing.yaml")


def test_an_unknown_flag_is_flag_unknown() -> None:
    with pytest.raises(FlagUnknown) as refused:
        load_flag_catalogue(CATALOGUE).get("no_such_flag")
    assert refused.value.code == "FLAG_UNKNOWN"


def _number(kind: FlagType, **bounds: float) -> FlagDefinition:
    return FlagDefinition(name="n", type=kind, default=0, **bounds)


@given(st.integers(min_value=-1000, max_value=1000))
def test_an_int_flag_takes_exactly_the_whole_numbers_in_range_on_its_step(value: int) -> None:
    definition = _number(FlagType.INT, minimum=-100, maximum=500, step=5)
    allowed = -100 <= value <= 500 and (value + 100) % 5 == 0
    assert (definition.problem(value) is None) is allowed


@given(st.integers(min_value=0, max_value=20), st.sampled_from([0.0, 1e-12, 0.01, 0.025]))
def test_a_float_flag_on_a_step_takes_its_multiples_and_refuses_the_rest(
    steps: int, off: float
) -> None:
    definition = _number(FlagType.FLOAT, minimum=0, maximum=1, step=0.05)
    value = steps * 0.05 + off
    accepted = definition.problem(value) is None
    assert accepted is (off < 1e-9 and value <= 1)


@given(
    st.integers(min_value=1, max_value=19),  # inside the bounds, which forgive nothing
    st.floats(min_value=-1e-11, max_value=1e-11),  # within the step check's tolerance
    st.sampled_from([0, 0.1, 0.25]),
)
def test_a_float_flag_value_is_stored_on_its_grid_exactly(
    steps: int, noise: float, low: float
) -> None:
    """`0.1 + 0.2`, `0.7 + 1e-12` or `-0.0` are taken (a float's rounding is forgiven) and
    stored as the grid's value itself: 0.3, 0.7, 0.0 — the same whatever way it was written."""
    definition = _number(FlagType.FLOAT, minimum=low, maximum=low + 1, step=0.05)
    value = low + steps * 0.05 + noise
    stored = definition.checked(value)
    assert stored == round(low + steps * 0.05, 12)
    assert math.copysign(1.0, stored) == 1.0  # never -0.0
    assert definition.checked(stored) == stored


def test_a_float_flag_never_stores_negative_zero() -> None:
    for definition in (
        _number(FlagType.FLOAT, minimum=-1, maximum=1),
        _number(FlagType.FLOAT, minimum=-1, maximum=1, step=0.5),
    ):
        assert str(definition.checked(-0.0)) == "0.0"


def test_a_weight_is_never_stored_as_negative_zero() -> None:
    definition = FlagDefinition(
        name="w", type=FlagType.JSON, default={"a": 1, "b": 0}, weights=("a", "b")
    )
    stored = definition.checked({"a": 1, "b": -0.0})
    assert stored == {"a": 1, "b": 0.0}
    assert str(stored["b"]) == "0.0"


@given(st.one_of(st.booleans(), st.text(max_size=5), st.none(), st.lists(st.integers())))
def test_a_number_flag_refuses_what_is_not_a_number(value: object) -> None:
    assert _number(FlagType.FLOAT, minimum=0, maximum=1).problem(value) is not None
    assert _number(FlagType.INT, minimum=0, maximum=1).problem(value) is not None


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_a_float_flag_takes_finite_numbers_in_range_only(value: float) -> None:
    definition = _number(FlagType.FLOAT, minimum=0, maximum=1)
    assert (definition.problem(value) is None) is (math.isfinite(value) and 0 <= value <= 1)


KEYS = ("a", "b", "c")


@given(st.dictionaries(st.sampled_from([*KEYS, "z"]), st.floats(-0.5, 1.5), max_size=4))
def test_weights_must_name_every_key_once_each_in_0_1_summing_to_1(weights: dict) -> None:
    definition = FlagDefinition(
        name="w", type=FlagType.JSON, default={"a": 1, "b": 0, "c": 0}, weights=KEYS
    )
    valid = (
        set(weights) == set(KEYS)
        and all(0 <= w <= 1 for w in weights.values())
        and abs(math.fsum(weights.values()) - 1) <= 1e-6
    )
    assert (definition.problem(weights) is None) is valid


@given(st.lists(st.sampled_from(["x", "y", "z", "q"]), max_size=5))
def test_a_list_flag_takes_distinct_allowed_values(items: list[str]) -> None:
    definition = FlagDefinition(name="l", type=FlagType.JSON, default=[], allowed=("x", "y", "z"))
    valid = "q" not in items and len(set(items)) == len(items)
    assert (definition.problem(items) is None) is valid


def test_a_refused_value_names_its_field_and_why() -> None:
    definition = load_flag_catalogue(CATALOGUE).get("triage_layer_advance_threshold")
    with pytest.raises(FlagValueInvalid) as refused:
        definition.checked(0.72)
    [error] = refused.value.errors
    assert (error.field, error.message) == ("value", "must be a multiple of 0.05")
    assert definition.checked(1) == 1.0
    assert isinstance(definition.checked(1), float)


def test_every_bad_entry_of_a_catalogue_is_named_at_once() -> None:
    text = (
        "flags:\n"
        "  - name: a\n    type: int\n    default: 1\n    allowed: [x]\n"
        "  - name: b\n    type: bool\n    default: true\n"
        "  - name: b\n    type: bool\n    default: false\n"
        "  - name: c\n    type: float\n    default: 2\n    max: 1\n"
    )
    with pytest.raises(FlagCatalogueInvalid) as refused:
        parse_flag_catalogue(text, source="flags.yaml")
    lines = [problem.split(":")[1] for problem in refused.value.problems]
    assert lines == ["5", "9", "14"], refused.value.problems


@pytest.mark.parametrize(
    ("entry", "line", "message"),
    [
        ("    type: int\n    default: 1\n    min: 0.5\n", 5, "'min' must be a int"),
        ("    type: float\n    default: 0.5\n    max: yes\n", 5, "'max' must be a float"),
        ("    type: string\n    default: a\n    weights: [a]\n", 5, "'weights'"),
        (
            "    type: json\n    default: []\n    allowed: [a]\n    weights: [a]\n",
            6,
            "'weights'",
        ),
        ("    type: json\n    default: {}\n    weights: a\n", 5, "'weights'"),
        ("    type: string\n    default: a\n    allowed: a\n", 5, "'allowed'"),
        ("    type: string\n    default: a\n    allowed: [1]\n", 5, "'allowed'"),
        ("    type: bool\n    default: true\n    triage: 1\n", 5, "'triage' must be true"),
        ("    type: bool\n    default: true\n    description: 3\n", 5, "'description'"),
        ("    type: bool\n    default: true\n    unit: [s]\n", 5, "'unit'"),
        ("    type: string\n    default: c\n    allowed: [a, b]\n", 4, "one of a, b"),
    ],
)
def test_a_flag_whose_rules_do_not_fit_its_type_is_refused_at_its_key(
    entry: str, line: int, message: str
) -> None:
    with pytest.raises(FlagCatalogueInvalid) as refused:
        parse_flag_catalogue("flags:\n  - name: a\n" + entry, source="flags.yaml")
    assert str(refused.value).startswith(f"flags.yaml:{line}:")
    assert message in str(refused.value)


def test_two_definitions_of_one_flag_make_no_catalogue() -> None:
    """Embedders build a catalogue from definitions too, not only from the file."""
    one = FlagDefinition(name="a", type=FlagType.BOOL, default=True)
    with pytest.raises(Exception, match="defined twice"):
        FlagCatalogue.of([one, one])


_STRING = FlagDefinition(name="s", type=FlagType.STRING, default="")
_CHOICE = FlagDefinition(name="c", type=FlagType.STRING, default="a", allowed=("a", "b"))
_STAGES = FlagDefinition(name="j", type=FlagType.JSON, default=[], allowed=("a", "b", "c"))
_JSON = FlagDefinition(name="k", type=FlagType.JSON, default=None)


@given(st.text(max_size=1_100))
def test_a_string_flag_takes_short_text_without_control_characters(value: str) -> None:
    fine = len(value) <= MAX_STRING_LENGTH and not has_control_characters(value)
    assert (_STRING.problem(value) is None) is fine
    assert (_CHOICE.problem(value) is None) is (value in ("a", "b"))


@pytest.mark.parametrize("value", ["x" * (MAX_STRING_LENGTH + 1), "a\x00b", "a\nb", 7, None])
def test_a_string_flag_refuses_long_text_control_characters_and_what_is_not_text(
    value: object,
) -> None:
    assert _STRING.problem(value) is not None
    assert _STRING.problem("x" * MAX_STRING_LENGTH) is None


@given(st.lists(st.sampled_from(["a", "b", "c", "d", 1]), max_size=5))
def test_a_json_flag_with_allowed_values_takes_lists_of_distinct_ones(value: list[object]) -> None:
    fine = all(v in ("a", "b", "c") for v in value) and len(set(value)) == len(value)
    assert (_STAGES.problem(value) is None) is fine


@pytest.mark.parametrize("value", ["a", {"a": 1}, ["a", "a"], ["a", 1], None])
def test_a_json_flag_with_allowed_values_refuses_anything_else(value: object) -> None:
    assert _STAGES.problem(value) is not None


@pytest.mark.parametrize(
    "value", [math.nan, {"x": math.inf}, {1, 2}, object(), "x" * MAX_JSON_BYTES]
)
def test_a_json_flag_refuses_what_is_not_json_or_too_large(value: object) -> None:
    assert _JSON.problem(value) is not None


def test_a_json_flag_takes_any_json_value_up_to_its_size() -> None:
    for value in (None, 1, "x" * (MAX_JSON_BYTES - 2), [1, {"a": [True]}]):
        assert _JSON.problem(value) is None
