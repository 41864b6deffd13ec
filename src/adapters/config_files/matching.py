"""The matching registry and the default domain weights (SPEC §6.3): read, checked, and
every problem located.

    config/matching/parameters/<domain>.yaml       one file per domain, named after it
      domain: clinical_context
      parameters:
        - id: cc_specialty_offered
          domain: clinical_context                 # the file's domain
          status: active                           # active | seeded | unseeded | not_implemented
          source: postgres                         # postgres | neo4j | reference | computed
          weight: 0.3                              # 0..1, within the domain
          path: providers.specialties              # postgres/neo4j: a measurable path
          description: ...

    config/matching/domains.yaml
      weights: {clinical_context: 0.15, ...}       # every domain, 0..1, summing to 1

Every problem is reported as `file:line: what` (a YAML syntax error where the parser stopped,
an entry's problem at the offending key); the checks go on after a problem, so one run names
them all (`adminctl matching check`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from admin_core.matching.errors import MatchingConfigurationInvalid
from admin_core.matching.model import (
    DOMAINS,
    PARAMETER_KEYS,
    Domain,
    DomainWeights,
    Parameter,
    ParameterInvalid,
    Registry,
    WeightsInvalid,
    parameter_from,
)
from admin_core.matching.ports import MatchingConfiguration

#: libyaml's safe loader when it is there (several times faster), else the pure-Python one.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

PARAMETERS_DIR = "parameters"
WEIGHTS_FILE = "domains.yaml"


@dataclass
class _Findings:
    parameters: list[Parameter] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: Where each id was first defined.
    seen: dict[str, str] = field(default_factory=dict)


def _parse(text: str, source: str, findings: _Findings) -> tuple[Any, Any] | None:
    """(data, node) of a YAML text, or None with its problem recorded."""
    try:
        root = yaml.compose(text, Loader=_LOADER)
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        findings.problems.append(f"{source}{where}: not valid YAML: {problem}")
        return None
    return data, root


def _value_node(mapping: Any, key: str) -> Any:
    if not isinstance(mapping, yaml.MappingNode):
        return None
    for key_node, value_node in mapping.value:
        if getattr(key_node, "value", None) == key:
            return value_node
    return None


def _line_of_key(mapping: Any, key: str) -> int:
    if isinstance(mapping, yaml.MappingNode):
        for key_node, _ in mapping.value:
            if key_node.value == key:
                return int(key_node.start_mark.line) + 1
    return _line(mapping)


def _line(node: Any) -> int:
    return int(node.start_mark.line) + 1 if node is not None else 1


def _read(path: Path, findings: _Findings) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "it is not UTF-8 text"
        findings.problems.append(f"{path}: cannot be read ({reason})")
        return None


def _domain_file(path: Path, findings: _Findings) -> None:
    source = str(path)
    text = _read(path, findings)
    if text is None:
        return
    parsed = _parse(text, source, findings)
    if parsed is None:
        return
    data, root = parsed
    if path.stem not in DOMAINS:
        findings.problems.append(
            f"{source}:1: unknown domain '{path.stem}' (a file is named after its domain,"
            f" one of {', '.join(DOMAINS)})"
        )
        return
    domain = Domain(path.stem)
    if not isinstance(data, dict):
        findings.problems.append(f"{source}:1: the file must be a mapping of domain, parameters")
        return
    unknown = sorted(str(k) for k in data if k not in ("domain", "parameters"))
    for key in unknown:
        findings.problems.append(f"{source}:{_line_of_key(root, key)}: unknown key '{key}'")
    named = data.get("domain")
    if named != domain.value:
        what = (
            f"unknown domain {named!r}"
            if named not in DOMAINS
            else f"the file of '{domain}' says domain '{named}'"
        )
        findings.problems.append(
            f"{source}:{_line_of_key(root, 'domain')}: {what} (the file name is its domain)"
        )
        return
    entries = data.get("parameters")
    nodes = _value_node(root, "parameters")
    if not isinstance(entries, list) or not isinstance(nodes, yaml.SequenceNode):
        findings.problems.append(
            f"{source}:{_line_of_key(root, 'parameters')}: 'parameters' must be a list"
        )
        return
    for entry, node in zip(entries, nodes.value, strict=True):
        try:
            parameter = parameter_from(entry, domain=domain)
        except ParameterInvalid as error:
            line = _line_of_key(node, error.key) if error.key else _line(node)
            findings.problems.append(f"{source}:{line}: {error.message}")
            continue
        where = f"{source}:{_line_of_key(node, 'id')}"
        first = findings.seen.get(parameter.id)
        if first is not None:
            findings.problems.append(
                f"{where}: parameter '{parameter.id}' is defined twice (first at {first})"
            )
            continue
        findings.seen[parameter.id] = where
        findings.parameters.append(parameter)


def _registry(directory: Path) -> tuple[Registry, list[str]]:
    findings = _Findings()
    folder = directory / PARAMETERS_DIR
    if not folder.is_dir():
        return Registry(()), [f"{folder}: no such directory"]
    files = sorted(folder.glob("*.yaml"))
    for path in files:
        _domain_file(path, findings)
    present = {p.stem for p in files}
    findings.problems += [
        f"{folder / (d + '.yaml')}: missing: every domain has its file"
        for d in DOMAINS
        if d not in present
    ]
    return Registry.of(findings.parameters), findings.problems


def _weights(path: Path) -> tuple[DomainWeights | None, list[str]]:
    findings = _Findings()
    source = str(path)
    text = _read(path, findings)
    parsed = None if text is None else _parse(text, source, findings)
    if parsed is None:
        return None, findings.problems
    data, root = parsed
    if not isinstance(data, dict) or sorted(data) != ["weights"]:
        return None, [f"{source}:1: the file must be a mapping with just 'weights'"]
    try:
        return DomainWeights.of(data["weights"]), []
    except WeightsInvalid as error:
        node = _value_node(root, "weights")
        line = _line_of_key(node, error.key) if error.key else _line_of_key(root, "weights")
        return None, [f"{source}:{line}: {error.message}"]


def check_matching_configuration(directory: Path) -> list[str]:
    """Every problem of the registry and the weights file under `directory` (empty: none)."""
    _, problems = _registry(directory)
    _, weight_problems = _weights(directory / WEIGHTS_FILE)
    return problems + weight_problems


def load_registry(directory: Path) -> Registry:
    """The registry under `directory`; raises `MatchingConfigurationInvalid` naming every
    problem."""
    registry, problems = _registry(directory)
    if problems:
        raise MatchingConfigurationInvalid(problems)
    return registry


def load_domain_weights(directory: Path) -> DomainWeights:
    weights, problems = _weights(directory / WEIGHTS_FILE)
    if weights is None:
        raise MatchingConfigurationInvalid(problems)
    return weights


def registry_files(registry: Registry) -> dict[str, str]:
    """The registry as its files (`<domain>.yaml` → text): what `load_registry` reads back
    as an equal registry. Every domain has a file, empty or not."""
    files = {}
    for domain in Domain:
        entries = [
            {key: _plain(getattr(p, key)) for key in PARAMETER_KEYS}
            for p in registry.in_domain(domain)
        ]
        files[f"{domain.value}.yaml"] = yaml.safe_dump(
            {"domain": domain.value, "parameters": entries},
            sort_keys=False,
            allow_unicode=True,
            width=100,
        )
    return files


def write_registry(registry: Registry, directory: Path) -> None:
    folder = directory / PARAMETERS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in registry_files(registry).items():
        (folder / name).write_text(text, encoding="utf-8")


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


class FileMatchingConfiguration(MatchingConfiguration):
    """The registry and the weights read from `directory` once, at first use."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._registry: Registry | None = None
        self._weights: DomainWeights | None = None

    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = load_registry(self._directory)
        return self._registry

    def default_weights(self) -> DomainWeights:
        if self._weights is None:
            self._weights = load_domain_weights(self._directory)
        return self._weights
