"""Every file or directory an `adminctl` command reads or writes, refused by the system or
holding the wrong thing: a path that does not exist, a directory for a file, a path under a
regular file, a full or read-only disk, contents that are not what the command needs.

Each ends with the exit status of the table in `adminctl --help` (2 a file argument, 78 a
file a setting names, 74 a disk that could not keep what was written), one line on stderr
that names the path (with `--json` the error envelope, its `field` the argument or the
variable), nothing on stdout, and nothing left behind: no half-written file, no temporary
file, no empty database."""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from adapters.ed25519.keys import Ed25519CheckpointSigner
from adapters.localauth.issuer import LocalTokenIssuer
from entrypoints.cli.main import main
from tests.support.adminctl import ADMINCTL

#: A regular file every Linux machine has: a path under it is refused with ENOTDIR.
A_FILE = "/etc/hostname"


@dataclass(frozen=True)
class Case:
    """`words` run in a seeded embedded environment (`{tmp}` is a fresh directory, `{pub}`
    the public checkpoint key, `{rsa}` an RSA private key, `{ed}` an Ed25519 one, `{export}`
    an export with checkpoints), with `env` added; it must exit `status` with `code`,
    naming `names` (`field` in the envelope)."""

    words: list[str]
    status: int
    code: str
    names: str
    field: str | None
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    #: What is made in `{tmp}` first: a directory `d`, a text file `text`, the files above.
    disk: str = ""  # "", "full" (a tmpfs with no room) or "read-only" (a read-only tmpfs)
    limit: int | None = None  # RLIMIT_FSIZE of the process: a file-size limit
    #: The command writes to the database before it meets the file (a checkpoint is stored,
    #: then published): it runs on a copy of it, in `{tmp}/own`, which is not compared.
    own_database: bool = False
    #: `--json` is refused before anything runs (`serve`, which prints no JSON of its own).
    with_json: bool = True


OUT = ["audit", "export", "--no-progress", "-o"]
KEY = ["audit", "public-key", "-o"]
CLI_KEY = "ADMIN_LOCAL_KEY_PATH"
CP_KEY = "ADMIN_AUDIT_CHECKPOINT_KEY_FILE"
SINK = "ADMIN_AUDIT_CHECKPOINT_DIR"
DB = "ADMIN_DATABASE_URL"


def sqlite(path: str) -> str:
    return f"sqlite+aiosqlite:///{path}"


