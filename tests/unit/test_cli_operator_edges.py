"""`adminctl` as an operator's shell and scripts meet it: bytes that are not UTF-8 in an
argument, a Ctrl-C while it starts, standard streams closed or full, file names no system
takes. Each ends in one line on stderr (the error envelope with `--json`) and an exit code of
the table in `adminctl --help`, never a traceback, and changes nothing."""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import sqlite3
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from admin_core.kernel.errors import ValidationFailed
from entrypoints.cli.main import ArgumentsRefused, build_parser, main, parse
from tests.support.adminctl import ADMINCTL
from tests.support.signals import stopped

#: What Python makes of the byte 0xff in an argument (PEP 383): a lone surrogate.
NOT_UTF8 = os.fsdecode(b"\xff")

#: A value each argument's type takes, for the arguments a command requires beside the one
#: under test.
VALID = {
    "tenant_id": "apollo-chennai",
    "user_id": "user_x",
    "role": "org:admin",
    "session_id": "mso_x",
    "doctor_id": "msd_x",
    "clerk_org_id": "org_x",
    "available_from": "2026-01-01",
    "consultation_fee_minor": "100",
    "assignments": "triage_risk_threshold=0.5",
}


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ADMIN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}")
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "keys" / "signing.pem"))
    assert main(["db", "upgrade"]) == 0
    assert main(["demo", "seed"]) == 0
    return tmp_path


def _valued_arguments() -> list[tuple[list[str], argparse.Action]]:
    """(command words, argument) for every argument of every command that takes a value."""
    found: list[tuple[list[str], argparse.Action]] = []

    def walk(parser: argparse.ArgumentParser, words: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*words, name])
            elif action.nargs != 0 and action.dest != "help":
                found.append((words, action))

    walk(build_parser(), [])
    return found


def _words(command: list[str], tested: argparse.Action, value: str) -> list[str]:
    """`command` with `tested` given `value` and every other required argument a valid one."""
    parser = build_parser()
    for word in command:
        [groups] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = groups.choices[word]
    words = list(command)
    for action in parser._actions:
        if action.dest == tested.dest:
            given = value
        elif not action.option_strings or action.required:
            given = VALID.get(action.dest, "x")
        else:
            continue
        words += [action.option_strings[0], given] if action.option_strings else [given]
    return words


@pytest.mark.parametrize(
    ("command", "argument"),
    [pytest.param(c, a, id=" ".join([*c, a.dest])) for c, a in _valued_arguments()],
)
def test_an_argument_that_is_not_utf8_is_refused_naming_it(
    command: list[str], argument: argparse.Action
) -> None:
    """Bytes that are not UTF-8 (`$'\\xff'`) in any argument of any command are bad input
    for that argument, before anything runs: no database, JSON answer or audit entry could
    hold them (a reason stored so once made every later query of the tenant's log fail)."""
    words = _words(command, argument, f"a{NOT_UTF8}b")
    with pytest.raises((ValidationFailed, ArgumentsRefused)) as refused:
        parse(words)
    if isinstance(refused.value, ValidationFailed):
        assert [e.field for e in refused.value.errors] == [argument.dest], words
    else:
        assert refused.value.field == argument.dest, words


