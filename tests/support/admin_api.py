"""Helpers for the tenant and user-role API tests: what a request changed, and its errors."""

from __future__ import annotations

from typing import Any

from admin_core.audit.model import AuditEntry
from tests.support.http import ApiClient

_BASELINES: dict[int, int] = {}


def mark_audit_baseline(http: ApiClient) -> None:
    """Remember how many audit entries exist now (the demo seed writes a history)."""
    store = http.container.database.store()
    _BASELINES[id(store)] = len(store.audit_entries)


def audit(http: ApiClient, action: str | None = None) -> list[AuditEntry]:
    """Audit entries written since `mark_audit_baseline`, optionally of one action."""
    store = http.container.database.store()
    entries: list[AuditEntry] = store.audit_entries[_BASELINES.get(id(store), 0) :]
    return [e for e in entries if action is None or e.action == action]


def errors(response: Any) -> list[tuple[str, str | None]]:
    """(code, field) of each error in an error envelope."""
    return [(e["code"], e.get("field")) for e in response.json()["errors"]]
