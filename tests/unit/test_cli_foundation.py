"""`adminctl` on an embedded SQLite database: upgrade, seed, list, tokens, error exit codes."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import subprocess
from pathlib import Path

import jwt
import pytest

from adapters.ed25519.keys import Ed25519CheckpointSigner
from entrypoints.cli.main import build_parser, main
from entrypoints.cli.output import print_table
from tests.support.adminctl import ADMINCTL
from tests.support.ports import free_port
from tests.support.signals import stopped


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ADMIN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}")
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "keys" / "signing.pem"))
    assert main(["db", "upgrade"]) == 0
    return tmp_path


def test_seed_then_list_as_json(embedded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "seed"]) == 0
    assert main(["demo", "seed"]) == 0  # idempotent
    capsys.readouterr()
    assert main(["--json", "tenants", "list", "--status", "suspended"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [t["id"] for t in listing["tenants"]] == ["medanta-gurugram"]
    assert listing["total"] == 1


def test_human_table_lists_tenants(embedded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["demo", "seed"])
    capsys.readouterr()
    assert main(["tenants", "list"]) == 0
    assert "apollo-chennai" in capsys.readouterr().out


def test_validation_error_exits_non_zero_with_the_code(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--json", "tenants", "list", "--limit", "0"]) == 2
    error = json.loads(capsys.readouterr().err)
    assert error["errors"][0]["code"] == "VALIDATION_ERROR"
    assert error["errors"][0]["field"] == "limit"


def test_token_carries_the_role_and_org(embedded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["--json", "token", "--role", "org:coordinator", "--org", "org_x", "--ttl", "60"]) == 0
    )
    token = json.loads(capsys.readouterr().out)["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["o"] == {"id": "org_x", "rol": "coordinator"}
    assert claims["exp"] - claims["iat"] == 60


def test_token_refuses_a_silly_lifetime(embedded: Path) -> None:
    assert main(["token", "--ttl", "999999"]) == 2


@pytest.mark.parametrize(
    "command", [["tenants", "list"], ["--json", "sessions", "list"], ["audit", "query"]]
)
def test_a_database_never_migrated_is_named_not_a_traceback(
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    empty = tmp_path / "empty.db"
    monkeypatch.setenv("ADMIN_DATABASE_URL", f"sqlite+aiosqlite:///{empty}")
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "keys" / "signing.pem"))
    sqlite3.connect(empty).close()  # a file without a schema
    assert main(command) == 78
    err = capsys.readouterr().err
    assert "adminctl db upgrade" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "command",
    [
        ["tenants", "list"],
        ["--json", "sessions", "list"],
        ["audit", "query"],
        ["audit", "verify"],
        ["audit", "checkpoint"],
        ["demo", "seed"],
    ],
)
def test_a_mistyped_database_path_is_named_and_nothing_is_created(
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mistyped = tmp_path / "not" / "there" / "admin.db"
    monkeypatch.setenv("ADMIN_DATABASE_URL", f"sqlite+aiosqlite:///{mistyped}")
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "keys" / "signing.pem"))
    assert main(command) == 78
    assert "adminctl db upgrade" in capsys.readouterr().err
    assert not (tmp_path / "not").exists()


@pytest.mark.parametrize(
    "words",
    [
        ["tenants", "list", "--json", "--status", "suspended"],
        ["tenants", "list", "--status", "suspended", "--json"],
    ],
)
def test_json_may_follow_the_command(
    embedded: Path, capsys: pytest.CaptureFixture[str], words: list[str]
) -> None:
    main(["demo", "seed"])
    capsys.readouterr()
    assert main(["--json", "tenants", "list", "--status", "suspended"]) == 0
    before = capsys.readouterr().out
    assert main(words) == 0
    assert capsys.readouterr().out == before


def test_json_after_a_command_with_a_bad_value_still_answers_in_json(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tenants", "list", "--limit", "0", "--json"]) == 2
    assert json.loads(capsys.readouterr().err)["errors"][0]["field"] == "limit"


def test_an_unknown_argument_is_reported_with_its_command_usage(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["audit", "export", "--limit", "2"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: adminctl audit export")
    assert "unrecognized arguments: --limit 2" in err


@pytest.mark.parametrize(
    "words",
    [["graph", "status"], ["graph", "rebuild", "--no-progress"], ["matching", "parameters"]],
)
def test_a_command_on_a_graph_of_its_own_says_so_on_stderr_only(
    embedded: Path, capsys: pytest.CaptureFixture[str], words: list[str]
) -> None:
    assert main(words) == 0
    human = capsys.readouterr()
    assert "this command sees its own, not the server's" in human.err
    assert main(["--json", *words]) == 0
    scripted = capsys.readouterr()
    json.loads(scripted.out)  # stdout stays the data alone
    assert "this command sees its own, not the server's" in scripted.err


def test_a_command_on_a_memory_database_says_it_is_its_own_on_stderr_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`demo seed` on `memory://` seeds a database gone when the command ends: the next
    command lists nothing, and each says why."""
    monkeypatch.setenv("ADMIN_DATABASE_URL", "memory://")
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "keys" / "signing.pem"))
    own = "this command's database is its own, empty when it starts and gone when it ends"
    assert main(["demo", "seed"]) == 0
    seeded = capsys.readouterr()
    assert "4 tenants seeded" in seeded.out
    assert own in seeded.err
    assert main(["--json", "tenants", "list"]) == 0
    listed = capsys.readouterr()
    assert json.loads(listed.out)["tenants"] == []  # stdout stays the data alone
    assert own in listed.err


