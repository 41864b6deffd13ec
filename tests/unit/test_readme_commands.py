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


def curl_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("curl ")]


def welcome_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """What `make run` prints once the server is up (`adminctl serve`)."""
    from entrypoints.cli.commands.system import _print_welcome
    from entrypoints.container import build_container
    from entrypoints.settings import Settings

    container = build_container(
        Settings(database_url="memory://", local_key_path=tmp_path / "key.pem")
    )
    capsys.readouterr()
    _print_welcome(container, "http://127.0.0.1:8000")
    return capsys.readouterr().out


async def test_the_curl_lines_of_the_readme_and_of_make_run_answer_as_they_say(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each `curl` line, with the token `adminctl token --role org:admin` mints as
    `$ADMIN_TOKEN`, answers what its comment says (`# 401 AUTH_HEADER_MISSING`), or
    succeeds when it says nothing."""
    from urllib.parse import urlsplit

    from tests.support.http import api

    lines = curl_lines(README.read_text()) + curl_lines(welcome_text(tmp_path, capsys))
    assert len(lines) >= 5
    async with api(tmp_path) as http:
        token = http.token("org:admin")
        for line in lines:
            command, _, said = line.partition("#")
            words = shlex.split(command.replace("$ADMIN_TOKEN", token))
            headers = dict(
                words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H"
            )
            [target] = [w for w in words if w.startswith("http")]
            url = urlsplit(target)
            assert url.netloc == "127.0.0.1:8000", line
            answer = await http.client.get(f"{url.path}?{url.query}", headers=headers)
            expected = said.split()[:2] or ["200"]
            got = [str(answer.status_code)]
            if answer.status_code >= 400:
                got.append(answer.json()["errors"][0]["code"])
            assert got == expected, line
