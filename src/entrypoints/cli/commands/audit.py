"""`adminctl audit query | verify | export | checkpoint | public-key | verify-export`"""

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

from adapters.ed25519.keys import (
    CheckpointKeyUnusable,
    Ed25519CheckpointKeys,
    public_key_jwk,
    public_key_pem,
    read_public_keys,
)
from admin_core.audit.checkpoints import CheckpointIssue
from admin_core.audit.model import (
    DEFAULT_AUDIT_LIMIT,
    MAX_AUDIT_LIMIT,
    AuditEntry,
    BreakReason,
    ChainVerification,
)
from admin_core.audit.offline import ExportVerification, verify_export
from admin_core.audit.use_cases import (
    AuditQuery,
    SealedChainsQuery,
    VerifyAuditChainQuery,
    WriteCheckpointCommand,
)
from admin_core.kernel.errors import ValidationFailed
from entrypoints.cli import files, options
from entrypoints.cli.context import CommandContext
from entrypoints.cli.options import bounded_int, path
from entrypoints.cli.output import print_json, print_table, stderr, stdout, styled
from entrypoints.container import Container, choices
from entrypoints.http.presenters.audit import (
    ENTRY_FIELDS,
    checkpoint_out,
    entry_out,
    export_verification_out,
    page_out,
    verification_out,
)

_ENCODER = msgspec.json.Encoder()

#: Exit status of `audit verify` when the chain is broken (errors keep their own codes).
EXIT_CHAIN_BROKEN = 1


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--action", help="exact action, or a prefix ending in '.' or '*'")
    parser.add_argument(
        "--actor-id", help="only entries by this actor, e.g. cli:alice or user_2abc"
    )
    parser.add_argument("--tenant-id", type=options.tenant_id, help="only this tenant's entries")
    parser.add_argument("--case-id", help="only entries about this case")
    parser.add_argument("--patient-id", help="only entries about this patient")
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
        help=f"entries per page, 1 to {MAX_AUDIT_LIMIT} (default: {DEFAULT_AUDIT_LIMIT})",
    )
    query.set_defaults(handler=query_audit)

    verify = commands.add_parser("verify", help="recompute a chain's hashes")
    which = verify.add_mutually_exclusive_group()
    which.add_argument(
        "--tenant-id",
        type=options.tenant_id,
        help="the tenant's chain (default: the platform chain)",
    )
    which.add_argument(
        "--all", action="store_true", dest="all_chains", help="every chain (platform scope)"
    )
    verify.add_argument("--no-progress", action="store_true", help="no progress bar")
    verify.set_defaults(handler=verify_audit)

    export = commands.add_parser("export", help="stream every matching entry (newest first)")
    _filters(export)
    export.add_argument(
        "--format", choices=("jsonl", "csv"), default="jsonl", help="jsonl (default) or csv"
    )
    export.add_argument("--output", "-o", type=options.output, help=options.OUTPUT_HELP)
    export.add_argument("--no-progress", action="store_true", help="no progress bar")
    export.add_argument(
        "--with-checkpoints",
        action="store_true",
        help="whole chains in seq order (all, or --tenant-id's) after every signed checkpoint: "
        "what `audit verify-export` checks offline (jsonl; no other filter)",
    )
    export.set_defaults(handler=export_audit)

    checkpoint = commands.add_parser(
        "checkpoint", help="write a signed checkpoint of every chain's head now"
    )
    checkpoint.set_defaults(handler=write_checkpoint)

    public_key = commands.add_parser(
        "public-key", help="the public key(s) checkpoints verify under (PEM; --json: key set)"
    )
    public_key.add_argument("--output", "-o", type=options.output, help=options.OUTPUT_HELP)
    public_key.set_defaults(handler=show_public_key)

    offline = commands.add_parser(
        "verify-export",
        help="verify an export made with --with-checkpoints, offline: no database, no settings",
    )
    offline.add_argument("file", type=path("file"), help="the export (jsonl)")
    offline.add_argument(
        "--public-key",
        type=path("public_key"),
        action="append",
        required=True,
        help="a public key file (PEM, or the JSON key set of /.well-known/audit-checkpoint-keys);"
        " repeat for keys from before a rotation",
    )
    offline.add_argument(
        "--all-chains",
        action="store_true",
        help="the export is to hold every chain (made without --tenant-id): fail when a chain"
        " the latest checkpoint seals is not in it",
    )
    offline.set_defaults(offline_handler=verify_export_file)


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
        stdout.print(f"next page: --cursor {page.next_cursor}")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    )


