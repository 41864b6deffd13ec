"""The lines of an audit export that are neither an entry nor a checkpoint where one belongs
(offline verification): blank lines are skipped, and a line that is no JSON object, or a
checkpoint after the entries, fails the export naming that line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.ed25519.keys import Ed25519CheckpointKeys
from admin_core.audit.offline import ExportVerification, verify_export
from tests.unit.test_audit_offline_verify import Log, record


@pytest.fixture
async def log(tmp_path: Path) -> Log:
    log = Log(tmp_path)
    await log.append(*(record(n) for n in range(1, 4)))
    await log.checkpoint()
    return log


def verified(log: Log, lines: list[str]) -> ExportVerification:
    return verify_export(lines, Ed25519CheckpointKeys([log.signer.public_key]).verify)


async def test_blank_lines_between_the_lines_of_an_export_are_skipped(log: Log) -> None:
    lines = [json.dumps(line) for line in await log.export()]
    spaced = ["", *(part for line in lines for part in (line, "  \n")), "\n"]
    result = verified(log, spaced)
    assert result.ok
    assert result.entries == 3
    assert result.bad_line is None


@pytest.mark.parametrize(
    ("line", "why"),
    [("[1, 2]", "not a JSON object"), ('"entry"', "not a JSON object"), ("{", "")],
    ids=["an array", "a string", "broken json"],
)
async def test_a_line_that_is_no_json_object_fails_the_export_and_is_named(
    log: Log, line: str, why: str
) -> None:
    lines = [json.dumps(line) for line in await log.export()]
    lines.insert(2, line)
    result = verified(log, lines)
    assert not result.ok
    assert result.bad_line is not None
    assert result.bad_line[0] == 3
    assert why in result.bad_line[1]
    assert result.entries == 1  # those before it were read


async def test_a_checkpoint_after_the_entries_fails_the_export_and_is_named(log: Log) -> None:
    exported = await log.export()
    checkpoints = [line for line in exported if "checkpoint" in line]
    entries = [line for line in exported if "checkpoint" not in line]
    lines = [json.dumps(line) for line in [*entries, *checkpoints]]
    result = verified(log, lines)
    assert not result.ok
    assert result.bad_line == (len(entries) + 1, "a checkpoint after the entries")
