"""`adminctl health` — every external dependency's health, as `GET /health/external-deps`."""

from __future__ import annotations

import argparse
from typing import Any

from admin_core.health.model import DependencyStatus, OverallStatus
from entrypoints.cli.context import CommandContext
from entrypoints.cli.output import print_json, print_table, stdout, styled
from entrypoints.http.presenters.health import external_dependencies_out

#: Exit status when a configured dependency is down (the report is printed all the same).
EXIT_DEGRADED = 1

_COLOURS = {
    DependencyStatus.OK: "green",
    DependencyStatus.DOWN: "red",
    DependencyStatus.NOT_CONFIGURED: "dim",
}


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser(
        "health",
        help="health of every external dependency (exit 1 when a configured one is down)",
    )
    parser.set_defaults(handler=show_health)


async def show_health(ctx: CommandContext) -> int:
    health = await ctx.container.health.check_external_dependencies().execute(ctx.principal)
    out = external_dependencies_out(health)
    degraded = health.status is OverallStatus.DEGRADED
    if ctx.as_json:
        print_json(out)
        return EXIT_DEGRADED if degraded else 0
    print_table(
        f"External dependencies: {out.status.value} (checked {out.checked_at.isoformat()})",
        ["dependency", "status", "latency ms", "error"],
        (
            [name, styled((d.status.value, _COLOURS[d.status])), d.latency_ms, d.error]
            for name, d in out.dependencies.items()
        ),
    )
    if degraded:
        stdout.print(styled(("degraded", "red"), ": a configured dependency is down"))
    return EXIT_DEGRADED if degraded else 0
