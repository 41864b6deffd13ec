"""A reconcile pass's report (CLI only: reconcile has no HTTP route)."""

from __future__ import annotations

from datetime import timedelta

from admin_core.side_effects.model import ReconcileReport
from entrypoints.http.schemas import Out


class ReconcileReportOut(Out, frozen=True):
    completed: list[str]
    abandoned: list[str]
    unresolved: list[str]


def reconcile_report_out(report: ReconcileReport) -> ReconcileReportOut:
    return ReconcileReportOut(
        completed=list(report.completed),
        abandoned=list(report.abandoned),
        unresolved=list(report.unresolved),
    )


def reconcile_summary(report: ReconcileReport, older_than: timedelta) -> str:
    return (
        f"completed {len(report.completed)}, abandoned {len(report.abandoned)},"
        f" still pending {len(report.unresolved)} (intents younger than"
        f" {older_than.total_seconds():g} s were left to the calls that made them)"
    )
