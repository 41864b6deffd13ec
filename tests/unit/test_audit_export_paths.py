"""The lines of an audit export that are neither an entry nor a checkpoint where one belongs
(offline verification): blank lines are skipped, and a line that is no JSON object, or a
checkpoint after the entries, fails the export naming that line. A file without a single line
of an export (a PDF, a CSV, a JSON document) is no export at all: `verify-export` says so as
bad input on its file (exit 2), naming its first line, where a damaged export fails as one
(exit 1). Neither shows the JSON parser's wording."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from adapters.ed25519.keys import Ed25519CheckpointKeys, public_key_pem
from admin_core.audit.offline import ExportVerification, verify_export
from entrypoints.cli.main import main
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
    [
        ("[1, 2]", "not a JSON object"),
        ('"entry"', "not a JSON object"),
        ("{", ""),
        ("[" * 100_000 + "]" * 100_000, "not JSON"),
    ],
    ids=["an array", "a string", "broken json", "json nested deeper than a parser goes"],
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


#: Files that hold no line of an audit export.
NOT_EXPORTS = {
    "a PDF": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
    "a CSV": b"id,name,status\napollo-chennai,Apollo,active\n",
    "a JSON array": json.dumps([{"id": 1}, {"id": 2}], indent=2).encode() + b"\n",
    "a JSON array on one line": b'[{"id": 1}, {"id": 2}]\n',
    "JSON objects of something else": b'{"tenants": []}\n{"users": []}\n',
    "bytes that are no text": bytes(range(256)) * 4,
    "blank lines, then text": b"\n  \nhello\n",
}
#: The JSON parser's and the codec's wording, which no report shows.
PARSER_WORDS = ("Expecting", "column", "char ", "codec", "delimiter", "Extra data")


def _plain(text: str) -> None:
    for words in PARSER_WORDS:
        assert words not in text, text


@pytest.mark.parametrize("data", list(NOT_EXPORTS.values()), ids=list(NOT_EXPORTS))
async def test_a_file_with_no_line_of_an_export_is_not_an_export(log: Log, data: bytes) -> None:
    result = verified(log, list(io.BytesIO(data)))
    assert not result.ok
    assert result.not_an_export
    assert result.bad_line is not None
    first = next(n for n, line in enumerate(data.split(b"\n"), start=1) if line.strip())
    assert result.bad_line[0] == first
    _plain(result.bad_line[1])


@pytest.mark.parametrize("garbage", ["%PDF-1.7", "{", "[1, 2]", '{"id": 1}'])
@pytest.mark.parametrize("where", [0, 1, 3, -1], ids=["checkpoint", "first entry", "entry", "last"])
async def test_an_export_with_a_damaged_line_is_still_an_export_that_fails(
    log: Log, where: int, garbage: str
) -> None:
    """Tampering anywhere, the first line too, is a failed verification naming the line,
    never "not an export"."""
    lines = [json.dumps(line) for line in await log.export()]
    number = where % len(lines) + 1
    lines[where] = garbage
    result = verified(log, lines)
    assert not result.ok
    assert not result.not_an_export
    assert result.bad_line is not None
    assert result.bad_line[0] == number
    _plain(result.bad_line[1])


async def test_an_empty_file_is_the_export_of_an_empty_log_proving_nothing(log: Log) -> None:
    result = verified(log, list(io.BytesIO(b"")))
    assert not result.ok
    assert not result.not_an_export
    assert result.checkpoint_problem is not None
    assert result.checkpoint_problem.reason == "no_checkpoints"


def _public_key(log: Log, tmp_path: Path) -> Path:
    path = tmp_path / "audit.pub"
    path.write_text(public_key_pem(log.signer.public_key))
    return path


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("name", list(NOT_EXPORTS))
async def test_verify_export_of_a_file_that_is_no_export_says_so_as_bad_input(
    log: Log,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    as_json: bool,
) -> None:
    file = tmp_path / "given"
    file.write_bytes(NOT_EXPORTS[name])
    key = _public_key(log, tmp_path)
    capsys.readouterr()
    words = ["audit", "verify-export", str(file), "--public-key", str(key)]
    status = main(["--json", *words] if as_json else words)
    out, err = capsys.readouterr()
    assert status == 2, err
    assert out == ""
    (line,) = err.splitlines()
    _plain(line)
    if as_json:
        (error,) = json.loads(line)["errors"]
        assert (error["code"], error["field"]) == ("VALIDATION_ERROR", "file")
        message = error["message"]
    else:
        assert line.startswith("error VALIDATION_ERROR (file): "), line
        message = line.removeprefix("error VALIDATION_ERROR (file): ")
    assert message.startswith(f"{file} is not an audit export: line "), message


async def test_verify_export_of_a_tampered_export_fails_as_one_not_as_no_export(
    log: Log, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [json.dumps(line) for line in await log.export()]
    lines[2] = "%PDF-1.7"
    file = tmp_path / "export.jsonl"
    file.write_text("\n".join(lines) + "\n")
    key = _public_key(log, tmp_path)
    capsys.readouterr()
    status = main(["audit", "verify-export", str(file), "--public-key", str(key)])
    out, err = capsys.readouterr()
    assert status == 1, err
    assert err == ""
    assert "BAD LINE 3: not JSON" in out
    assert "NOT VERIFIED" in out
    assert "not an audit export" not in out
    _plain(out)