def checkpoint_keys(container: Container) -> Ed25519CheckpointKeys:
    """The checkpoint keys, the signer's made on first use (embedded): a key file that cannot
    be read or made is said naming its variable and path (`files.setting_file`)."""
    settings = container.settings()
    path = choices.checkpoint_key_path(settings)
    made = settings.embedded  # production only reads the key it was given
    with files.setting_file("audit_checkpoint_key_file", path, files.CHECKPOINT_KEY, makes=made):
        container.audit.checkpoint_signer()
    keys: Ed25519CheckpointKeys = container.audit.checkpoint_keys()
    return keys


async def verify_audit(ctx: CommandContext) -> int:
    checkpoint_keys(ctx.container)
    use_case = ctx.container.audit.verify_audit_chain()
    show = not ctx.args.no_progress and not ctx.as_json and stderr.is_terminal
    with _progress() if show else contextlib.nullcontext() as bar:
        task: TaskID | None = bar.add_task("verifying", total=None) if bar else None

        def advance(checked: int, total: int) -> None:
            if bar is not None and task is not None:
                bar.update(task, completed=checked, total=total)

        if ctx.args.all_chains:
            results = await use_case.execute_all(ctx.principal, progress=advance)
        else:
            query = VerifyAuditChainQuery(tenant_id=ctx.args.tenant_id)
            results = [await use_case.execute(ctx.principal, query, progress=advance)]
    if ctx.as_json and ctx.args.all_chains:
        print_json([verification_out(result) for result in results])
    else:
        for result in results:
            _report(ctx, result)
    if ctx.args.all_chains and not ctx.as_json:
        broken = sum(not result.ok for result in results)
        checked = sum(result.entries_checked for result in results)
        stdout.print(f"{len(results)} chains, {checked} entries checked, {broken} broken")
    return 0 if all(result.ok for result in results) else EXIT_CHAIN_BROKEN


#: What to do about each kind of break (docs/adr/0056-signed-audit-checkpoints.md).
ADVICE = {
    BreakReason.HASH_MISMATCH: "an entry was changed after it was written",
    BreakReason.PREV_HASH_MISMATCH: "an entry was rewritten or moved",
    BreakReason.MISSING_ENTRIES: "entries were deleted",
    BreakReason.HEAD_MISMATCH: "the recorded head was rewritten",
    BreakReason.LINKS_BEYOND_HEAD: "the recorded head was moved back over existing entries",
    BreakReason.CHECKPOINT_MISMATCH: "the chain was re-sealed: entries up to this seq were "
    "rewritten with recomputed hashes after a signed checkpoint sealed them",
    BreakReason.TRUNCATED: "entries a signed checkpoint sealed were deleted",
}
CHECKPOINT_ALTERED = "a checkpoint was deleted or altered (or the sink disagrees with the database)"
CHECKPOINT_ADVICE = {
    CheckpointIssue.UNKNOWN_KEY: "signed by a key this configuration does not trust: after a"
    " rotation of ADMIN_AUDIT_CHECKPOINT_KEY_FILE, list the former public key (`adminctl audit"
    " public-key` under the old key) in ADMIN_AUDIT_CHECKPOINT_TRUSTED_KEYS; if no key was"
    " rotated, the checkpoint was forged",
}
WHAT_TO_DO = (
    "Treat this as a security incident: the database was changed behind the application. "
    "Audited writes to this chain are refused (AUDIT_CHAIN_BROKEN) only where its head and "
    "links disagree (a rolled-back head, a removed tail); after an entry changed in place they "
    "go on, and this report stays. Nothing repairs a chain silently. Keep the database as it "
    "is, restore the "
    "entries from a backup or the checkpoint sink's evidence, and record what happened "
    "(docs/adr/0056-signed-audit-checkpoints.md)."
)