def test_a_reason_that_is_not_utf8_changes_nothing_and_the_log_stays_readable(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = main(["--json", "audit", "query", "--tenant-id", "apollo-chennai"])
    entries = json.loads(capsys.readouterr().out)["entries"]
    assert before == 0
    words = ["flags", "override", "apollo-chennai", "triage_risk_threshold", "0.5"]
    assert main(["--json", *words, "--reason", f"checked{NOT_UTF8}"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    (error,) = json.loads(err)["errors"]
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", "reason")
    assert main(["--json", "audit", "query", "--tenant-id", "apollo-chennai"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == entries


def test_bytes_that_are_not_utf8_quoted_back_keep_the_json_error_readable(
    tmp_path: Path,
) -> None:
    """argparse quotes an unknown argument back; with `--json` its bytes are escaped
    (`\\udcff`), so the envelope is still JSON, as the real command line gives them."""
    env = {"ADMIN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"}
    done = subprocess.run(
        [str(ADMINCTL), "--json", "tenants", "list", b"\xff"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == b""
    (error,) = json.loads(done.stderr)["errors"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "\\udcff" in error["message"]


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "ADMIN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}",
        "ADMIN_LOCAL_KEY_PATH": str(tmp_path / "keys" / "signing.pem"),
    }


STOPS = {
    signal.SIGINT: (130, "INTERRUPTED", "interrupted (Ctrl-C); nothing more was done"),
    signal.SIGTERM: (143, "TERMINATED", "terminated (SIGTERM); nothing more was done"),
}


def _stopped(tmp_path: Path, sig: signal.Signals, *, as_json: bool, starting: bool) -> None:
    """`sig` lands while the command line is imported (`starting`), or once it runs."""
    done = stopped(tmp_path, sig, as_json=as_json, starting=starting)
    out, err = done.out, done.err
    status, code, message = STOPS[sig]
    assert done.status == status, err[-2000:]
    assert out == ""
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    if as_json:
        assert json.loads(last)["errors"] == [{"code": code, "message": message}]
    else:
        assert last == f"error {code}: {message}"


@pytest.mark.parametrize("as_json", [False, True])
def test_a_ctrl_c_while_the_command_line_starts_is_an_interruption_not_a_traceback(
    tmp_path: Path, as_json: bool
) -> None:
    """The command line takes a second or more to import; a Ctrl-C then ends it as one
    later does: 130, `interrupted`, no traceback."""
    _stopped(tmp_path, signal.SIGINT, as_json=as_json, starting=True)


@pytest.mark.parametrize("starting", [True, False], ids=["starting", "running"])
@pytest.mark.parametrize("as_json", [False, True])
def test_sigterm_stops_a_command_as_ctrl_c_does_with_the_status_of_sigterm(
    tmp_path: Path, as_json: bool, starting: bool
) -> None:
    """`timeout 60 adminctl ...`, `kill`: what was running is cancelled and closed (an
    export's unfinished file removed), the command says so and exits 143, where the process
    used to vanish mid-way, leaving such a file behind."""
    _stopped(tmp_path, signal.SIGTERM, as_json=as_json, starting=starting)


def _close(fd: int) -> None:
    os.close(fd)


@pytest.mark.parametrize("fd", [0, 2])
def test_a_command_runs_with_stdin_or_stderr_closed(tmp_path: Path, fd: int) -> None:
    """`adminctl ... 2>&-` discards the diagnostics, as `2>/dev/null` does; the command
    still runs and prints its answer."""
    done = subprocess.run(
        [str(ADMINCTL), "--json", "db", "upgrade"],
        env=_env(tmp_path),
        stdin=subprocess.DEVNULL if fd else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if fd == 0 else None,
        preexec_fn=lambda: _close(fd),
        timeout=60,
    )
    assert done.returncode == 0
    assert json.loads(done.stdout)["upgraded"] is True
    assert b"Traceback" not in (done.stderr or b"")


def _stderr_gone(how: str) -> tuple[int | None, Callable[[], None] | None]:
    """stderr of a command: closed (`2>&-`), or a pipe whose reader has gone (`2>&1 >out |
    head -1`, a log collector that stopped)."""
    if how == "closed":
        return None, lambda: _close(2)
    read_end, write_end = os.pipe()
    os.close(read_end)
    return write_end, None


@pytest.mark.parametrize("how", ["closed", "reader gone"])
@pytest.mark.parametrize(
    ("words", "status"),
    [
        (["tenants", "list"], 0),
        (["--json", "tenants", "list"], 0),
        (["tenants", "update", "no-such-tenant", "--name", "X"], 4),
        (["--json", "tenants", "update", "no-such-tenant", "--name", "X"], 4),
        (["tenants", "list", "--limit", "0"], 2),
        (["tenants", "bogus"], 2),
        (["audit", "export", "-o", "export.jsonl"], 0),
    ],
)
def test_a_command_whose_stderr_nobody_reads_exits_with_its_own_status(
    embedded: Path, words: list[str], status: int, how: str
) -> None:
    """A script tests `$?` for what the command did: with nobody reading the diagnostics,
    the status is still the command's own (done, not found, bad input), not 141 as if its
    output's reader had gone; what it prints on stdout and the files it writes are whole."""
    stderr, before_exec = _stderr_gone(how)
    try:
        done = subprocess.run(
            [str(ADMINCTL), *words],
            cwd=embedded,
            env=_env(embedded),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            preexec_fn=before_exec,
            text=True,
            timeout=60,
        )
    finally:
        if stderr is not None:
            os.close(stderr)
    assert done.returncode == status
    if words[-1] == "list":
        assert "apollo-chennai" in done.stdout
    if "export" in words:
        assert len((embedded / "export.jsonl").read_text().splitlines()) > 1


@pytest.mark.parametrize("as_json", [False, True])
def test_a_command_with_stdout_closed_does_nothing_and_says_why(
    tmp_path: Path, as_json: bool
) -> None:
    """`adminctl ... >&-`: nothing it did could be reported, so it does nothing (no
    database is created) and says so on stderr, with the status of output nobody reads."""
    done = subprocess.run(
        [str(ADMINCTL), *(["--json"] if as_json else []), "db", "upgrade"],
        env=_env(tmp_path),
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: _close(1),
        text=True,
        timeout=60,
    )
    assert done.returncode == 141
    assert "Traceback" not in done.stderr
    line = done.stderr.strip()
    if as_json:
        assert json.loads(line)["errors"][0]["code"] == "OUTPUT_CLOSED"
    else:
        assert line.startswith("error OUTPUT_CLOSED: standard output is closed")
    assert not (tmp_path / "admin.db").exists()


@pytest.mark.parametrize(
    "words",
    [
        ["tenants", "list"],
        ["--json", "tenants", "list"],
        ["audit", "export", "--no-progress"],
        ["audit", "export", "--no-progress", "-o", "/dev/full"],
        ["--json", "audit", "export", "--no-progress", "-o", "/dev/full"],
        ["audit", "public-key", "-o", "/dev/full"],
        ["--json", "audit", "public-key", "-o", "/dev/full"],
    ],
)
def test_output_the_disk_cannot_take_is_an_io_error_not_a_bug(
    embedded: Path, words: list[str]
) -> None:
    """A full disk (here /dev/full) under stdout or `-o` is the machine's state: IO_ERROR,
    exit 74, naming the system's reason; not INTERNAL_ERROR asking for a bug report."""
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [str(ADMINCTL), *words],
            env=_env(embedded),
            stdin=subprocess.DEVNULL,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert done.returncode == 74, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    # An `-o` file is named, with the argument that named it; stdout is "the output".
    named, field = ("/dev/full", "output") if "-o" in words else ("the output", None)
    message = f"{named} could not be written: No space left on device"
    if "--json" in words:
        (error,) = json.loads(line)["errors"]
        assert error["code"] == "IO_ERROR"
        assert error["message"].startswith(message)
        assert error.get("field") == field
    else:
        where = f" ({field})" if field else ""
        assert line.startswith(f"error IO_ERROR{where}: {message}")
    assert "Exception ignored" not in done.stderr


def _file_size_limit(size: int) -> Callable[[], None]:
    """A file-size limit (`ulimit -f`) on the command: a write past `size` bytes of any file
    fails (EFBIG) part-way, as on a disk that fills up while the command writes."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


@pytest.mark.parametrize(
    "words",
    [
        ["audit", "public-key"],
        ["--json", "audit", "public-key"],
        ["audit", "export", "--no-progress"],
        ["--json", "audit", "export", "--no-progress", "--format", "csv"],
        ["audit", "export", "--no-progress", "--with-checkpoints"],
    ],
)
def test_a_file_the_disk_refuses_half_way_leaves_the_file_it_was_to_replace_whole(
    embedded: Path, words: list[str]
) -> None:
    """`-o FILE` over a good file, and the disk refuses the rest half-way: the good file is
    still there as it was, no part-written one beside it, and the command says IO_ERROR
    (exit 74), as for a full disk under stdout."""
    assert main(["audit", "public-key"]) == 0  # the signing key made, before the limit
    target = embedded / "out.txt"
    target.write_text("the former file, whole\n")
    # The database's shared-memory file, made by the first connection, is the size SQLite
    # wants before the limit applies: the command reads the database as it would.
    held = sqlite3.connect(embedded / "admin.db")
    try:
        held.execute("select count(*) from sqlite_master").fetchall()
        done = subprocess.run(
            [str(ADMINCTL), *words, "-o", str(target)],
            # Python's own cache of compiled modules is cut short by the limit as well.
            env={**_env(embedded), "PYTHONDONTWRITEBYTECODE": "1"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            preexec_fn=_file_size_limit(64),
            timeout=60,
        )
    finally:
        held.close()
    assert done.returncode == 74, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    message = f"{target} could not be written: File too large"
    if "--json" in words:
        (error,) = json.loads(line)["errors"]
        assert (error["code"], error["field"]) == ("IO_ERROR", "output")
        assert error["message"].startswith(message)
    else:
        assert line.startswith(f"error IO_ERROR (output): {message}")
    assert target.read_text() == "the former file, whole\n"
    assert not [p for p in embedded.iterdir() if p.name.startswith(".out.txt")]


def test_a_public_key_file_replaces_the_former_one_whole_and_stays_readable(
    embedded: Path,
) -> None:
    """A public key is for others to read (whoever checks an export): its file is made as any
    new file (`umask`), where the export's is its owner's alone."""
    target = embedded / "audit.pub"
    target.write_text("x" * 10_000)
    previous = os.umask(0o022)
    try:
        assert main(["audit", "public-key", "-o", str(target)]) == 0
    finally:
        os.umask(previous)
    assert target.read_text().startswith("# key id ")
    assert "x" * 100 not in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert not [p for p in embedded.iterdir() if p.name.startswith(".audit.pub")]


@pytest.mark.parametrize(
    ("words", "field"),
    [
        (["audit", "export", "-o", "x" * 300], "output"),
        (["audit", "public-key", "-o", "x" * 5000], "output"),
        (["audit", "verify-export", "x" * 300, "--public-key", "k.pem"], "file"),
        (["audit", "verify-export", "a.jsonl", "--public-key", "x" * 300], "public_key"),
        (["matching", "check", "--dir", "x" * 300], "dir"),
    ],
)
def test_a_file_name_longer_than_the_system_takes_is_bad_input_named_by_its_argument(
    embedded: Path, capsys: pytest.CaptureFixture[str], words: list[str], field: str
) -> None:
    capsys.readouterr()
    assert main(["--json", *words]) == 2
    (error,) = json.loads(capsys.readouterr().err)["errors"]
    assert error == {
        "code": "VALIDATION_ERROR",
        "message": "is too long for a file name",
        "field": field,
    }


def test_every_argument_s_help_says_what_it_takes_before_its_default() -> None:
    """`--tenant-id  default: derived from the name` or `--specialty  repeatable` tells an
    operator what happens without it, not what to give: each help starts with what the
    value is."""
    vague = []
    for command, action in _valued_arguments():
        what = re.split(r"\(default|; ", action.help or "")[0].strip()
        if not what or what.startswith("default") or re.fullmatch(r"repeatable|\d+ to \d+", what):
            name = "/".join(action.option_strings) or action.dest
            vague.append(f"{' '.join(command)} {name}: {action.help}")
    assert vague == []


@pytest.mark.parametrize("name", [f"op{NOT_UTF8}", "op\nroot", "op\u202eelif"])
def test_a_login_name_no_audit_entry_may_hold_stops_the_command_before_it_changes_anything(
    embedded: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    """The CLI acts as `cli:<login name>`. A name from LOGNAME or USER with bytes that are
    not UTF-8 or control characters is a configuration that cannot run (78), said before
    anything is done: under it a flag change was left half-recorded, and the tenant's flags
    refused every later change until someone edited the database."""
    words = ["flags", "override", "apollo-chennai", "triage_risk_threshold", "0.4"]
    monkeypatch.setenv("LOGNAME", name)
    capsys.readouterr()
    assert main(["--json", *words, "--reason", "checked"]) == 78
    out, err = capsys.readouterr()
    assert out == ""
    (error,) = json.loads(err)["errors"]
    assert error["code"] == "CONFIGURATION_INVALID"
    assert "LOGNAME" in error["message"]
    monkeypatch.setenv("LOGNAME", "jürgen.o'neil@corp")
    assert main(["--json", *words, "--reason", "checked"]) == 0
    assert json.loads(capsys.readouterr().out)["previous_value"] == 0.65
    assert main(["--json", "audit", "query", "--tenant-id", "apollo-chennai", "--limit", "1"]) == 0
    [entry] = json.loads(capsys.readouterr().out)["entries"]
    assert entry["actor_id"] == "cli:jürgen.o'neil@corp"


@pytest.mark.parametrize(
    "variable", ["ADMIN_AUTH_ISSUER", "ADMIN_LOCAL_KEY_PATH", "ADMIN_DATABASE_URL"]
)
def test_a_setting_holding_bytes_that_are_not_utf8_is_a_configuration_problem_naming_it(
    embedded: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    """As for an argument: a value no token, URL, file name in JSON or log line can carry is
    named as the configuration's problem (78), by `config check` too, never INTERNAL_ERROR."""
    monkeypatch.setenv(variable, f"{os.environ.get(variable, 'http://127.0.0.1:8000/x')}{NOT_UTF8}")
    problem = f"{variable}: must be UTF-8 text (it holds bytes that are not)"
    capsys.readouterr()
    assert main(["--json", "tenants", "list"]) == 78
    (error,) = json.loads(capsys.readouterr().err)["errors"]
    assert (error["code"], error["field"]) == ("CONFIGURATION_INVALID", variable)
    assert error["message"].endswith(problem)
    assert main(["--json", "config", "check"]) == 78
    assert problem in json.loads(capsys.readouterr().out)["problems"]


def test_version_says_which_release_this_is(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert re.fullmatch(r"adminctl \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)


@pytest.mark.parametrize(
    ("words", "field"),
    [
        (["tenants", "list", "--bogus"], None),
        (["token", "--claims-version", "3"], "claims_version"),
        (["tenants", "update"], None),
        (["tenants"], None),
        (["nothing-such"], "command"),
        ([], None),
    ],
)
def test_a_command_line_the_parser_refuses_ends_in_the_error_line_with_its_code(
    capsys: pytest.CaptureFixture[str], words: list[str], field: str | None
) -> None:
    """SPEC §7: a failure prints its error code. The usage of the command is shown above the
    line, which has the shape of every other failure's: `error CODE (field): message`."""
    with pytest.raises(SystemExit) as stopped:
        main(words)
    assert stopped.value.code == 2
    *usage, last = capsys.readouterr().err.strip().splitlines()
    assert usage[0].startswith("usage: adminctl")
    where = f" ({field})" if field else ""
    assert last.startswith(f"error VALIDATION_ERROR{where}: "), last


@pytest.mark.parametrize(
    "words",
    [
        ["audit", "export", "--no-progress", "-o", "-"],
        ["--json", "audit", "public-key", "-o", "-"],
        ["audit", "public-key", "--output", "-"],
    ],
)
def test_output_dash_is_stdout_not_a_file_named_dash(
    embedded: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    words: list[str],
) -> None:
    monkeypatch.chdir(embedded)
    capsys.readouterr()
    assert main(words) == 0
    out = capsys.readouterr().out
    assert out.startswith(("{", "# key id"))
    assert not (embedded / "-").exists()
