"""Coverage, measured and cached (SPEC §6.3).

Coverage is measured, never stored: every measurable path of the registry, once per path
however many parameters read it, each source's paths in one call of its meter (one pass per
entity). The result is kept in this process with the time it was measured; a read reuses it
until a refresh is asked for. One measurement runs at a time (single flight): callers that
arrive while one runs, refreshing or not, wait for it and share its result. A source whose
database cannot be read gives no coverage (None) for its paths, and the next read measures
again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from admin_core.kernel.loops import LoopLock
from admin_core.kernel.runtime import Clock
from admin_core.matching.model import Registry, Source
from admin_core.matching.ports import CoverageMeter, CoverageUnavailable


@dataclass(frozen=True, slots=True, kw_only=True)
class CoverageSnapshot:
    """The share covered per (source, path); `measured_at` None before the first
    measurement. `complete` is False when a source could not be read."""

    shares: Mapping[tuple[Source, str], float | None] = field(default_factory=dict)
    measured_at: datetime | None = None
    complete: bool = False
    #: How many measurements this process has made: a caller that waited for the lock
    #: takes a newer generation than the one it saw as the measurement it waited for.
    generation: int = 0

    def share(self, source: Source, path: str) -> float | None:
        return self.shares.get((source, path))


class CoverageCache:
    def __init__(
        self, registry: Registry, meters: Mapping[Source, CoverageMeter], clock: Clock
    ) -> None:
        self._registry = registry
        self._meters = meters
        self._clock = clock
        self._snapshot = CoverageSnapshot()
        self._lock = LoopLock()

    async def get(self, *, refresh: bool = False) -> CoverageSnapshot:
        """The cached coverage, measured first when there is none, the last measurement was
        incomplete, or `refresh`."""
        current = self._snapshot
        if current.complete and not refresh:
            return current
        async with self._lock:
            latest = self._snapshot
            if latest.generation != current.generation and (latest.complete or refresh):
                return latest  # measured by another caller while this one waited
            self._snapshot = await self._measure(latest.generation + 1)
            return self._snapshot

    async def _measure(self, generation: int) -> CoverageSnapshot:
        shares: dict[tuple[Source, str], float | None] = {}
        complete = True
        for source, meter in self._meters.items():
            paths = sorted({p.path for p in self._registry.parameters if p.source is source})
            if not paths:
                continue
            try:
                measured = await meter.measure(paths)
            except CoverageUnavailable:
                complete = False
                continue
            for path in paths:
                shares[(source, path)] = measured[path].share
        return CoverageSnapshot(
            shares=shares, measured_at=self._clock.now(), complete=complete, generation=generation
        )
