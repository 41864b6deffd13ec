"""The embedded mode on PostgreSQL keeps each database's audit checkpoints apart: a developer
who points it at a second database must not find the first one's checkpoints taken for
evidence against the second ("a different checkpoint 1 ... a security incident")."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from entrypoints.cli.main import main
from tests.support.services import _create_database, _drop_database, in_thread, service_url

pytestmark = pytest.mark.postgres


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    """The URLs of two empty PostgreSQL databases on one server."""
    super_url, owner_url = service_url("POSTGRES_SUPER"), service_url("POSTGRES_OWNER")
    owner = urlsplit(owner_url)
    names = [f"sink_{secrets.token_hex(3)}" for _ in range(2)]
    for name in names:
        in_thread(_create_database(super_url, name, owner.path.lstrip("/")))
    try:
        first, second = (urlunsplit(owner._replace(path=f"/{name}")) for name in names)
        yield first, second
    finally:
        for name in names:
            in_thread(_drop_database(super_url, name))


def test_each_postgresql_database_keeps_its_own_checkpoints_in_the_embedded_mode(
    databases: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("ADMIN_")]:
        if not name.startswith("ADMIN_TEST_"):
            monkeypatch.delenv(name)
    sinks = []
    for url in databases:
        monkeypatch.setenv("ADMIN_DATABASE_URL", url)
        for words in (["db", "upgrade"], ["demo", "seed"], ["audit", "checkpoint"]):
            assert main(words) == 0, capsys.readouterr()
        capsys.readouterr()
        assert main(["--json", "audit", "verify", "--tenant-id", "apollo-chennai"]) == 0
        verified = json.loads(capsys.readouterr().out)
        assert (verified["ok"], verified["checkpoint_seq"]) == (True, 1), verified
        assert main(["--json", "config", "check"]) == 0
        adapters = json.loads(capsys.readouterr().out)["adapters"]
        sinks.append(Path(adapters["CheckpointSink"]["why"].split(";")[0]))
    first, second = sinks
    assert first != second
    for sink in sinks:
        assert [p.name for p in (tmp_path / sink).iterdir()] == ["checkpoint-000000000001.json"]