def _report(ctx: CommandContext, result: ChainVerification) -> None:
    if ctx.as_json:
        print_json(verification_out(result))
        return
    sealed = (
        f"sealed through #{result.sealed_seq} by checkpoint {result.checkpoint_seq}; "
        f"{result.unsealed_entries} unsealed entries after it (protected by the chain alone)"
        if result.checkpoint_seq is not None
        else f"no checkpoint yet: all {result.unsealed_entries} entries are unsealed"
    )
    if result.ok:
        stdout.print(
            styled(
                ("ok", "green"),
                f" {result.chain}: {result.entries_checked} entries verified; "
                f"head #{result.head_seq} {result.head_hash}; {sealed}",
            )
        )
        return
    broken = result.broken_at
    if broken is not None:
        where = f" (entry {broken.entry_id})" if broken.entry_id else ""
        checkpoint = f", checkpoint {broken.checkpoint_seq}" if broken.checkpoint_seq else ""
        stdout.print(
            styled(
                ("BROKEN", "red"),
                f" {result.chain} at seq {broken.seq}{where}: "
                f"{broken.reason.value}{checkpoint} — {ADVICE[broken.reason]}; "
                f"{result.entries_checked} entries checked, the last good one is "
                f"#{result.verified_seq}; the chain's head is #{result.head_seq} (recorded: "
                f"#{result.recorded_head_seq})",
            )
        )
    problem = result.checkpoint_problem
    if problem is not None:
        stdout.print(
            styled(
                ("CHECKPOINT", "red"),
                f" checkpoint {problem.checkpoint_seq}: {problem.reason} — "
                f"{CHECKPOINT_ADVICE.get(problem.reason, CHECKPOINT_ALTERED)}; "
                "only the checkpoints before it were trusted",
            )
        )
    stdout.print(sealed)
    stdout.print(WHAT_TO_DO)


def unreadable(field: str, path: Path, error: OSError) -> ValidationFailed:
    return ValidationFailed.single(field, f"cannot read {path}: {error.strerror}")


#: An export holds every entry of the chains it covers (who did what to which user, doctor,
#: session and patient id): its file is readable by its owner only, even where it replaces
#: one others could read.
EXPORT_FILE_MODE = 0o600


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[IO[str]]:
    """stdout, or `path` written whole (`files.written`), readable by its owner only."""
    if path is None:
        yield sys.stdout
        return
    with files.written(path, mode=EXPORT_FILE_MODE) as file:
        yield file


def _csv_row(entry: AuditEntry) -> list[Any]:
    record = entry_record(entry)
    for name in ("before", "after"):
        if record[name] is not None:
            record[name] = json.dumps(record[name], sort_keys=True, ensure_ascii=False)
    return [record[name] for name in ENTRY_FIELDS]


async def export_audit(ctx: CommandContext) -> None:
    if ctx.args.with_checkpoints:
        await _export_sealed(ctx)
        return
    export = await ctx.container.audit.export_audit_log().execute(ctx.principal, _query(ctx.args))
    show = not ctx.args.no_progress and stderr.is_terminal  # a log gets no blank line
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
    if ctx.args.output is not None and ctx.as_json:
        print_json({"entries": written, "output": str(ctx.args.output), "format": ctx.args.format})
    elif ctx.args.output is not None:
        message = f"{written} entries written to {ctx.args.output} ({ctx.args.format})"
        stderr.print(message)


async def _export_sealed(ctx: CommandContext) -> None:
    args = ctx.args
    others = [
        name
        for name in (
            "action",
            "actor_id",
            "case_id",
            "patient_id",
            "from_date",
            "to_date",
            "cursor",
        )
        if getattr(args, name) is not None
    ]
    if others or args.format != "jsonl":
        raise ValidationFailed.single(
            "with_checkpoints",
            "exports whole chains as jsonl: only --tenant-id may be given with it",
        )
    export = await ctx.container.audit.export_sealed_chains().execute(
        ctx.principal, SealedChainsQuery(tenant_id=args.tenant_id)
    )
    checkpoints = written = 0
    with _output(args.output) as out:
        async for document in export.checkpoints():
            out.write('{"checkpoint":' + document.decode("ascii") + "}\n")
            checkpoints += 1
        async for batch in export.entries():
            out.write(b"".join(_ENCODER.encode(entry_out(e)) + b"\n" for e in batch).decode())
            written += len(batch)
        out.flush()
    if args.output is not None and ctx.as_json:
        print_json(
            {
                "entries": written,
                "checkpoints": checkpoints,
                "chains": len(export.chains),
                "output": str(args.output),
                "format": "jsonl",
            }
        )
    elif args.output is not None:
        stderr.print(
            f"{checkpoints} checkpoints and {written} entries of {len(export.chains)} chains "
            f"written to {args.output}",
        )


