"""Every `adminctl` line of the README's CLI section runs as written on the embedded demo
data: a documented command that fails is a bug, whatever the cause."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from entrypoints.cli.main import main

README = Path(__file__).resolve().parents[2] / "README.md"


def cli_lines() -> list[str]:
    section = README.read_text().split("## The CLI", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None
    lines = [line for line in block[1].splitlines() if line.startswith(".venv/bin/adminctl")]
    assert len(lines) >= 10
    return lines


def test_the_readme_commands_run_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("ADMIN_MODE", "ADMIN_NEO4J_URL", "ADMIN_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # the defaults: var/admin_core.db, var/keys/ under the cwd
    for line in cli_lines():
        words = shlex.split(line.split("#", 1)[0])[1:]
        status = main(words)
        output = capsys.readouterr()
        assert status == 0, f"{line}\n{output.out}\n{output.err}"
    assert (tmp_path / "audit.csv").stat().st_size > 0