# fmt: off
CASES: dict[str, Case] = {
    # -- files a command writes (`-o`): the argument is to blame (2), or the disk (74)
    "export -o missing directory": Case(
        [*OUT, "{tmp}/none/x.jsonl"], 2, "VALIDATION_ERROR", "{tmp}/none/x.jsonl", "output"
    ),
    "export -o a directory": Case([*OUT, "{tmp}/d"], 2, "VALIDATION_ERROR", "{tmp}/d", "output"),
    "export -o under a file": Case(
        [*OUT, f"{A_FILE}/x"], 2, "VALIDATION_ERROR", f"{A_FILE}/x", "output"
    ),
    "export -o /dev/full": Case([*OUT, "/dev/full"], 74, "IO_ERROR", "/dev/full", "output"),
    "export -o a full disk": Case(
        [*OUT, "{tmp}/disk/x.jsonl"], 74, "IO_ERROR", "{tmp}/disk/x.jsonl", "output", disk="full"
    ),
    "export -o a read-only disk": Case(
        [*OUT, "{tmp}/disk/x.jsonl"],
        74,
        "IO_ERROR",
        "{tmp}/disk/x.jsonl",
        "output",
        disk="read-only",
    ),
    "public-key -o a directory": Case(
        [*KEY, "{tmp}/d"], 2, "VALIDATION_ERROR", "{tmp}/d", "output"
    ),
    "public-key -o under a file": Case(
        [*KEY, f"{A_FILE}/k.pem"], 2, "VALIDATION_ERROR", f"{A_FILE}/k.pem", "output"
    ),
    "public-key -o /dev/full": Case([*KEY, "/dev/full"], 74, "IO_ERROR", "/dev/full", "output"),
    "public-key -o a full disk": Case(
        [*KEY, "{tmp}/disk/k.pem"], 74, "IO_ERROR", "{tmp}/disk/k.pem", "output", disk="full"
    ),
    "public-key -o a file-size limit": Case(
        [*KEY, "{tmp}/k.pem"], 74, "IO_ERROR", "{tmp}/k.pem", "output", limit=64
    ),
    # -- the local signing key (`token`): made on first use
    "token key under a file": Case(
        ["token"], 78, "CONFIGURATION_INVALID", f"{A_FILE}/k.pem", CLI_KEY,
        env={CLI_KEY: f"{A_FILE}/k.pem"},
    ),
    "token key a directory": Case(
        ["token"], 78, "CONFIGURATION_INVALID", "{tmp}/d", CLI_KEY, env={CLI_KEY: "{tmp}/d"}
    ),
    "token key not a key": Case(
        ["token"], 78, "CONFIGURATION_INVALID", "{tmp}/text", CLI_KEY, env={CLI_KEY: "{tmp}/text"}
    ),
    "token key an Ed25519 key": Case(
        ["token"], 78, "CONFIGURATION_INVALID", "{ed}", CLI_KEY, env={CLI_KEY: "{ed}"}
    ),
    "token key on a full disk": Case(
        ["token"], 74, "IO_ERROR", "{tmp}/disk/k.pem", CLI_KEY,
        env={CLI_KEY: "{tmp}/disk/k.pem"}, disk="full",
    ),
    "token key on a read-only disk": Case(
        ["token"], 74, "IO_ERROR", "{tmp}/disk/k.pem", CLI_KEY,
        env={CLI_KEY: "{tmp}/disk/k.pem"}, disk="read-only",
    ),
    "token key over a file-size limit": Case(
        ["token"], 74, "IO_ERROR", "{tmp}/k.pem", CLI_KEY, env={CLI_KEY: "{tmp}/k.pem"}, limit=64
    ),
    # -- the audit checkpoint key (`audit checkpoint`, `public-key`, `verify`): made on first use
    "checkpoint key under a file": Case(
        ["audit", "checkpoint"], 78, "CONFIGURATION_INVALID", f"{A_FILE}/k.pem", CP_KEY,
        env={CP_KEY: f"{A_FILE}/k.pem"},
    ),
    "checkpoint key a directory": Case(
        ["audit", "verify"], 78, "CONFIGURATION_INVALID", "{tmp}/d", CP_KEY,
        env={CP_KEY: "{tmp}/d"},
    ),
    "checkpoint key not a key": Case(
        ["audit", "public-key"], 78, "CONFIGURATION_INVALID", "{tmp}/text", CP_KEY,
        env={CP_KEY: "{tmp}/text"},
    ),
    "checkpoint key an RSA key": Case(
        ["audit", "checkpoint"], 78, "CONFIGURATION_INVALID", "{rsa}", CP_KEY,
        env={CP_KEY: "{rsa}"},
    ),
    "checkpoint key on a full disk": Case(
        ["audit", "checkpoint"], 74, "IO_ERROR", "{tmp}/disk/k.pem", CP_KEY,
        env={CP_KEY: "{tmp}/disk/k.pem"}, disk="full",
    ),
    "checkpoint key on a read-only disk": Case(
        ["audit", "public-key"], 74, "IO_ERROR", "{tmp}/disk/k.pem", CP_KEY,
        env={CP_KEY: "{tmp}/disk/k.pem"}, disk="read-only",
    ),
    "checkpoint key over a file-size limit": Case(
        ["audit", "public-key"], 74, "IO_ERROR", "{tmp}/k.pem", CP_KEY,
        env={CP_KEY: "{tmp}/k.pem"}, limit=32,
    ),
    # -- the checkpoint sink
    "checkpoint sink under a file": Case(
        ["audit", "checkpoint"], 78, "CONFIGURATION_INVALID", A_FILE, SINK,
        env={SINK: f"{A_FILE}/sink"},
    ),
    "checkpoint sink on a full disk": Case(
        ["audit", "checkpoint"], 74, "IO_ERROR", "{tmp}/disk", SINK,
        env={SINK: "{tmp}/disk"}, disk="full", own_database=True,
    ),
    "trusted key missing": Case(
        ["audit", "verify"], 78, "CONFIGURATION_INVALID", "{tmp}/none.pem",
        "ADMIN_AUDIT_CHECKPOINT_TRUSTED_KEYS",
        env={"ADMIN_AUDIT_CHECKPOINT_TRUSTED_KEYS": "{tmp}/none.pem"},
    ),
    "trusted key an RSA key": Case(
        ["audit", "verify"], 78, "CONFIGURATION_INVALID", "{rsa}",
        "ADMIN_AUDIT_CHECKPOINT_TRUSTED_KEYS",
        env={"ADMIN_AUDIT_CHECKPOINT_TRUSTED_KEYS": "{rsa}"},
    ),
    # -- audit verify-export: its file arguments are bad input (2)
    "verify-export file missing": Case(
        ["audit", "verify-export", "{tmp}/none.jsonl", "--public-key", "{pub}"],
        2, "VALIDATION_ERROR", "{tmp}/none.jsonl", "file",
    ),
    "verify-export file a directory": Case(
        ["audit", "verify-export", "{tmp}/d", "--public-key", "{pub}"],
        2, "VALIDATION_ERROR", "{tmp}/d", "file",
    ),
    "verify-export file under a file": Case(
        ["audit", "verify-export", f"{A_FILE}/x", "--public-key", "{pub}"],
        2, "VALIDATION_ERROR", f"{A_FILE}/x", "file",
    ),
    "verify-export key missing": Case(
        ["audit", "verify-export", "{export}", "--public-key", "{tmp}/none.pem"],
        2, "VALIDATION_ERROR", "{tmp}/none.pem", "public_key",
    ),
    "verify-export key not a key": Case(
        ["audit", "verify-export", "{export}", "--public-key", "{tmp}/text"],
        2, "VALIDATION_ERROR", "{tmp}/text", "public_key",
    ),
    "verify-export key the export": Case(
        ["audit", "verify-export", "{export}", "--public-key", "{export}"],
        2, "VALIDATION_ERROR", "{export}", "public_key",
    ),
    "verify-export key a key set nested deeper than a parser goes": Case(
        ["audit", "verify-export", "{export}", "--public-key", "{tmp}/deep.json"],
        2, "VALIDATION_ERROR", "{tmp}/deep.json", "public_key",
    ),
    "verify-export key a key set whose keys are no list": Case(
        ["audit", "verify-export", "{export}", "--public-key", "{tmp}/keys5.json"],
        2, "VALIDATION_ERROR", "{tmp}/keys5.json", "public_key",
    ),
    "verify-export key an RSA key": Case(
        ["audit", "verify-export", "{export}", "--public-key", "{rsa}"],
        2, "VALIDATION_ERROR", "{rsa}", "public_key",
    ),
    # -- files settings name, read by every command (`config check` lists them too)
    "role policy missing": Case(
        ["tenants", "list"], 78, "CONFIGURATION_INVALID", "{tmp}/none.json",
        "ADMIN_ROLE_POLICY_FILE", env={"ADMIN_ROLE_POLICY_FILE": "{tmp}/none.json"},
    ),
    "role policy not JSON": Case(
        ["tenants", "list"], 78, "CONFIGURATION_INVALID", "{tmp}/text",
        "ADMIN_ROLE_POLICY_FILE", env={"ADMIN_ROLE_POLICY_FILE": "{tmp}/text"},
    ),
    "role policy nested deeper than a parser goes": Case(
        ["tenants", "list"], 78, "CONFIGURATION_INVALID", "{tmp}/deep.json",
        "ADMIN_ROLE_POLICY_FILE", env={"ADMIN_ROLE_POLICY_FILE": "{tmp}/deep.json"},
    ),
    "role policy another JSON document": Case(
        ["tenants", "list"], 78, "CONFIGURATION_INVALID", "{tmp}/keys.json",
        "ADMIN_ROLE_POLICY_FILE", env={"ADMIN_ROLE_POLICY_FILE": "{tmp}/keys.json"},
    ),
    "flag catalogue missing": Case(
        ["flags", "effective", "apollo-chennai"], 78, "CONFIGURATION_INVALID", "{tmp}/none.yaml",
        "ADMIN_FLAG_CATALOGUE_FILE", env={"ADMIN_FLAG_CATALOGUE_FILE": "{tmp}/none.yaml"},
    ),
    "flag catalogue a directory": Case(
        ["flags", "effective", "apollo-chennai"], 78, "CONFIGURATION_INVALID", "{tmp}/d",
        "ADMIN_FLAG_CATALOGUE_FILE", env={"ADMIN_FLAG_CATALOGUE_FILE": "{tmp}/d"},
    ),
    # -- matching check --dir: a directory argument
    "matching check --dir missing": Case(
        ["matching", "check", "--dir", "{tmp}/none"], 2, "VALIDATION_ERROR", "{tmp}/none", "dir"
    ),
    "matching check --dir a file": Case(
        ["matching", "check", "--dir", "{tmp}/text"], 2, "VALIDATION_ERROR", "{tmp}/text", "dir"
    ),
    # -- the SQLite database `db upgrade` (and the embedded `serve`) makes
    "database under a file": Case(
        ["db", "upgrade"], 78, "CONFIGURATION_INVALID", f"{A_FILE}/x/admin.db", DB,
        env={DB: sqlite(f"{A_FILE}/x/admin.db")},
    ),
    "database a directory": Case(
        ["db", "upgrade"], 78, "CONFIGURATION_INVALID", "{tmp}/d", DB,
        env={DB: sqlite("{tmp}/d")},
    ),
    "database not SQLite": Case(
        ["demo", "seed"], 78, "CONFIGURATION_INVALID", "{tmp}/text", DB,
        env={DB: sqlite("{tmp}/text")},
    ),
    "database on a full disk": Case(
        ["db", "upgrade"], 74, "IO_ERROR", "{tmp}/disk/admin.db", DB,
        env={DB: sqlite("{tmp}/disk/admin.db")}, disk="full",
    ),
    "database on a read-only disk": Case(
        ["db", "upgrade"], 74, "IO_ERROR", "{tmp}/disk/admin.db", DB,
        env={DB: sqlite("{tmp}/disk/admin.db")}, disk="read-only",
    ),
    # -- `serve` meets the same files before it listens (no `--json`: it prints none)
    "serve with a checkpoint key under a file": Case(
        ["serve", "--no-seed", "--port", "18151"], 78, "CONFIGURATION_INVALID",
        f"{A_FILE}/k.pem", CP_KEY, env={CP_KEY: f"{A_FILE}/k.pem"}, with_json=False,
    ),
    "serve with a database under a file": Case(
        ["serve", "--no-seed", "--port", "18152"], 78, "CONFIGURATION_INVALID",
        f"{A_FILE}/x/admin.db", DB, env={DB: sqlite(f"{A_FILE}/x/admin.db")}, with_json=False,
    ),
}
# fmt: on


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A seeded embedded database with a checkpoint, its public key and an export of it, an
    RSA and an Ed25519 private key: the files the cases point at."""
    home = tmp_path_factory.mktemp("seeded")
    env = _base_env(home)
    for words in (
        ["db", "upgrade"],
        ["demo", "seed"],
        ["audit", "checkpoint"],
        ["audit", "public-key", "-o", str(home / "public.pem")],
        ["audit", "export", "--with-checkpoints", "-o", str(home / "export.jsonl")],
    ):
        done = subprocess.run([str(ADMINCTL), *words], env=env, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr
    LocalTokenIssuer(home / "rsa.pem", issuer="http://127.0.0.1:8000")
    Ed25519CheckpointSigner(home / "ed25519.pem", create=True)
    return {
        "home": str(home),
        "pub": str(home / "public.pem"),
        "export": str(home / "export.jsonl"),
        "rsa": str(home / "rsa.pem"),
        "ed": str(home / "ed25519.pem"),
    }


def _base_env(home: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("ADMIN_")}
    return keep | {
        "ADMIN_DATABASE_URL": sqlite(str(home / "admin.db")),
        "ADMIN_LOCAL_KEY_PATH": str(home / "keys" / "signing.pem"),
    }


@cache
def _can_mount() -> bool:
    """Whether this process may mount a file system in a mount namespace of its own."""
    if shutil.which("unshare") is None:
        return False
    done = subprocess.run(
        ["unshare", "--mount", "sh", "-c", "mount -t tmpfs tmpfs /mnt"],
        capture_output=True,
        timeout=30,
    )
    return done.returncode == 0


def _command(case: Case, tmp: Path, words: list[str]) -> list[str]:
    """The process to run: adminctl, inside a mount namespace whose `{tmp}/disk` is a full or
    read-only tmpfs when the case asks for one."""
    command = [str(ADMINCTL), *words]
    if not case.disk:
        return command
    disk = tmp / "disk"
    if case.disk == "full":
        # Room for nothing: a filler takes every block of a tiny tmpfs.
        mount = (
            f"mount -t tmpfs -o size=16k tmpfs {disk} && "
            f"(head -c 65536 /dev/zero > {disk}/filler 2>/dev/null; true)"
        )
    else:
        mount = f"mount -t tmpfs -o ro tmpfs {disk}"
    # The filler is part of the disk, not of what the command left behind: hide it.
    listing = f"ls -A {disk} | grep -v '^filler$' > {tmp}/disk.after; true"
    script = f'{mount} && "$@"; status=$?; {listing}; exit $status'
    return ["unshare", "--mount", "sh", "-c", script, "sh", *command]


def _run(
    case: Case,
    tmp: Path,
    words: list[str],
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str, str]:
    """The exit status, stdout and stderr of `adminctl WORDS` under `env`: a process of its
    own where the case needs a disk or a limit of its own, else in this one (faster)."""
    if case.disk or case.limit:
        done = subprocess.run(
            _command(case, tmp, words),
            # Python's own cache of compiled modules would meet the limit as well.
            env=env | {"PYTHONDONTWRITEBYTECODE": "1"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=_limited(case.limit),
        )
        return done.returncode, done.stdout, done.stderr
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        for name in [k for k in os.environ if k.startswith("ADMIN_")]:
            patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        status = main(words)
    out, err = capsys.readouterr()
    return status, out, err


def _limited(limit: int | None) -> Callable[[], None] | None:
    """A file-size limit of `limit` bytes on the process, which then sees EFBIG, not a
    SIGXFSZ that kills it."""
    if limit is None:
        return None

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every file and directory under `root` with its bytes (None: a directory)."""
    found: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        if path.name == "disk.after" or "own" in path.relative_to(root).parts:
            continue
        found[str(path.relative_to(root))] = None if path.is_dir() else path.read_bytes()
    return found


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("name", list(CASES))
def test_a_file_the_system_refuses_or_that_holds_the_wrong_thing_is_named_and_changes_nothing(
    name: str,
    as_json: bool,
    seeded: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = CASES[name]
    if as_json and not case.with_json:
        pytest.skip("the command refuses --json before it runs")
    if case.disk and not _can_mount():
        pytest.skip("a full or read-only disk needs a mount namespace (unshare, mount)")
    (tmp_path / "d").mkdir()
    if case.disk:
        (tmp_path / "disk").mkdir()
    (tmp_path / "text").write_text("not a key, not JSON\n")
    (tmp_path / "keys.json").write_text(json.dumps({"keys": [{"kty": "OKP", "crv": "Ed25519"}]}))
    (tmp_path / "keys5.json").write_text(json.dumps({"keys": 5}))
    (tmp_path / "deep.json").write_text('{"keys":' + "[" * 100_000 + "]" * 100_000 + "}")
    values = {"tmp": str(tmp_path), **seeded}

    def filled(text: str) -> str:
        return text.format(**values)

    words = [filled(w) for w in case.words]
    env = _base_env(Path(seeded["home"])) | {k: filled(v) for k, v in case.env.items()}
    if case.own_database:
        (tmp_path / "own").mkdir()
        shutil.copy(Path(seeded["home"]) / "admin.db", tmp_path / "own" / "admin.db")
        env[DB] = sqlite(str(tmp_path / "own" / "admin.db"))
    seeded_before = _tree(Path(seeded["home"]))
    before = _tree(tmp_path)
    words = ["--json", *words] if as_json else words
    status, out, err = _run(case, tmp_path, words, env, capsys)
    named = filled(case.names)
    assert status == case.status, err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err  # one line, nothing before it
    assert "Traceback" not in err
    assert "[Errno" not in err  # the system's reason in words, not Python's
    assert "/." not in err  # never the temporary file beside the one named
    if as_json:
        (error,) = json.loads(lines[0])["errors"]
        assert (error["code"], error.get("field")) == (case.code, case.field)
        assert named in error["message"]
    else:
        where = f" ({case.field})" if case.field else ""
        assert lines[0].startswith(f"error {case.code}{where}: "), lines[0]
        assert named in lines[0]
    # Nothing left behind: no file or directory made or changed, and the seeded environment
    # (its database, keys, checkpoints) as it was.
    assert _tree(tmp_path) == before
    if case.disk:
        assert (tmp_path / "disk.after").read_text() == ""
    assert _tree(Path(seeded["home"])) == seeded_before
