"""`adminctl reconcile`: finish the external side effects of every area that a crash left
half done (flags, memberships, refunds; docs/adr/0048)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from admin_core.side_effects.use_cases import ReconcileCommand
from entrypoints.cli import options
from entrypoints.cli.context import CommandContext
from entrypoints.cli.output import print_json, stdout
from entrypoints.http.presenters.side_effects import reconcile_report_out, reconcile_summary


def register(groups: Any) -> None:
    reconcile = groups.add_parser(
        "reconcile", help="finish external changes a crash left half done"
    )
    options.older_than(reconcile)
    reconcile.set_defaults(handler=reconcile_side_effects)


async def reconcile_side_effects(ctx: CommandContext) -> None:
    command = ReconcileCommand(older_than=timedelta(seconds=ctx.args.older_than))
    report = await ctx.container.reconcile_side_effects().execute(ctx.principal, command)
    if ctx.as_json:
        print_json(reconcile_report_out(report))
        return
    stdout.print(reconcile_summary(report, command.older_than))