async def write_checkpoint(ctx: CommandContext) -> int:
    checkpoint_keys(ctx.container)
    with files.published(choices.checkpoint_directory(ctx.container.settings())):
        result = await ctx.container.audit.write_checkpoint().execute(
            ctx.principal, WriteCheckpointCommand()
        )
    shown = checkpoint_out(result)
    if ctx.as_json:
        print_json(shown)
        return 0
    if shown is None:
        stdout.print("no checkpoint: another writer held the lock")
        return 0
    verb = "written" if shown.written else "another writer just wrote"
    stdout.print(
        f"checkpoint {shown.seq} {verb} at {shown.created_at.isoformat()}: "
        f"{len(shown.heads)} chains sealed, key {shown.key_id}, hash {shown.hash}",
    )
    return 0


async def show_public_key(ctx: CommandContext) -> None:
    """PEM, or with `--json` the key set of /.well-known/audit-checkpoint-keys; to stdout or
    to `--output` (either form is what `audit verify-export --public-key` reads)."""
    keys = checkpoint_keys(ctx.container).public_keys()
    if ctx.as_json:
        key_set = {"keys": [public_key_jwk(k) for k in keys]}
        text = msgspec.json.format(msgspec.json.encode(key_set), indent=2).decode() + "\n"
    else:
        text = "".join(f"# key id {key.key_id}\n{public_key_pem(key)}" for key in keys)
    if ctx.args.output is None:
        sys.stdout.write(text)
        return
    with files.written(ctx.args.output) as file:  # a public key: readable as any new file
        file.write(text)
    stderr.print(f"{len(keys)} public key(s) written to {ctx.args.output}")


def verify_export_file(args: argparse.Namespace) -> int:
    """Runs before any setting is read: the file and the public keys are all it needs."""
    keys = []
    try:
        for path in args.public_key:
            keys += read_public_keys(path.read_bytes())
    except OSError as error:
        raise unreadable("public_key", path, error) from error
    except (CheckpointKeyUnusable, ValueError) as error:
        raise ValidationFailed.single(
            "public_key", f"{path} holds no usable key: {error}"
        ) from error
    try:
        with args.file.open("rb") as lines:
            result = verify_export(
                lines, Ed25519CheckpointKeys(keys).verify, every_chain=args.all_chains
            )
    except OSError as error:
        raise unreadable("file", args.file, error) from error
    if result.not_an_export:
        assert result.bad_line is not None
        number, why = result.bad_line
        raise ValidationFailed.single(
            "file",
            f"{args.file} is not an audit export: line {number} is {why}; an export's lines"
            " are JSON objects, each a checkpoint or an audit entry"
            " (`adminctl audit export --with-checkpoints` writes one)",
        )
    _report_export(args, result)
    return 0 if result.ok else EXIT_CHAIN_BROKEN


def _report_export(args: argparse.Namespace, result: ExportVerification) -> None:
    if args.json:
        print_json(export_verification_out(result))
        return
    for c in result.checkpoints:
        covers = ", ".join(f"{v.chain} #1-#{v.through_seq}" for v in c.covers) or "no chain"
        state = ("trusted", "green") if c.trusted else (str(c.reason), "red")
        elsewhere = (
            f" (+{c.chains_not_exported} chains not exported)" if c.chains_not_exported else ""
        )
        stdout.print(
            styled(f"checkpoint {c.seq} ", state, f" key {c.key_id}: covers {covers}{elsewhere}")
        )
    for chain in result.chains:
        if chain.ok:
            stdout.print(
                styled(
                    ("ok", "green"),
                    f" {chain.chain}: {chain.entries} entries, head #{chain.head_seq},"
                    f" sealed through #{chain.sealed_seq}, {chain.unsealed_entries} unsealed",
                )
            )
        else:
            broken = chain.broken_at
            assert broken is not None
            stdout.print(
                styled(
                    ("BROKEN", "red"),
                    f" {chain.chain} at seq {broken.seq}: {broken.reason.value} — "
                    f"{ADVICE[broken.reason]}",
                )
            )
    for missing in result.missing_chains:
        what = f" {missing.chain}: sealed through #{missing.through_seq} by checkpoint "
        stdout.print(
            styled(("MISSING", "red"), what + f"{missing.checkpoint_seq}, not in the export")
            if args.all_chains
            else styled(f"not exported{what}{missing.checkpoint_seq}")
        )
    if result.bad_line is not None:
        stdout.print(styled(("BAD LINE", "red"), f" {result.bad_line[0]}: {result.bad_line[1]}"))
    if result.checkpoint_problem is not None and not any(not c.trusted for c in result.checkpoints):
        stdout.print(styled((str(result.checkpoint_problem.reason), "red"), ": nothing is proven"))
    verdict = ("ok", "green") if result.ok else ("NOT VERIFIED", "red")
    stdout.print(styled(verdict, f": {result.entries} entries"))
