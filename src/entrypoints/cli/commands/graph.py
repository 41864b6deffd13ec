"""`adminctl graph rebuild | status`"""

from __future__ import annotations

import argparse
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from admin_core.graph.model import GraphScope, NodeLabel, RebuildProgress
from admin_core.graph.use_cases import RebuildCommand
from entrypoints.cli.context import CommandContext
from entrypoints.cli.output import print_json, print_table, stderr, stdout, styled
from entrypoints.http.presenters.graph import rebuild_out, status_out


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser("graph", help="the graph projection")
    commands = parser.add_subparsers(dest="graph_command", required=True, metavar="COMMAND")

    rebuild = commands.add_parser("rebuild", help="rebuild the projection from the database")
    rebuild.add_argument(
        "--scope",
        choices=[s.value for s in GraphScope],
        default=GraphScope.ALL.value,
        help="what to rebuild (default: all)",
    )
    rebuild.add_argument("--no-progress", action="store_true", help="no progress bars")
    rebuild.set_defaults(handler=rebuild_graph)

    commands.add_parser("status", help="rows vs graph items, and the drift").set_defaults(
        handler=graph_status
    )


def _label(item: Any) -> str:
    return item.plural if isinstance(item, NodeLabel) else item.wire


class _Bars:
    """One progress bar per label and relationship type, on stderr."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.elapsed:>6.1f}s"),
            console=stderr,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def __call__(self, progress: RebuildProgress) -> None:
        name = _label(progress.item)
        task = self._tasks.get(name)
        if task is None:
            task = self._tasks[name] = self.progress.add_task(name, total=progress.total)
        total = max(progress.total, progress.done)
        self.progress.update(task, completed=progress.done, total=total)


async def rebuild_graph(ctx: CommandContext) -> None:
    use_case = ctx.container.graph.rebuild_graph()
    command = RebuildCommand(scope=GraphScope(ctx.args.scope))
    if ctx.as_json or ctx.args.no_progress:
        result = await use_case.execute(ctx.principal, command)
    else:
        bars = _Bars()
        with bars.progress:
            result = await use_case.execute(ctx.principal, command, progress=bars)
    out = rebuild_out(result)
    ctx.note_own_graph()
    if ctx.as_json:
        print_json(out)
        return
    print_table(
        f"Graph rebuilt (scope {result.scope}) in {result.duration_ms} ms",
        ["item", "in graph", "removed"],
        [[k, v, out.removed.get(k, 0)] for k, v in (out.counts | out.relationships).items()],
    )


async def graph_status(ctx: CommandContext) -> None:
    status = await ctx.container.graph.graph_status().execute(ctx.principal)
    out = status_out(status)
    ctx.note_own_graph()
    if ctx.as_json:
        print_json(out)
        return
    print_table(
        "Graph projection drift (graph − source)",
        ["item", "source", "graph", "drift"],
        [
            [name, d.source, d.graph, d.drift]
            for name, d in (out.labels | out.relationships).items()
        ],
    )
    if not status.graph_available:
        stdout.print(styled(("graph unavailable", "yellow"), f": {status.graph_error}"))
