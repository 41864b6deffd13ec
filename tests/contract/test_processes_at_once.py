"""Processes started at the same moment on one embedded database: replicas that migrate as
they start, an operator's `adminctl` beside a server. Each is a real process; they are let
go together once their imports are done."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from tests.support.at_once import run_at_once

#: Enough processes that, without a lock, two of them meet in the same migration.
UPGRADES = 4


def _env(tmp_path: Path, db: Path) -> dict[str, str]:
    settings = {k: v for k, v in os.environ.items() if not k.startswith("ADMIN_")}
    return settings | {
        "ADMIN_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "ADMIN_LOCAL_KEY_PATH": str(tmp_path / "keys" / "signing.pem"),
    }


def test_upgrades_started_at_once_on_a_fresh_sqlite_file_take_turns(tmp_path: Path) -> None:
    db = tmp_path / "admin.sqlite"
    done = run_at_once(
        [["--json", "db", "upgrade"]] * UPGRADES, env=_env(tmp_path, db), cwd=tmp_path
    )
    assert [d.code for d in done] == [0] * UPGRADES, [d.err for d in done]
    reports = sorted(d.out for d in done)
    upgraded = [r for r in reports if '"upgraded":true' in r.replace(" ", "")]
    assert len(upgraded) == 1, reports
    assert '"from":null' in upgraded[0].replace(" ", "")
    with sqlite3.connect(db) as connection:
        [(revision,)] = connection.execute("select version_num from alembic_version").fetchall()
    assert all(f'"to":"{revision}"' in r.replace(" ", "") for r in reports), reports
