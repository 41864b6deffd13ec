"""Every error class the API and the CLI can answer, and the errors whose status depends on
their cause: what the error tables and the error reference (docs/errors.md) are checked
against."""

from __future__ import annotations

import importlib
import pkgutil

import admin_core
import entrypoints.http.errors  # noqa: F401  (the entrypoints' own classes, request_errors)
from admin_core.graph.errors import GraphRebuildFailed
from admin_core.kernel.errors import AdminError
from admin_core.users.errors import RoleNotAllowed


def error_classes() -> list[type[AdminError]]:
    """`AdminError` and every subclass of it, the core's modules all imported, by code."""
    for module in pkgutil.walk_packages(admin_core.__path__, "admin_core."):
        importlib.import_module(module.name)
    found: set[type[AdminError]] = set()
    pending: list[type[AdminError]] = [AdminError]
    while pending:
        cls = pending.pop()
        found.add(cls)
        pending += cls.__subclasses__()
    return sorted(found, key=lambda cls: cls.code)


#: Errors whose HTTP status (and so exit code) depends on their cause, one of each cause,
#: with that status and exit code (ADR 0003).
BY_CAUSE: list[tuple[AdminError, int, int]] = [
    (GraphRebuildFailed(unreachable=True), 503, 6),
    (GraphRebuildFailed(unreachable=False), 500, 1),
    (RoleNotAllowed(unknown=True), 422, 2),
    (RoleNotAllowed(unknown=False), 403, 3),
]