def test_a_command_on_a_sqlite_database_makes_no_note_of_it(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tenants", "list"]) == 0
    assert "memory://" not in capsys.readouterr().err


def test_db_upgrade_says_what_it_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ADMIN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    assert main(["--json", "db", "upgrade"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["upgraded"] is True
    assert first["from"] is None
    assert main(["--json", "db", "upgrade"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again == {"upgraded": False, "from": first["to"], "to": first["to"]}
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out.strip() == f"database schema is up to date ({first['to']})"


@pytest.mark.parametrize("words", [["reconcile"], ["sessions", "reconcile"]])
def test_a_reconcile_says_which_intents_it_left_alone(
    embedded: Path, capsys: pytest.CaptureFixture[str], words: list[str]
) -> None:
    assert main([*words, "--older-than", "5"]) == 0
    out = capsys.readouterr().out
    assert "still pending 0" in out
    assert "younger than 5 s were left to the calls that made them" in out


def test_commands_run_from_any_directory_sign_with_the_keys_beside_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cron job or an operator's shell elsewhere works on the same database with the same
    keys: a checkpoint written from there is one verify accepts."""
    monkeypatch.setenv("ADMIN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'data' / 'a.db'}")
    monkeypatch.delenv("ADMIN_LOCAL_KEY_PATH", raising=False)
    for name in ("ops", "elsewhere"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path / "ops")
    assert main(["db", "upgrade"]) == 0
    assert main(["demo", "seed"]) == 0
    assert main(["audit", "checkpoint"]) == 0
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["demo", "seed"]) == 0  # already seeded: nothing new, but entries are made
    assert main(["audit", "checkpoint"]) == 0
    capsys.readouterr()
    assert main(["--json", "audit", "verify", "--tenant-id", "apollo-chennai"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert main(["token"]) == 0
    assert sorted(p.name for p in (tmp_path / "data" / "keys").iterdir()) == [
        "audit-checkpoint-ed25519.pem",
        "local-signing.pem",
    ]
    assert not (tmp_path / "ops" / "var").exists()
    assert not (tmp_path / "elsewhere" / "var").exists()


@pytest.mark.parametrize(
    "words",
    [
        ["flags", "override", "apollo-chennai", "matching_domain_weights"],
        ["triage", "set", "apollo-chennai"],
    ],
)
def test_a_value_nested_deeper_than_the_api_takes_is_refused_not_a_traceback(
    embedded: Path, capsys: pytest.CaptureFixture[str], words: list[str]
) -> None:
    for depth in (33, 5000):
        value = "[" * depth + "]" * depth
        last = value if words[0] == "flags" else f"mso_eligible_decision_stages={value}"
        capsys.readouterr()
        assert main(["--json", *words, last, "--reason", "x"]) == 2
        error = json.loads(capsys.readouterr().err)["errors"][0]
        assert error["code"] == "BAD_REQUEST"
        assert "nests deeper than 32 levels" in error["message"]


@pytest.mark.parametrize(
    "words", [["audit", "export", "--no-progress", "-o"], ["audit", "public-key", "-o"]]
)
@pytest.mark.parametrize("where", ["missing/out.txt", "."])
def test_an_output_file_that_cannot_be_written_is_named_not_a_traceback(
    embedded: Path, capsys: pytest.CaptureFixture[str], words: list[str], where: str
) -> None:
    capsys.readouterr()
    assert main([*words, str(embedded / where)]) == 2
    assert "cannot be written" in capsys.readouterr().err


def test_an_empty_org_is_refused_not_taken_for_the_platform(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["--json", "token", "--org", ""]) == 2
    assert json.loads(capsys.readouterr().err)["errors"][0]["field"] == "org"
    with pytest.raises(SystemExit) as stopped:
        main(["token", "--org", "org_x", "--no-org"])
    assert stopped.value.code == 2


def test_serve_on_a_port_another_process_holds_says_so_and_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ADMIN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 78
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "--port, or ADMIN_PORT" in err  # and how to pick another one
    assert not (tmp_path / "a.db").exists()  # nothing migrated, no token printed


def test_a_file_verify_export_cannot_read_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.jsonl"
    assert main(["audit", "verify-export", str(missing), "--public-key", str(missing)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_a_setting_both_set_and_cleared_is_refused(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "seed"]) == 0
    capsys.readouterr()
    words = ["tenants", "update", "apollo-chennai", "--set", "payments_provider=stripe"]
    assert main(["--json", *words, "--clear", "payments_provider"]) == 2
    assert json.loads(capsys.readouterr().err)["errors"][0]["field"] == "clear"


def test_a_page_past_the_end_says_none_of_the_total(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "seed"]) == 0
    capsys.readouterr()
    assert main(["sessions", "list", "--offset", "100000"]) == 0
    out = capsys.readouterr().out
    assert "Sessions (0 of " in out
    assert "100001-100000" not in out


def test_every_argument_of_every_command_says_what_it_is() -> None:
    missing: list[str] = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif action.help is None:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")

    walk(build_parser(), "adminctl")
    assert missing == []


@pytest.mark.parametrize("words", [["token"], ["serve", "--port"]])
def test_a_local_signing_key_that_cannot_be_read_is_named_not_a_traceback(
    embedded: Path, capsys: pytest.CaptureFixture[str], words: list[str]
) -> None:
    key = embedded / "keys" / "signing.pem"  # the fixture's ADMIN_LOCAL_KEY_PATH
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text("not a key\n")
    if words[-1] == "--port":
        with socket.create_server(("127.0.0.1", 0)) as probe:
            words = [*words, str(probe.getsockname()[1])]  # free once closed
    assert main(words) == 78
    err = capsys.readouterr().err
    assert "ADMIN_LOCAL_KEY_PATH" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", [["db", "upgrade"], ["serve", "--no-seed"]])
def test_a_database_a_later_release_migrated_is_named_not_a_traceback(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    """A rollback of the release: the database is at a revision this one does not know.
    Both commands refuse it (78), saying so, and change nothing."""
    database = tmp_path / "newer.db"
    monkeypatch.setenv("ADMIN_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "keys" / "signing.pem"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        monkeypatch.setenv("ADMIN_PORT", str(probe.getsockname()[1]))
    assert main(["db", "upgrade"]) == 0
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099'")
    capsys.readouterr()
    assert main(command) == 78
    err = capsys.readouterr().err
    assert "the database is at 0099, which a later release made" in err
    assert "Traceback" not in err
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("0099",)
        ]


def test_serve_offers_no_json_output_and_refuses_to_pretend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every other command's `--json` prints the HTTP API's `data`; a server has none, so its
    help does not offer the option and `adminctl --json serve` says so before starting."""
    monkeypatch.setenv("ADMIN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "--json" not in capsys.readouterr().out.split("\n\n", 1)[0]  # the usage line
    assert main(["serve", "--json"]) == 2
    assert (
        "unrecognized arguments: --json"
        in json.loads(capsys.readouterr().err)["errors"][0]["message"]
    )
    assert main(["--json", "serve", "--port", "1"]) == 2
    assert json.loads(capsys.readouterr().err)["errors"][0]["field"] == "json"
    assert not (tmp_path / "a.db").exists()  # nothing migrated, nothing served


def test_a_table_title_longer_than_its_columns_stays_on_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The title is not wrapped to the width of narrow columns: a time in it (health's
    `checked at`, a rebuild's duration) stays whole, to read and to copy."""
    title = "External dependencies: ok (checked 2026-11-30T13:42:16.126690+00:00)"
    print_table(title, ["dependency", "status"], [["postgres", "ok"]])
    assert title in capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("command", [["db", "upgrade"], ["tenants", "list"], ["health"]])
def test_urls_whose_port_is_no_number_are_named_together_not_a_traceback(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    monkeypatch.setenv("ADMIN_DATABASE_URL", "postgresql+asyncpg://u:secretpw@db.internal:54x2/db")
    monkeypatch.setenv("ADMIN_REDIS_URL", "redis://:cachepw@cache.internal:63x9/0")
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "keys" / "signing.pem"))
    assert main(command) == 78
    err = capsys.readouterr().err
    assert "ADMIN_DATABASE_URL: has a port that is not a whole number" in err
    assert "ADMIN_REDIS_URL: has a port that is not a whole number" in err
    assert "secretpw" not in err
    assert "cachepw" not in err


def _json_failure(words: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    """The exit status of `adminctl WORDS` and the error envelope it printed on stderr."""
    capsys.readouterr()
    try:
        status = main(words)
    except SystemExit as stopped:
        status = stopped.code
    out, err = capsys.readouterr()
    assert out == ""
    return int(status or 0), json.loads(err)


@pytest.mark.parametrize(
    ("words", "field"),
    [
        (["--json", "token", "--claims-version", "3"], "claims_version"),
        (["--json", "tenants", "list", "--status", "bogus"], "status"),
        (["tenants", "list", "--limit", "x", "--json"], "limit"),
        (["--json", "tenants", "update"], None),  # a required argument missing
        (["--json", "sessions", "list", "extra"], None),
        (["--json", "audit", "bogus"], "command"),
    ],
)
def test_with_json_an_argument_the_parser_refuses_is_an_error_envelope(
    embedded: Path, capsys: pytest.CaptureFixture[str], words: list[str], field: str | None
) -> None:
    status, envelope = _json_failure(words, capsys)
    assert status == 2
    assert envelope["success"] is False
    (error,) = envelope["errors"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error.get("field") == field
    assert error["message"]


def test_without_json_an_argument_the_parser_refuses_is_shown_with_the_usage(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["token", "--claims-version", "3"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.startswith("usage: adminctl token")


def test_with_json_a_configuration_that_cannot_run_is_an_error_envelope_per_problem(
    embedded: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ADMIN_PORT", "http")
    monkeypatch.setenv("ADMIN_DEMO_SEED", "maybe")
    status, envelope = _json_failure(["--json", "tenants", "list"], capsys)
    assert status == 78
    assert {(e["code"], e["field"]) for e in envelope["errors"]} == {
        ("CONFIGURATION_INVALID", "ADMIN_PORT"),
        ("CONFIGURATION_INVALID", "ADMIN_DEMO_SEED"),
    }


@pytest.mark.parametrize("command", [["tenants", "list"], ["config", "check"]])
def test_a_configuration_with_several_problems_says_its_code_as_every_failure_does(
    command: list[str],
    embedded: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without `--json`, several problems are a list under one line that carries the error
    code, as the one line of any other failure does: a script or an operator grepping
    `error CONFIGURATION_INVALID` finds it whatever the count."""
    monkeypatch.setenv("ADMIN_PORT", "http")
    monkeypatch.setenv("ADMIN_DEMO_SEED", "maybe")
    capsys.readouterr()
    assert main(command) == 78
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "error CONFIGURATION_INVALID: the configuration cannot run:"
    assert {line.split(":")[0] for line in lines[1:]} == {
        "  - ADMIN_PORT",
        "  - ADMIN_DEMO_SEED",
    }


def test_serve_on_a_port_it_cannot_take_says_its_code_over_the_reasons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ADMIN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 78
    first = capsys.readouterr().err.splitlines()[0]
    assert first == f"error CONFIGURATION_INVALID: cannot listen on 127.0.0.1:{port}:"


def test_with_json_a_database_without_a_schema_is_an_error_envelope(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    monkeypatch.setenv("ADMIN_DATABASE_URL", f"sqlite+aiosqlite:///{empty}")
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "keys" / "signing.pem"))
    status, envelope = _json_failure(["--json", "tenants", "list"], capsys)
    assert status == 78
    (error,) = envelope["errors"]
    assert error["code"] == "DATABASE_SCHEMA_NOT_CURRENT"
    assert "adminctl db upgrade" in error["message"]


@pytest.mark.parametrize(
    "words",
    [
        ["graph", "rebuild"],
        ["graph", "status"],
        ["tenants", "list"],
        ["users", "list", "apollo-chennai"],
        ["audit", "verify"],
        ["audit", "checkpoint"],
        ["doctors", "list"],
        ["sessions", "list"],
        ["reconcile"],
    ],
    ids=" ".join,
)
def test_a_command_on_a_database_without_a_schema_says_so_without_a_traceback(
    words: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A rebuild whose failure could not be audited (the database it would go to has no
    schema either) logged the whole chain of errors before the one-line answer."""
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    monkeypatch.setenv("ADMIN_DATABASE_URL", f"sqlite+aiosqlite:///{empty}")
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "keys" / "signing.pem"))
    assert main(words) == 78
    assert "the database has no schema yet" in capsys.readouterr().err
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []


def test_with_json_a_database_a_later_release_migrated_is_an_error_envelope(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(embedded / "admin.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099'")
    status, envelope = _json_failure(["--json", "db", "upgrade"], capsys)
    assert status == 78
    assert envelope["errors"][0]["code"] == "DATABASE_SCHEMA_NOT_CURRENT"


def test_serve_on_a_database_a_later_release_migrated_names_the_schema_code(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`serve` called it CONFIGURATION_INVALID, where `db upgrade` and every other command
    call the same schema DATABASE_SCHEMA_NOT_CURRENT."""
    with sqlite3.connect(embedded / "admin.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099'")
    capsys.readouterr()
    assert main(["serve", "--port", str(free_port())]) == 78
    err = capsys.readouterr().err
    assert "error DATABASE_SCHEMA_NOT_CURRENT: the database schema is not this release's" in err
    assert "which a later release made" in err


def test_with_json_a_signing_key_that_cannot_be_read_is_an_error_envelope(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = embedded / "keys" / "signing.pem"
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text("not a key\n")
    status, envelope = _json_failure(["--json", "token"], capsys)
    assert status == 78
    (error,) = envelope["errors"]
    assert (error["code"], error["field"]) == ("CONFIGURATION_INVALID", "ADMIN_LOCAL_KEY_PATH")


@pytest.mark.parametrize("which", ["file", "public_key"])
def test_with_json_a_file_verify_export_cannot_read_is_an_error_envelope(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], which: str
) -> None:
    missing, directory = tmp_path / "missing.jsonl", tmp_path
    key = tmp_path / "key.pem"
    Ed25519CheckpointSigner(key, create=True)
    words = ["--json", "audit", "verify-export"]
    if which == "file":
        words += [str(missing), "--public-key", str(key)]
    else:
        words += [str(missing), "--public-key", str(directory)]
    status, envelope = _json_failure(words, capsys)
    assert status == 2
    (error,) = envelope["errors"]
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", which)


@pytest.mark.parametrize("command", [["db", "upgrade"], ["tenants", "list"]])
@pytest.mark.parametrize("kind", ["directory", "text file"])
def test_a_sqlite_path_that_is_no_database_is_a_configuration_problem_not_an_outage(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    kind: str,
) -> None:
    """Trying again shortly, which DATABASE_UNAVAILABLE advises, cannot help: the setting
    names something that is not a SQLite database, and is left as it was."""
    path = tmp_path / "admin.db"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_text("host=db.internal\n")
    monkeypatch.setenv("ADMIN_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "keys" / "signing.pem"))
    assert main(command) == 78
    err = capsys.readouterr().err
    assert f"ADMIN_DATABASE_URL: {path} is not a SQLite database" in err
    if kind == "text file":
        assert path.read_text() == "host=db.internal\n"


@pytest.mark.parametrize(
    ("words", "field"),
    [
        (["audit", "export", "--no-progress", "-o", "a\x00b"], "output"),
        (["audit", "public-key", "-o", "a\x00b"], "output"),
        (["audit", "verify-export", "a\x00b", "--public-key", "k.pem"], "file"),
        (["audit", "verify-export", "a.jsonl", "--public-key", "a\x00b"], "public_key"),
        (["matching", "check", "--dir", "a\x00b"], "dir"),
        (["serve", "--host", "a\x00b", "--port", "1"], "host"),
        (["serve", "--host", "not a host", "--port", "1"], "host"),
    ],
)
def test_a_path_or_host_no_system_call_takes_is_bad_input_named_by_its_argument(
    embedded: Path, capsys: pytest.CaptureFixture[str], words: list[str], field: str
) -> None:
    capsys.readouterr()
    assert main([*words, "--json"] if words[0] != "serve" else ["--json", *words]) == 2
    (error,) = json.loads(capsys.readouterr().err)["errors"]
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", field)


@pytest.mark.parametrize("value", ["²", "٣", "１０"])
def test_a_number_in_other_digits_than_ascii_is_refused_as_the_api_refuses_it(
    embedded: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    capsys.readouterr()
    assert main(["--json", "tenants", "list", "--limit", value]) == 2
    (error,) = json.loads(capsys.readouterr().err)["errors"]
    assert error["field"] == "limit"
    assert error["message"] == "must be a whole number from 1 to 200"


def test_every_command_s_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """An operator reading `adminctl audit verify --help` learns what its exit status means
    without going back to `adminctl --help`."""
    missing: list[str] = []

    def walk(parser: argparse.ArgumentParser, words: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*words, name])
        with pytest.raises(SystemExit):
            main([*words, "--help"])
        if "2 bad input" not in capsys.readouterr().out:
            missing.append(" ".join(words))

    walk(build_parser(), [])
    assert missing == []


@pytest.mark.parametrize("as_json", [False, True])
def test_a_command_interrupted_with_ctrl_c_says_so_and_exits_130_without_a_traceback(
    tmp_path: Path, as_json: bool
) -> None:
    """`verify-export` reading a pipe nobody has finished writing waits; the operator's Ctrl-C
    (SIGINT) stops it with the shell's status for it, not Python's traceback."""
    done = stopped(tmp_path, signal.SIGINT, as_json=as_json)
    out, err = done.out, done.err
    assert done.status == 130
    assert out == ""
    assert "Traceback" not in err
    if as_json:
        assert json.loads(err)["errors"][0]["code"] == "INTERRUPTED"
    else:
        assert "interrupted" in err


@pytest.mark.parametrize(
    "words", [["token"], ["--json", "matching", "check"], ["matching", "check"]]
)
def test_output_to_a_reader_that_went_away_ends_quietly_not_with_a_traceback(
    tmp_path: Path, words: list[str]
) -> None:
    """`adminctl ... | head -1`: once the reader has what it wants, the command stops with the
    status of a process the pipe stopped (141, as `yes | head` gives), and says nothing."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before anything is written
    env = {
        "ADMIN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
        "ADMIN_LOCAL_KEY_PATH": str(tmp_path / "keys" / "signing.pem"),
    }
    try:
        done = subprocess.run(
            [str(ADMINCTL), *words],
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141
    assert done.stderr == ""


def test_a_threshold_given_twice_is_refused_not_the_last_one_taken(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The API refuses a body naming a threshold twice; which of the two the operator meant
    is theirs to say, and nothing is changed meanwhile."""
    assert main(["demo", "seed"]) == 0
    words = ["triage", "set", "apollo-chennai", "triage_risk_threshold=0.5"]
    capsys.readouterr()
    assert main(["--json", *words, "triage_risk_threshold=0.6", "--reason", "x"]) == 2
    (error,) = json.loads(capsys.readouterr().err)["errors"]
    assert (error["field"], error["message"]) == (
        "values.triage_risk_threshold",
        "given more than once",
    )
    assert main(["--json", "triage", "show", "apollo-chennai"]) == 0
    (risk,) = [
        t
        for t in json.loads(capsys.readouterr().out)["thresholds"]
        if t["name"] == "triage_risk_threshold"
    ]
    assert risk["overridden"] is False


@pytest.mark.parametrize(
    "words",
    [
        ["--set", "timezone=UTC", "--set", "timezone=Asia/Kolkata"],
        ["--clear", "timezone", "--clear", "timezone"],
    ],
)
def test_a_tenant_setting_given_twice_is_refused_as_given_twice(
    embedded: Path, capsys: pytest.CaptureFixture[str], words: list[str]
) -> None:
    assert main(["demo", "seed"]) == 0
    capsys.readouterr()
    assert main(["--json", "tenants", "update", "apollo-chennai", *words]) == 2
    (error,) = json.loads(capsys.readouterr().err)["errors"]
    assert (error["field"], error["message"]) == ("settings.timezone", "given more than once")


@pytest.mark.parametrize("with_checkpoints", [False, True])
def test_an_export_of_a_tenant_that_does_not_exist_is_not_found_and_writes_no_file(
    embedded: Path, capsys: pytest.CaptureFixture[str], with_checkpoints: bool
) -> None:
    """As `audit query` answers: a mistyped tenant id is TENANT_NOT_FOUND (exit 4), not an
    empty export that looks like a tenant with no history."""
    assert main(["demo", "seed"]) == 0
    target = embedded / "export.jsonl"
    capsys.readouterr()
    words = ["--json", "audit", "export", "--no-progress", "--tenant-id", "apollo-chenai"]
    words += ["--with-checkpoints"] if with_checkpoints else []
    assert main([*words, "-o", str(target)]) == 4
    assert json.loads(capsys.readouterr().err)["errors"][0]["code"] == "TENANT_NOT_FOUND"
    assert not target.exists()


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_output_to_a_pipe_is_utf_8_whatever_the_locale_says(
    embedded: Path, capsys: pytest.CaptureFixture[str], encoding: str
) -> None:
    """JSON and exports are UTF-8 (as `-o` files are): a name no legacy encoding holds
    reaches the script reading the pipe whole, instead of a UnicodeEncodeError traceback."""
    assert main(["demo", "seed"]) == 0
    assert main(["tenants", "update", "acibadem-istanbul", "--name", "Acıbadem Maslak"]) == 0
    capsys.readouterr()
    env = {
        "ADMIN_DATABASE_URL": os.environ["ADMIN_DATABASE_URL"],
        "ADMIN_LOCAL_KEY_PATH": os.environ["ADMIN_LOCAL_KEY_PATH"],
        "PYTHONIOENCODING": encoding,
    }
    for words in (["--json", "tenants", "list"], ["audit", "export", "--no-progress"]):
        done = subprocess.run(
            [str(ADMINCTL), *words], env=env, capture_output=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        assert "Acıbadem Maslak" in done.stdout.decode("utf-8")


@pytest.mark.parametrize("with_checkpoints", [False, True])
def test_an_export_to_a_file_with_json_says_what_it_wrote_as_json(
    embedded: Path, capsys: pytest.CaptureFixture[str], with_checkpoints: bool
) -> None:
    """`--json` is offered by `audit export`: with `-o`, stdout is free, and the summary a
    script needs (how many entries went where) is printed there as JSON."""
    assert main(["demo", "seed"]) == 0
    target = embedded / "export.jsonl"
    capsys.readouterr()
    words = ["--json", "audit", "export", "--no-progress", "-o", str(target)]
    assert main([*words, *(["--with-checkpoints"] if with_checkpoints else [])]) == 0
    summary = json.loads(capsys.readouterr().out)
    lines = target.read_text().splitlines()
    entries = [line for line in lines if not line.startswith('{"checkpoint":')]
    assert summary["entries"] == len(entries) > 0
    assert summary["output"] == str(target)
    assert summary["format"] == "jsonl"
    if with_checkpoints:
        assert summary["checkpoints"] == len(lines) - len(entries)


def test_a_mistyped_setting_in_the_embedded_mode_is_pointed_out_not_silently_ignored(
    embedded: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ADMIN_DATABSE_URL=...` leaves the command on the default database: the operator is
    told, on stderr, and the command still runs (production refuses it outright)."""
    monkeypatch.setenv("ADMIN_DATABSE_URL", "postgresql+asyncpg://u:pw@db/admin")
    capsys.readouterr()
    assert main(["--json", "tenants", "list"]) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)
    assert "ADMIN_DATABSE_URL: not a setting of Admin Core; it is ignored" in captured.err
    assert "pw@" not in captured.err


def test_an_unexpected_error_is_internal_error_without_the_stored_value_unless_asked(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A row no release writes (edited by hand) is a bug to report, not input: exit 1 with
    INTERNAL_ERROR, as the API answers it, naming no stored value; `--traceback` shows where."""
    assert main(["demo", "seed"]) == 0
    with sqlite3.connect(embedded / "admin.db") as connection:
        connection.execute(
            "UPDATE tenants SET created_at = 'garbled-x1' WHERE id = 'apollo-chennai'"
        )
    capsys.readouterr()
    assert main(["--json", "tenants", "list"]) == 1
    captured = capsys.readouterr()
    (error,) = json.loads(captured.err)["errors"]
    assert error["code"] == "INTERNAL_ERROR"
    assert "--traceback" in error["message"]
    assert "garbled-x1" not in captured.err
    assert main(["tenants", "list"]) == 1
    assert "INTERNAL_ERROR" in capsys.readouterr().err
    with pytest.raises(ValueError, match="garbled-x1"):
        main(["--traceback", "tenants", "list"])
