"""`adminctl audit query | verify | export`"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import msgspec
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from admin_core.audit.model import (
    DEFAULT_AUDIT_LIMIT,
    MAX_AUDIT_LIMIT,
    AuditEntry,
    ChainVerification,
)
from admin_core.audit.use_cases import AuditQuery, VerifyAuditChainQuery
from entrypoints.cli.context import CommandContext
from entrypoints.cli.options import bounded_int
from entrypoints.cli.output import print_json, print_table, stderr, stdout
from entrypoints.http.presenters.audit import ENTRY_FIELDS, entry_out, page_out, verification_out

_ENCODER = msgspec.json.Encoder()

#: Exit status of `audit verify` when the chain is broken (errors keep their own codes).
EXIT_CHAIN_BROKEN = 1


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--action", help="exact action, or a prefix ending in '.' or '*'")
    parser.add_argument("--actor-id")
    parser.add_argument("--tenant-id")
    parser.add_argument("--case-id")
    parser.add_argument("--patient-id")
    parser.add_argument("--from-date", help="inclusive: YYYY-MM-DD or an ISO date-time (UTC)")
    parser.add_argument("--to-date", help="inclusive: YYYY-MM-DD or an ISO date-time (UTC)")
    parser.add_argument("--cursor", help="continue after the page that returned this cursor")


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser("audit", help="the audit log")
    commands = parser.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")

    query = commands.add_parser("query", help="one page of entries, newest first")
    _filters(query)
    query.add_argument(
        "--limit",
        type=bounded_int("limit", 1, MAX_AUDIT_LIMIT),
        default=DEFAULT_AUDIT_LIMIT,
        help=f"1 to {MAX_AUDIT_LIMIT}",
    )
    query.set_defaults(handler=query_audit)

    verify = commands.add_parser("verify", help="recompute a chain's hashes")
    verify.add_argument("--tenant-id", help="the tenant's chain (default: the platform chain)")
    verify.add_argument("--no-progress", action="store_true", help="no progress bar")
    verify.set_defaults(handler=verify_audit)

    export = commands.add_parser("export", help="stream every matching entry (newest first)")
    _filters(export)
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")
    export.add_argument("--no-progress", action="store_true", help="no progress bar")
    export.set_defaults(handler=export_audit)


def _query(args: argparse.Namespace, limit: int = DEFAULT_AUDIT_LIMIT) -> AuditQuery:
    return AuditQuery(
        action=args.action,
        actor_id=args.actor_id,
        tenant_id=args.tenant_id,
        case_id=args.case_id,
        patient_id=args.patient_id,
        from_date=args.from_date,
        to_date=args.to_date,
        limit=limit,
        cursor=args.cursor,
    )


def entry_record(entry: AuditEntry) -> dict[str, Any]:
    """An entry in the API's wire format (times ISO-8601 UTC with `Z`)."""
    record: dict[str, Any] = msgspec.to_builtins(entry_out(entry))
    return record


async def query_audit(ctx: CommandContext) -> None:
    page = await ctx.container.audit.query_audit_log().execute(
        ctx.principal, _query(ctx.args, ctx.args.limit)
    )
    if ctx.as_json:
        print_json(page_out(page))
        return
    print_table(
        f"Audit log ({len(page.entries)} entries, newest first)",
        ["occurred_at", "tenant", "seq", "actor", "action", "resource", "case", "patient"],
        (
            [
                entry_record(e)["occurred_at"],
                e.tenant_id or "(platform)",
                e.seq,
                e.actor_id,
                e.action,
                f"{e.resource_type}:{e.resource_id}" if e.resource_id else e.resource_type,
                e.case_id,
                e.patient_id,
            ]
            for e in page.entries
        ),
    )
    if page.next_cursor:
        stdout.print(f"next page: --cursor {page.next_cursor}", highlight=False)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    )


async def verify_audit(ctx: CommandContext) -> int:
    use_case = ctx.container.audit.verify_audit_chain()
    show = not ctx.args.no_progress and not ctx.as_json
    with _progress() if show else contextlib.nullcontext() as bar:
        task: TaskID | None = bar.add_task("verifying", total=None) if bar else None

        def advance(checked: int, total: int) -> None:
            if bar is not None and task is not None:
                bar.update(task, completed=checked, total=total)

        result = await use_case.execute(
            ctx.principal, VerifyAuditChainQuery(tenant_id=ctx.args.tenant_id), progress=advance
        )
    _report(ctx, result)
    return 0 if result.ok else EXIT_CHAIN_BROKEN


def _report(ctx: CommandContext, result: ChainVerification) -> None:
    if ctx.as_json:
        print_json(verification_out(result))
        return
    if result.ok:
        stdout.print(
            f"[green]ok[/green] {result.chain}: {result.entries_checked} entries verified; "
            f"head #{result.head_seq} {result.head_hash}",
            highlight=False,
        )
        return
    broken = result.broken_at
    assert broken is not None
    where = f" (entry {broken.entry_id})" if broken.entry_id else ""
    stdout.print(
        f"[red]BROKEN[/red] {result.chain} at seq {broken.seq}{where}: {broken.reason.value}; "
        f"{result.entries_checked} entries checked, the last good one is #{result.head_seq}",
        highlight=False,
    )


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        return
    with path.open("w", encoding="utf-8", newline="") as file:
        yield file


def _csv_row(entry: AuditEntry) -> list[Any]:
    record = entry_record(entry)
    for name in ("before", "after"):
        if record[name] is not None:
            record[name] = json.dumps(record[name], sort_keys=True, ensure_ascii=False)
    return [record[name] for name in ENTRY_FIELDS]


async def export_audit(ctx: CommandContext) -> None:
    export = await ctx.container.audit.export_audit_log().execute(ctx.principal, _query(ctx.args))
    show = not ctx.args.no_progress
    written = 0
    with _output(ctx.args.output) as out, _progress() if show else contextlib.nullcontext() as bar:
        task = bar.add_task("exporting", total=export.total) if bar else None
        writer = csv.writer(out) if ctx.args.format == "csv" else None
        if writer is not None:
            writer.writerow(ENTRY_FIELDS)
        async for batch in export.batches():
            if writer is not None:
                writer.writerows(_csv_row(e) for e in batch)
            else:
                lines = b"".join(_ENCODER.encode(entry_out(e)) + b"\n" for e in batch)
                out.write(lines.decode())
            written += len(batch)
            if bar is not None and task is not None:
                bar.update(task, completed=written, total=max(export.total, written))
        out.flush()
    if ctx.args.output is not None:
        message = f"{written} entries written to {ctx.args.output} ({ctx.args.format})"
        stderr.print(message, highlight=False)
