"""`adminctl matching parameters | weights | check` (SPEC §6.3).

`check` reads only the registry files (no database, no settings): it prints every problem as
`file:line: what` and exits non-zero when there is one, so CI can run it.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from adapters.config_files.matching import check_matching_configuration, load_registry
from admin_core.kernel.errors import ValidationFailed
from admin_core.matching.model import Domain, Status
from admin_core.matching.use_cases import DomainWeightsQuery, ParametersQuery
from entrypoints.cli import options
from entrypoints.cli.context import CommandContext
from entrypoints.cli.output import EXIT_CONFIG, print_json, print_table, report_problems, stdout
from entrypoints.container.matching import MATCHING_CONFIG
from entrypoints.http.presenters.matching import domain_weights_out, matching_parameters_out


def register(groups: Any) -> None:
    matching: argparse.ArgumentParser = groups.add_parser(
        "matching", help="the matching-parameter registry and domain weights"
    )
    commands = matching.add_subparsers(dest="matching_command", required=True, metavar="COMMAND")
    parameters = commands.add_parser("parameters", help="the parameters with their coverage")
    parameters.add_argument(
        "--domain", choices=[d.value for d in Domain], help="only this domain's parameters"
    )
    parameters.add_argument(
        "--status", choices=[s.value for s in Status], help="only parameters in this status"
    )
    parameters.add_argument("--refresh", action="store_true", help="measure coverage again")
    parameters.set_defaults(handler=show_parameters)
    weights = commands.add_parser("weights", help="a tenant's domain weights")
    weights.add_argument("tenant_id", type=options.tenant_id, help="the tenant")
    weights.set_defaults(handler=show_weights)
    check = commands.add_parser(
        "check", help="check the registry files (file and line of every problem)"
    )
    check.add_argument(
        "--dir",
        type=options.path("dir"),
        default=MATCHING_CONFIG,
        help="the directory of domains.yaml and parameters/ (default: config/matching)",
    )
    check.set_defaults(settings_handler=check_files)


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f}%"


async def show_parameters(ctx: CommandContext) -> None:
    a = ctx.args
    result = await ctx.container.matching.show_matching_parameters().execute(
        ctx.principal, ParametersQuery(domain=a.domain, status=a.status, refresh=a.refresh)
    )
    ctx.note_own_graph()  # the coverage of the graph's parameters is measured there
    if ctx.as_json:
        print_json(matching_parameters_out(result))
        return
    print_table(
        "Matching parameters",
        ["id", "domain", "status", "source", "weight", "coverage", "path"],
        (
            [
                r.parameter.id,
                r.parameter.domain.value,
                r.parameter.status.value,
                r.parameter.source.value,
                f"{r.parameter.weight:g}",
                _percent(r.coverage),
                r.parameter.path,
            ]
            for r in result.parameters
        ),
    )
    counts = ", ".join(f"{n} {s.value}" for s, n in result.counts.items())
    measured = result.last_refresh.isoformat() if result.last_refresh else "never"
    stdout.print(f"{result.total} parameters: {counts}; coverage measured {measured}")


async def show_weights(ctx: CommandContext) -> None:
    result = await ctx.container.matching.show_domain_weights().execute(
        ctx.principal, DomainWeightsQuery(tenant_id=ctx.args.tenant_id)
    )
    if ctx.as_json:
        print_json(domain_weights_out(result))
        return
    print_table(
        f"Domain weights of {result.tenant_id} ({result.source})",
        ["domain", "weight"],
        ([d.value, f"{w:g}"] for d, w in result.weights.weights.items()),
    )


def check_files(args: argparse.Namespace) -> int:
    """Every problem of the files (exit 78), or the registry's counts; with `--json`, one
    object either way: `ok`, `problems` (file:line each) and the counts when there are none.
    A `--dir` that is no directory it can read is bad input on `dir` (exit 2), as any file
    argument that cannot be read: there are no files to check."""
    try:
        os.listdir(args.dir)
    except OSError as error:
        raise ValidationFailed.single(
            "dir", f"cannot read the directory {args.dir}: {error.strerror}"
        ) from error
    problems = check_matching_configuration(args.dir)
    registry = None if problems else load_registry(args.dir)
    if args.json:
        print_json(
            {
                "directory": str(args.dir),
                "ok": not problems,
                "problems": problems,
                "parameters": len(registry.parameters) if registry else None,
                "counts": {s.value: n for s, n in registry.counts.items()} if registry else None,
            }
        )
        return EXIT_CONFIG if problems else 0
    if registry is None:
        report_problems(f"{len(problems)} problem(s) in {args.dir}:", problems)
        return EXIT_CONFIG
    counts = ", ".join(f"{n} {s.value}" for s, n in registry.counts.items())
    stdout.print(f"{args.dir}: {len(registry.parameters)} parameters ({counts}); no problems")
    return 0
