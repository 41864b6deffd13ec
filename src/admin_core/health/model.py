"""What the external-dependency health check answers (SPEC §6.10)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime


class DependencyStatus(enum.StrEnum):
    OK = "ok"
    DOWN = "down"
    #: Nothing is configured for it: not a failure, and never `down`.
    NOT_CONFIGURED = "not_configured"


class SchemaAge(enum.StrEnum):
    """The database's schema against the one this code was written for."""

    CURRENT = "current"
    #: A revision this code's migrations go past, or no schema at all: this code's queries
    #: meet tables and columns that are not there yet.
    OLDER = "older"
    #: A revision a later release made (this one cannot know what it changed).
    NEWER = "newer"


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaRevision:
    found: str | None  # None: no schema
    needed: str
    age: SchemaAge
    #: False: the database refuses every write (a standby after a failover, read-only by
    #: default) though it answers reads.
    writable: bool = True


class OverallStatus(enum.StrEnum):
    OK = "ok"
    #: At least one configured dependency is down.
    DEGRADED = "degraded"


@dataclass(frozen=True, slots=True, kw_only=True)
class DependencyHealth:
    """One dependency's verdict. `latency_ms` is how long the probe took to reach it (to
    its answer, or to its failure; None when not configured); `error` says why it is down,
    in words that name no secret."""

    status: DependencyStatus
    latency_ms: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExternalHealth:
    """Every dependency's verdict, in the order the probes were given, and when they were
    checked (the start of the check: a cached answer keeps its time)."""

    status: OverallStatus
    checked_at: datetime
    dependencies: Mapping[str, DependencyHealth]

    @staticmethod
    def overall(dependencies: Mapping[str, DependencyHealth]) -> OverallStatus:
        """Degraded when any configured dependency is down; unconfigured ones count for
        nothing."""
        down = any(d.status is DependencyStatus.DOWN for d in dependencies.values())
        return OverallStatus.DEGRADED if down else OverallStatus.OK
