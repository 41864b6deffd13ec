"""The matching-parameter registry and the domain weights (SPEC §6.3).

The registry (`config/matching/parameters/<domain>.yaml`) lists every parameter the matcher
knows, in 12 domains, with its status, where its data comes from (`source`) and what it reads
(`path`). A `postgres` or `neo4j` parameter's path must be one of the measurable paths
(`admin_core.matching.paths`): only those can have their coverage measured. The domain
weights (`config/matching/domains.yaml`) are the default weight of each domain in a tenant's
ranking; a tenant's `matching_domain_weights` flag overrides them.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from admin_core.kernel.validation import has_control_characters
from admin_core.matching.paths import MEASURABLE


class Domain(enum.StrEnum):
    """The 12 matching domains: the one list, also the keys the `matching_domain_weights`
    flag allows (the flag catalogue names it `matching_domains`)."""

    CLINICAL_CONTEXT = "clinical_context"
    PROVIDER_CAPABILITY = "provider_capability"
    OUTCOMES_EVIDENCE = "outcomes_evidence"
    COST_FINANCIAL = "cost_financial"
    LOGISTICS_TRAVEL = "logistics_travel"
    VISA_REGULATORY = "visa_regulatory"
    CULTURAL_LINGUISTIC = "cultural_linguistic"
    PATIENT_PREFERENCES = "patient_preferences"
    RISK_SAFETY = "risk_safety"
    POST_OP_CONTINUITY = "post_op_continuity"
    DATA_QUALITY = "data_quality"
    TRUST_REPUTATION = "trust_reputation"


#: The domains in their canonical order (the flag catalogue's key set `matching_domains`).
DOMAINS: tuple[str, ...] = tuple(d.value for d in Domain)


class Status(enum.StrEnum):
    ACTIVE = "active"  # scored by the matcher, on data we hold
    SEEDED = "seeded"  # data we hold, not scored yet
    UNSEEDED = "unseeded"  # defined, its data not loaded yet
    NOT_IMPLEMENTED = "not_implemented"  # defined only


class Source(enum.StrEnum):
    POSTGRES = "postgres"  # a column or relation of the source of truth
    NEO4J = "neo4j"  # a property or pattern of the graph projection
    REFERENCE = "reference"  # reference data from outside (visa rules, exchange rates, ...)
    COMPUTED = "computed"  # derived at match time (travel time, price in the patient's currency)

    @property
    def measured(self) -> bool:
        """Whether coverage can be measured: the data is in one of our databases."""
        return self in (Source.POSTGRES, Source.NEO4J)


PARAMETER_ID = re.compile(r"[a-z][a-z0-9_]{0,79}")
#: The path of a `reference` or `computed` parameter: a dotted name of what it reads.
LOGICAL_PATH = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,7}")
MAX_DESCRIPTION = 500
#: Line and paragraph separators: YAML reads them as line breaks.
_BREAKS = re.compile("[\u2028\u2029]")
#: How far a sum of weights may be from 1.
WEIGHT_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True, kw_only=True)
class Parameter:
    """One matching parameter. `weight` (0..1) is its weight within its domain."""

    id: str
    domain: Domain
    status: Status
    source: Source
    weight: float
    path: str
    description: str


class ParameterInvalid(Exception):
    """One entry of a registry file is not valid. `key` is the offending key (None: the entry
    as a whole), so the loader can point at its line."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key


PARAMETER_KEYS = ("id", "domain", "status", "source", "weight", "path", "description")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _choice(raw: Mapping[str, Any], key: str, kind: type[enum.StrEnum]) -> Any:
    value = raw.get(key)
    if isinstance(value, str) and value in kind.__members__.values():
        return kind(value)
    raise ParameterInvalid(f"unknown {key} {value!r}: one of {', '.join(kind)}", key=key)


