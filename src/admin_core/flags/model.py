"""The flag catalogue and the flag values of a tenant (SPEC §6.2, §6.6).

The catalogue (`config/flags.yaml`) says which flags exist, their type, default and the values
they may take. Per-tenant values are identity overrides (the tenant id is the identity), and
every value written is checked against the catalogue first.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from admin_core.flags.errors import FlagUnknown, FlagValueInvalid
from admin_core.kernel.errors import FieldError
from admin_core.kernel.validation import has_control_characters

FLAG_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
#: The longest string value, and the largest JSON value once encoded.
MAX_STRING_LENGTH = 1_000
MAX_JSON_BYTES = 16_384
#: How far a sum of weights may be from 1, and a value from a multiple of its step.
_TOLERANCE = 1e-9
#: Decimal places a float on a step's grid is rounded to (far below any step, far above a
#: float's rounding error).
_GRID_DIGITS = 12


class FlagType(enum.StrEnum):
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    STRING = "string"
    JSON = "json"


class Provenance(enum.StrEnum):
    """Where a tenant's value of a flag comes from."""

    DEFAULT = "default"  # the environment's value
    OVERRIDE = "identity_override"  # the tenant's own


@dataclass(frozen=True, slots=True, kw_only=True)
class FlagDefinition:
    """One flag of the catalogue.

    - `minimum`, `maximum`, `step`: bounds of an int or float (the step counts from
      `minimum`, or from 0 without one);
    - `allowed`: a string is one of these; a JSON value is a list of distinct ones of these;
    - `weights`: a JSON value is an object of exactly these keys, each a number from 0 to 1,
      together summing to 1;
    - `triage`: a triage threshold, edited on the triage page (SPEC §6.6).
    """

    name: str
    type: FlagType
    default: Any
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    allowed: tuple[Any, ...] = ()
    weights: tuple[str, ...] = ()
    triage: bool = False
    unit: str | None = None

    def problem(self, value: Any) -> str | None:
        """Why `value` is not a value of this flag, or None when it is."""
        check = _CHECKS[self.type]
        return check(self, value)

    def checked(self, value: Any, *, field: str = "value") -> Any:
        """`value` in its canonical form (a float flag's integer as a float); raises
        `FlagValueInvalid` naming `field` when the catalogue refuses it."""
        problem = self.problem(value)
        if problem is not None:
            raise FlagValueInvalid([FieldError(field=field, message=problem)])
        return canonical(self, value)


