"""`adminctl flags effective | override | clear`, `adminctl triage show | set` and
`adminctl reconcile` (SPEC §6.2, §6.6).

Values are JSON (`0.5`, `true`, `'["booked"]'`); text that is not JSON is taken as a string
(`v2.0`). `triage set` takes `name=value` pairs, `name=null` clearing that override.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from admin_core.flags.use_cases import (
    ClearFlagOverrideCommand,
    EffectiveFlagsQuery,
    OverrideFlagCommand,
)
from admin_core.kernel.errors import FieldError, ValidationFailed
from admin_core.kernel.json_text import JsonTooDeep, read_json
from admin_core.triage.use_cases import TriageThresholdsQuery, UpdateTriageThresholdsCommand
from entrypoints.cli import options
from entrypoints.cli.context import CommandContext
from entrypoints.cli.output import print_json, print_table, stdout
from entrypoints.http.presenters.flags import (
    effective_flags_out,
    flag_override_out,
    triage_thresholds_out,
)
from entrypoints.http.requests import MAX_JSON_DEPTH, duplicate_name, json_depth_exceeds
from entrypoints.request_errors import BadRequest


def register(groups: Any) -> None:
    flags: argparse.ArgumentParser = groups.add_parser("flags", help="a tenant's feature flags")
    commands = flags.add_subparsers(dest="flags_command", required=True, metavar="COMMAND")
    effective = commands.add_parser("effective", help="a tenant's flags and their sources")
    effective.add_argument("tenant_id", type=options.tenant_id, help="the tenant")
    effective.set_defaults(handler=show_effective)
    override = commands.add_parser("override", help="set a tenant's value of a flag")
    override.add_argument("tenant_id", type=options.tenant_id, help="the tenant")
    override.add_argument("flag", help="a flag of the catalogue")
    override.add_argument("value", help="JSON (0.5, true, '[\"a\"]'); other text is a string")
    override.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    override.set_defaults(handler=override_flag)
    clear = commands.add_parser("clear", help="clear a tenant's override of a flag")
    clear.add_argument("tenant_id", type=options.tenant_id, help="the tenant")
    clear.add_argument("flag", help="a flag of the catalogue")
    clear.add_argument("--reason", help="why (recorded in the audit log)")
    clear.set_defaults(handler=clear_override)

    triage: argparse.ArgumentParser = groups.add_parser("triage", help="triage thresholds")
    commands = triage.add_subparsers(dest="triage_command", required=True, metavar="COMMAND")
    show = commands.add_parser("show", help="a tenant's triage thresholds")
    show.add_argument("tenant_id", type=options.tenant_id, help="the tenant")
    show.set_defaults(handler=show_thresholds)
    set_ = commands.add_parser("set", help="set thresholds, all or nothing")
    set_.add_argument("tenant_id", type=options.tenant_id, help="the tenant")
    set_.add_argument(
        "values",
        nargs="+",
        metavar="NAME=VALUE",
        help="a threshold `triage show` lists and its value, JSON as `flags override` takes it"
        " (0.7, 30, '[\"decided_on_destination\"]'); NAME=null clears one",
    )
    set_.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    set_.set_defaults(handler=set_thresholds)


def value_of(text: str) -> Any:
    """The value as JSON, or, when it is no JSON, the text itself; JSON nested deeper than the
    API takes, or giving a name twice in an object, is refused as the API refuses it."""
    too_deep = BadRequest(f"The value nests deeper than {MAX_JSON_DEPTH} levels.")
    try:
        value = read_json(text)
    except JsonTooDeep:
        raise too_deep from None
    except ValueError:
        return text
    if json_depth_exceeds(text.encode(), MAX_JSON_DEPTH):
        raise too_deep
    twice = duplicate_name(text)
    if twice is not None:
        raise BadRequest(f"The value gives `{twice}` more than once.", field=twice)
    return value


async def show_effective(ctx: CommandContext) -> None:
    flags = await ctx.container.flags.show_effective_flags().execute(
        ctx.principal, EffectiveFlagsQuery(tenant_id=ctx.args.tenant_id)
    )
    if ctx.as_json:
        print_json(effective_flags_out(flags))
        return
    title = f"Flags of {flags.tenant_id}" + (
        " (stale: the provider is unreachable)" if flags.stale else ""
    )
    print_table(
        title,
        ["flag", "value", "source"],
        (
            [name, json.dumps(value), flags.sources[name].value]
            for name, value in flags.values.items()
        ),
    )


async def override_flag(ctx: CommandContext) -> None:
    a = ctx.args
    result = await ctx.container.flags.override_flag().execute(
        ctx.principal,
        OverrideFlagCommand(
            tenant_id=a.tenant_id, flag=a.flag, value=value_of(a.value), reason=a.reason
        ),
    )
    if ctx.as_json:
        print_json(flag_override_out(result))
        return
    what = "set" if result.changed else "already set"
    stdout.print(
        f"{result.flag} of {result.tenant_id}: {json.dumps(result.value)} {what}"
        f" (was {json.dumps(result.previous_value)})"
    )


async def clear_override(ctx: CommandContext) -> None:
    a = ctx.args
    result = await ctx.container.flags.clear_flag_override().execute(
        ctx.principal, ClearFlagOverrideCommand(tenant_id=a.tenant_id, flag=a.flag, reason=a.reason)
    )
    if ctx.as_json:  # the HTTP twin answers 204: the CLI shows the outcome
        print_json(flag_override_out(result))
        return
    what = "cleared" if result.changed else "had no override"
    stdout.print(f"{result.flag} of {result.tenant_id}: {what}; now {json.dumps(result.value)}")


async def show_thresholds(ctx: CommandContext) -> None:
    result = await ctx.container.flags.show_triage_thresholds().execute(
        ctx.principal, TriageThresholdsQuery(tenant_id=ctx.args.tenant_id)
    )
    _print_thresholds(ctx, result)


async def set_thresholds(ctx: CommandContext) -> None:
    a = ctx.args
    values: dict[str, Any] = {}
    bad = []
    twice: list[str] = []
    for pair in a.values:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            bad.append(pair)
            continue
        if name in values and name not in twice:  # as the API refuses a name given twice
            twice.append(name)
        values[name] = value_of(text)
    errors = [FieldError(field=f"values.{name}", message="given more than once") for name in twice]
    if bad:
        errors.insert(
            0, FieldError(field="values", message=f"expected NAME=VALUE, got {', '.join(bad)}")
        )
    if errors:
        raise ValidationFailed(errors)
    result = await ctx.container.flags.update_triage_thresholds().execute(
        ctx.principal,
        UpdateTriageThresholdsCommand(tenant_id=a.tenant_id, values=values, reason=a.reason),
    )
    _print_thresholds(ctx, result)


def _print_thresholds(ctx: CommandContext, result: Any) -> None:
    if ctx.as_json:
        print_json(triage_thresholds_out(result))
        return
    print_table(
        f"Triage thresholds of {result.tenant_id}",
        ["threshold", "value", "default", "overridden", "range"],
        (
            [
                t.definition.name,
                json.dumps(t.value),
                json.dumps(t.default),
                "yes" if t.overridden else "",
                _range(t.definition),
            ]
            for t in result.thresholds
        ),
    )


def _range(definition: Any) -> str:
    if definition.allowed:
        return "any of " + ", ".join(definition.allowed)
    low, high, step = definition.minimum, definition.maximum, definition.step
    text = f"{low if low is not None else ''}..{high if high is not None else ''}"
    return (
        text
        + (f" step {step}" if step else "")
        + (f" {definition.unit}" if definition.unit else "")
    )
