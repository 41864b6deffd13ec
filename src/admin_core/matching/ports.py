"""Ports of the matching area: measuring coverage, and where the registry comes from."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

from admin_core.matching.model import DomainWeights, Registry


@dataclass(frozen=True, slots=True, kw_only=True)
class Coverage:
    """Of `entities` rows (or nodes) of a path's entity, `covered` have a non-empty value at
    the path."""

    entities: int
    covered: int

    @property
    def share(self) -> float | None:
        """covered / entities; None when there is no entity to measure."""
        return self.covered / self.entities if self.entities else None


class CoverageUnavailable(Exception):
    """The database that holds a source's data cannot be read now."""


class CoverageMeter(Protocol):
    """Measures the coverage of the measurable paths of one source (`admin_core.matching.
    paths`). Each entity is read in one pass that counts every requested path of it
    together; a path is turned into a query only through the adapter's own prepared
    expression for it. Raises `CoverageUnavailable` when its database cannot be read."""

    async def measure(self, paths: Collection[str]) -> Mapping[str, Coverage]:
        """The coverage of each of `paths` (all of them measurable by this meter)."""
        ...


class MatchingConfiguration(Protocol):
    """The registry and the default domain weights (files, in our adapters)."""

    def registry(self) -> Registry: ...

    def default_weights(self) -> DomainWeights: ...
