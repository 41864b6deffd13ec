"""`adminctl sessions list | refund | reconcile` (SPEC §6.4)."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from admin_core.payments.model import SessionStatus
from admin_core.payments.use_cases import (
    ListSessionsQuery,
    ReconcileRefundsCommand,
    RefundSessionCommand,
)
from entrypoints.cli import options
from entrypoints.cli.context import CommandContext
from entrypoints.cli.output import print_json, print_next_page, print_table, stdout
from entrypoints.http.presenters.mso_sessions import session_out, session_page_out
from entrypoints.http.presenters.side_effects import reconcile_report_out, reconcile_summary


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser("sessions", help="MSO sessions")
    commands = parser.add_subparsers(dest="sessions_command", required=True, metavar="COMMAND")
    listing = commands.add_parser("list", help="sessions, newest scheduled first")
    listing.add_argument(
        "--status", choices=[s.value for s in SessionStatus], help="only sessions in this status"
    )
    listing.add_argument("--tenant-id", type=options.tenant_id, help="only this tenant's sessions")
    listing.add_argument("--from-date", help="scheduled on or after (date or ISO date-time)")
    listing.add_argument("--to-date", help="scheduled on or before (date or ISO date-time)")
    options.page(listing)
    listing.set_defaults(handler=list_sessions)
    refund = commands.add_parser("refund", help="refund a session in full, exactly once")
    refund.add_argument("session_id", type=options.session_id, help="the session (mso_...)")
    refund.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    refund.set_defaults(handler=refund_session)
    reconcile = commands.add_parser(
        "reconcile", help="finish refunds left pending (a crash, a provider not confirming)"
    )
    options.older_than(reconcile)
    reconcile.set_defaults(handler=reconcile_refunds)


async def list_sessions(ctx: CommandContext) -> None:
    a = ctx.args
    page = await ctx.container.payments.list_mso_sessions().execute(
        ctx.principal,
        ListSessionsQuery(
            status=a.status,
            tenant_id=a.tenant_id,
            from_date=a.from_date,
            to_date=a.to_date,
            limit=a.limit,
            offset=a.offset,
            cursor=a.cursor,
        ),
    )
    if ctx.as_json:
        print_json(session_page_out(page))
        return
    print_table(
        f"Sessions {page.offset + 1}-{page.offset + len(page.items)} of {page.total}"
        if page.items
        else f"Sessions (0 of {page.total})",
        ["id", "tenant", "scheduled", "status", "amount", "provider", "refund"],
        (
            [
                s.id,
                s.tenant_id,
                s.scheduled_at.isoformat(timespec="minutes"),
                s.status.value,
                f"{s.amount_minor} {s.currency}",
                s.payment_provider.value,
                f"{s.refund.id} ({s.refund.status.value}, {s.refund.provider})" if s.refund else "",
            ]
            for s in page.items
        ),
    )
    print_next_page(page)


async def refund_session(ctx: CommandContext) -> None:
    a = ctx.args
    outcome = await ctx.container.payments.refund_session().execute(
        ctx.principal, RefundSessionCommand(session_id=a.session_id, reason=a.reason)
    )
    session = outcome.session
    if ctx.as_json:
        print_json(session_out(session))
        return
    refund = session.refund
    made = f": {refund.id} through {refund.provider}" if refund else ""
    pending = (
        " (not confirmed yet; run it again or `sessions reconcile`)" if outcome.in_progress else ""
    )
    stdout.print(f"{session.id}: {session.status.value}{made}{pending}")


async def reconcile_refunds(ctx: CommandContext) -> None:
    report = await ctx.container.payments.reconcile_refunds().execute(
        ctx.principal, ReconcileRefundsCommand(older_than=timedelta(seconds=ctx.args.older_than))
    )
    if ctx.as_json:
        print_json(reconcile_report_out(report))
        return
    stdout.print(reconcile_summary(report, timedelta(seconds=ctx.args.older_than)))
