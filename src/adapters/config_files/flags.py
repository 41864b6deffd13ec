"""The flag catalogue file (`config/flags.yaml`): read, checked, and its errors located.

    flags:
      - name: triage_risk_threshold
        type: float          # bool | int | float | string | json
        default: 0.65
        min: 0
        max: 1
        step: 0.05           # optional, int and float
        allowed: [a, b]      # string: one of; json: a list of distinct ones of
        weights: [a, b]      # json: an object of exactly these keys, weights summing to 1
        weights: matching_domains   # ... or a key set the core defines (`KEY_SETS`)
        triage: true         # a triage threshold (SPEC §6.6)
        unit: days
        description: ...

Every error names the file and the line: a YAML syntax error where the parser stopped, an
entry's error at the offending key (or the entry); every entry's error is named at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from admin_core.flags.errors import FlagCatalogueInvalid
from admin_core.flags.model import (
    CatalogueEntryInvalid,
    FlagCatalogue,
    FlagDefinition,
    definition_from,
)
from admin_core.matching.model import DOMAINS

#: Key sets a `weights` entry may name instead of listing the keys: lists the core owns, so
#: they are written once (the matching domains, SPEC §6.3).
KEY_SETS: dict[str, tuple[str, ...]] = {"matching_domains": DOMAINS}


def load_flag_catalogue(path: Path) -> FlagCatalogue:
    """The catalogue in `path`; raises `FlagCatalogueInvalid` with `path:line: what`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "it is not UTF-8 text"
        raise FlagCatalogueInvalid(f"{path}: cannot be read ({reason})") from error
    return parse_flag_catalogue(text, source=str(path))


def parse_flag_catalogue(text: str, *, source: str) -> FlagCatalogue:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise FlagCatalogueInvalid(f"{source}{where}: not valid YAML: {problem}") from error
    if not isinstance(data, dict) or not isinstance(root, yaml.MappingNode):
        raise FlagCatalogueInvalid(f"{source}:1: the file must be a mapping with 'flags'")
    unknown = sorted(str(k) for k in data if k != "flags")
    if unknown:
        raise FlagCatalogueInvalid(
            f"{source}:{_line_of_key(root, unknown[0])}: unknown key '{unknown[0]}'"
        )
    entries = data.get("flags")
    entry_nodes = _value_node(root, "flags")
    if not isinstance(entries, list) or not isinstance(entry_nodes, yaml.SequenceNode):
        raise FlagCatalogueInvalid(
            f"{source}:{_line_of_key(root, 'flags')}: 'flags' must be a list"
        )
    definitions: list[FlagDefinition] = []
    problems: list[str] = []
    seen: set[str] = set()
    for entry, node in zip(entries, entry_nodes.value, strict=True):
        named = entry.get("weights") if isinstance(entry, dict) else None
        if isinstance(named, str):
            if named not in KEY_SETS:
                problems.append(
                    f"{source}:{_line_of_key(node, 'weights')}: 'weights' names no key set"
                    f" ({', '.join(KEY_SETS)})"
                )
                continue
            entry = {**entry, "weights": list(KEY_SETS[named])}
        try:
            definition = definition_from(entry)
        except CatalogueEntryInvalid as error:
            line = _line_of_key(node, error.key) if error.key else _line(node)
            problems.append(f"{source}:{line}: {error.message}")
            continue
        if definition.name in seen:
            line = _line_of_key(node, "name")
            problems.append(f"{source}:{line}: flag '{definition.name}' is defined twice")
            continue
        seen.add(definition.name)
        definitions.append(definition)
    if problems:
        raise FlagCatalogueInvalid(*problems)
    return FlagCatalogue.of(definitions)


def _value_node(mapping: Any, key: str) -> Any:
    for key_node, value_node in getattr(mapping, "value", ()):
        if getattr(key_node, "value", None) == key:
            return value_node
    return None


def _line_of_key(mapping: Any, key: str) -> int:
    for key_node, _ in (
        getattr(mapping, "value", ()) if isinstance(mapping, yaml.MappingNode) else ()
    ):
        if key_node.value == key:
            return int(key_node.start_mark.line) + 1
    return int(mapping.start_mark.line) + 1


def _line(node: Any) -> int:
    return int(node.start_mark.line) + 1