def parameter_from(raw: Any, *, domain: Domain) -> Parameter:
    """A parameter from one parsed entry of `domain`'s file; raises `ParameterInvalid`."""
    if not isinstance(raw, Mapping):
        raise ParameterInvalid("a parameter is a mapping of " + ", ".join(PARAMETER_KEYS))
    unknown = sorted(str(k) for k in raw if k not in PARAMETER_KEYS)
    if unknown:
        raise ParameterInvalid(f"unknown key '{unknown[0]}'", key=unknown[0])
    missing = [k for k in PARAMETER_KEYS if k not in raw]
    if missing:
        raise ParameterInvalid("missing " + ", ".join(f"'{k}'" for k in missing))
    ident = raw["id"]
    if not isinstance(ident, str) or not PARAMETER_ID.fullmatch(ident):
        raise ParameterInvalid("'id' must be lowercase letters, digits and underscores", key="id")
    own = _choice(raw, "domain", Domain)
    if own is not domain:
        raise ParameterInvalid(
            f"parameter '{ident}' has domain '{own}' in the file of '{domain}'", key="domain"
        )
    status = _choice(raw, "status", Status)
    source = _choice(raw, "source", Source)
    weight = raw["weight"]
    if not _is_number(weight) or not math.isfinite(weight) or not 0 <= weight <= 1:
        raise ParameterInvalid(f"'weight' of '{ident}' must be a number from 0 to 1", key="weight")
    path = raw["path"]
    if not isinstance(path, str) or not path:
        raise ParameterInvalid("'path' must be text", key="path")
    if source.measured:
        if path not in MEASURABLE[source]:
            raise ParameterInvalid(
                f"path {path!r} of '{ident}' names nothing {source} can measure"
                " (see admin_core/matching/paths.py)",
                key="path",
            )
    elif not LOGICAL_PATH.fullmatch(path):
        raise ParameterInvalid(
            f"path {path!r} of '{ident}' must be a dotted name (a {source} parameter)",
            key="path",
        )
    description = raw["description"]
    if not isinstance(description, str) or not description.strip():
        raise ParameterInvalid("'description' must be text", key="description")
    if has_control_characters(description) or _BREAKS.search(description):
        raise ParameterInvalid("'description' must be one line of text", key="description")
    if len(description) > MAX_DESCRIPTION:
        raise ParameterInvalid(
            f"'description' must be at most {MAX_DESCRIPTION} characters", key="description"
        )
    return Parameter(
        id=ident,
        domain=domain,
        status=status,
        source=source,
        weight=float(weight),
        path=path,
        description=description,
    )


@dataclass(frozen=True, slots=True)
class Registry:
    """Every parameter, in file order (the domains in their canonical order)."""

    parameters: tuple[Parameter, ...]

    @classmethod
    def of(cls, parameters: Iterable[Parameter]) -> Registry:
        ordered = sorted(parameters, key=lambda p: DOMAINS.index(p.domain))
        seen: set[str] = set()
        for parameter in ordered:
            if parameter.id in seen:
                raise ParameterInvalid(f"parameter '{parameter.id}' is defined twice", key="id")
            seen.add(parameter.id)
        return cls(tuple(ordered))

    @property
    def counts(self) -> dict[Status, int]:
        counts = dict.fromkeys(Status, 0)
        for parameter in self.parameters:
            counts[parameter.status] += 1
        return counts

    def select(
        self, *, domain: Domain | None = None, status: Status | None = None
    ) -> list[Parameter]:
        return [
            p
            for p in self.parameters
            if (domain is None or p.domain is domain) and (status is None or p.status is status)
        ]

    def in_domain(self, domain: Domain) -> Sequence[Parameter]:
        return self.select(domain=domain)


class WeightsInvalid(ValueError):
    """Domain weights that are not one weight from 0 to 1 per domain, summing to 1. `key` is
    the offending domain, if one is."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key


@dataclass(frozen=True, slots=True)
class DomainWeights:
    """A weight per domain, in the domains' canonical order, summing to 1."""

    weights: Mapping[Domain, float]

    @classmethod
    def of(cls, raw: Any) -> DomainWeights:
        if not isinstance(raw, Mapping):
            raise WeightsInvalid("the weights are a mapping of domain to weight")
        unknown = sorted(str(k) for k in raw if k not in DOMAINS)
        if unknown:
            raise WeightsInvalid(f"unknown domain '{unknown[0]}'", key=unknown[0])
        missing = [d for d in DOMAINS if d not in raw]
        if missing:
            raise WeightsInvalid("no weight for " + ", ".join(missing))
        for domain in DOMAINS:
            w = raw[domain]
            if not _is_number(w) or not math.isfinite(w) or not 0 <= w <= 1:
                raise WeightsInvalid(
                    f"the weight of '{domain}' must be a number from 0 to 1", key=domain
                )
        if abs(math.fsum(raw[d] for d in DOMAINS) - 1) > WEIGHT_TOLERANCE:
            raise WeightsInvalid("the weights must sum to 1")
        return cls({Domain(d): float(raw[d]) for d in DOMAINS})

    def wire(self) -> dict[str, float]:
        return {d.value: w for d, w in self.weights.items()}
