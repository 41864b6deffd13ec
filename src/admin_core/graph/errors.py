"""Errors of the graph projection (SPEC §6.1)."""

from __future__ import annotations

from typing import Any

from admin_core.kernel.errors import AdminError


class GraphRebuildFailed(AdminError):
    code = "GRAPH_REBUILD_FAILED"
    default_message = "The graph rebuild failed; the previous projection is still readable."

    def __init__(self, message: str | None = None, *, unreachable: bool, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.unreachable = unreachable


class GraphRebuildInProgress(AdminError):
    code = "GRAPH_REBUILD_IN_PROGRESS"
    default_message = "Another graph rebuild is running."