def canonical(definition: FlagDefinition, value: Any) -> Any:
    """A float flag's value as a float: never -0.0, and on its step's grid exactly (`0.1 +
    0.2` is stored as 0.3: the step check forgives a float's rounding, the stored value keeps
    none of it). A weight is never -0.0 either."""
    if definition.weights and isinstance(value, dict):
        return {k: v + 0.0 if isinstance(v, float) else v for k, v in value.items()}
    if definition.type is not FlagType.FLOAT:
        return value
    number = float(value)
    step = definition.step
    if step is not None:
        low = definition.minimum or 0.0
        number = round(low + round((number - low) / step) * step, _GRID_DIGITS)
    return number + 0.0  # -0.0 + 0.0 is 0.0


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bounds(definition: FlagDefinition, value: float) -> str | None:
    low, high, step = definition.minimum, definition.maximum, definition.step
    if low is not None and value < low:
        return f"must be at least {_number(low)}"
    if high is not None and value > high:
        return f"must be at most {_number(high)}"
    if step is not None:
        steps = (value - (low or 0)) / step
        if abs(steps - round(steps)) > _TOLERANCE * max(1.0, abs(steps)):
            return f"must be a multiple of {_number(step)}" + (
                f" from {_number(low)}" if low else ""
            )
    return None


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _check_bool(definition: FlagDefinition, value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _check_int(definition: FlagDefinition, value: Any) -> str | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return "must be a whole number"
    return _bounds(definition, value)


def _check_float(definition: FlagDefinition, value: Any) -> str | None:
    if not _is_number(value) or not math.isfinite(value):
        return "must be a number"
    return _bounds(definition, float(value))


def _check_string(definition: FlagDefinition, value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    if len(value) > MAX_STRING_LENGTH:
        return f"must be at most {MAX_STRING_LENGTH} characters"
    if has_control_characters(value):
        return "must not contain control characters"
    if definition.allowed and value not in definition.allowed:
        return "must be one of " + ", ".join(map(str, definition.allowed))
    return None


def _check_json(definition: FlagDefinition, value: Any) -> str | None:
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return "must be a JSON value"
    if len(encoded) > MAX_JSON_BYTES:
        return f"must be at most {MAX_JSON_BYTES} bytes as JSON"
    if definition.allowed:
        return _check_subset(definition.allowed, value)
    if definition.weights:
        return _check_weights(definition.weights, value)
    return None


def _check_subset(allowed: tuple[Any, ...], value: Any) -> str | None:
    hint = "must be a list of distinct values from " + ", ".join(map(str, allowed))
    if not isinstance(value, list):
        return hint
    if any(not isinstance(v, str) or v not in allowed for v in value):
        return hint
    if len(set(value)) != len(value):
        return hint
    return None


def _check_weights(keys: tuple[str, ...], value: Any) -> str | None:
    if not isinstance(value, dict):
        return "must be an object of weights by " + ", ".join(keys)
    missing = [k for k in keys if k not in value]
    unknown = sorted(k for k in value if k not in keys)
    if unknown:
        return "has unknown keys: " + ", ".join(unknown)
    if missing:
        return "lacks weights for: " + ", ".join(missing)
    if any(not _is_number(w) or not math.isfinite(w) or not 0 <= w <= 1 for w in value.values()):
        return "must give every weight as a number from 0 to 1"
    if abs(math.fsum(value.values()) - 1) > 1e-6:
        return "must have weights that sum to 1"
    return None


_CHECKS = {
    FlagType.BOOL: _check_bool,
    FlagType.INT: _check_int,
    FlagType.FLOAT: _check_float,
    FlagType.STRING: _check_string,
    FlagType.JSON: _check_json,
}


class CatalogueEntryInvalid(Exception):
    """One entry of a catalogue file is not valid. `key` is the entry's offending key (None:
    the entry as a whole), so the loader can point at its line."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key


_KEYS = frozenset(
    {
        "name",
        "type",
        "default",
        "description",
        "min",
        "max",
        "step",
        "allowed",
        "weights",
        "triage",
        "unit",
    }
)


def definition_from(raw: Any) -> FlagDefinition:
    """A definition from one parsed entry of the catalogue file; raises
    `CatalogueEntryInvalid` saying what is wrong and where."""
    if not isinstance(raw, Mapping):
        raise CatalogueEntryInvalid("a flag must be a mapping of name, type, default, ...")
    unknown = sorted(str(k) for k in raw if k not in _KEYS)
    if unknown:
        raise CatalogueEntryInvalid(f"unknown key '{unknown[0]}'", key=unknown[0])
    name = raw.get("name")
    if not isinstance(name, str) or not FLAG_NAME.fullmatch(name):
        raise CatalogueEntryInvalid(
            "'name' must be lowercase letters, digits and underscores", key="name"
        )
    try:
        kind = FlagType(str(raw.get("type")))
    except ValueError:
        raise CatalogueEntryInvalid(
            f"'type' must be one of {', '.join(FlagType)}", key="type"
        ) from None
    if "default" not in raw:
        raise CatalogueEntryInvalid(f"flag '{name}' has no 'default'")
    numeric = kind in {FlagType.INT, FlagType.FLOAT}
    bounds = {}
    for key in ("min", "max", "step"):
        value = raw.get(key)
        if value is None:
            continue
        if not numeric:
            raise CatalogueEntryInvalid(f"'{key}' applies to int and float flags only", key=key)
        if not _is_number(value) or (kind is FlagType.INT and not isinstance(value, int)):
            raise CatalogueEntryInvalid(f"'{key}' must be a {kind.value}", key=key)
        bounds[key] = value
    if "step" in bounds and bounds["step"] <= 0:
        raise CatalogueEntryInvalid("'step' must be positive", key="step")
    if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
        raise CatalogueEntryInvalid("'min' must not exceed 'max'", key="max")
    allowed = raw.get("allowed") or ()
    if allowed and (
        kind not in {FlagType.STRING, FlagType.JSON}
        or not isinstance(allowed, list)
        or not all(isinstance(a, str) for a in allowed)
    ):
        raise CatalogueEntryInvalid(
            "'allowed' is a list of strings, for string and json flags", key="allowed"
        )
    weights = raw.get("weights") or ()
    if weights and (
        kind is not FlagType.JSON
        or allowed
        or not isinstance(weights, list)
        or not all(isinstance(w, str) for w in weights)
    ):
        raise CatalogueEntryInvalid(
            "'weights' is a list of keys, for json flags without 'allowed'", key="weights"
        )
    triage = raw.get("triage", False)
    if not isinstance(triage, bool):
        raise CatalogueEntryInvalid("'triage' must be true or false", key="triage")
    for key in ("description", "unit"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise CatalogueEntryInvalid(f"'{key}' must be text", key=key)
    definition = FlagDefinition(
        name=name,
        type=kind,
        default=raw["default"],
        description=raw.get("description") or "",
        minimum=bounds.get("min"),
        maximum=bounds.get("max"),
        step=bounds.get("step"),
        allowed=tuple(allowed),
        weights=tuple(weights),
        triage=triage,
        unit=raw.get("unit"),
    )
    problem = definition.problem(definition.default)
    if problem is not None:
        raise CatalogueEntryInvalid(f"'default' of '{name}' {problem}", key="default")
    return replace(definition, default=canonical(definition, definition.default))


@dataclass(frozen=True, slots=True)
class FlagCatalogue:
    """The flags that exist, in the order the catalogue file lists them."""

    definitions: Mapping[str, FlagDefinition]

    @classmethod
    def of(cls, definitions: Iterable[FlagDefinition]) -> FlagCatalogue:
        by_name: dict[str, FlagDefinition] = {}
        for definition in definitions:
            if definition.name in by_name:
                raise CatalogueEntryInvalid(f"flag '{definition.name}' is defined twice")
            by_name[definition.name] = definition
        return cls(by_name)

    def get(self, name: str, *, field: str = "flag") -> FlagDefinition:
        definition = self.definitions.get(name)
        if definition is None:
            raise FlagUnknown.named(field, name)
        return definition

    @property
    def triage(self) -> Sequence[FlagDefinition]:
        return [d for d in self.definitions.values() if d.triage]


@dataclass(frozen=True, slots=True, kw_only=True)
class FlagState:
    """What the flag provider holds for one identity: the environment's values and the
    identity's overrides. `stale`: the provider could not be reached and this is the last
    state read from it."""

    environment: Mapping[str, Any]
    overrides: Mapping[str, Any]
    stale: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class EffectiveFlags:
    """A tenant's flags: the environment's values merged with the tenant's overrides, for
    every flag of the catalogue (its default where the environment lacks it) and every other
    flag the provider has."""

    tenant_id: str
    values: Mapping[str, Any]
    sources: Mapping[str, Provenance]
    #: The values without the tenant's overrides: what clearing one gives back.
    defaults: Mapping[str, Any]
    stale: bool = False

    @property
    def overrides_applied(self) -> list[str]:
        return sorted(n for n, s in self.sources.items() if s is Provenance.OVERRIDE)


def effective_flags(catalogue: FlagCatalogue, tenant_id: str, state: FlagState) -> EffectiveFlags:
    defaults = {name: d.default for name, d in catalogue.definitions.items()}
    defaults.update(state.environment)
    values = {**defaults, **state.overrides}
    sources = dict.fromkeys(values, Provenance.DEFAULT)
    sources.update(dict.fromkeys(state.overrides, Provenance.OVERRIDE))
    return EffectiveFlags(
        tenant_id=tenant_id, values=values, sources=sources, defaults=defaults, stale=state.stale
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class FlagChange:
    """One override to set (`value`) or clear (`clear=True`), with what it replaces: the
    override the tenant had (`previous`, when `had_override`)."""

    flag: str
    value: Any = None
    clear: bool = False
    had_override: bool = False
    previous: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Threshold:
    """A triage threshold as the triage page shows it."""

    definition: FlagDefinition
    value: Any
    default: Any  # the environment's value: what the tenant gets without its override
    overridden: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class TriageThresholds:
    tenant_id: str
    thresholds: Sequence[Threshold] = field(default_factory=list)
    stale: bool = False
