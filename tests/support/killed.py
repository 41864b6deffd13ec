"""Running a `tests.support.killed_*` module in a child process that must die by SIGKILL
part way through an external side effect."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def run_until_killed(module: str, *args: str, env: Mapping[str, str] = {}) -> None:
    """Run `python -m <module> <args>` with this environment plus `env`; assert it was
    killed (SIGKILL), not that it finished or failed."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        env={**os.environ, **env, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(child.communicate(), timeout=60)
    assert child.returncode == -9, (out, err)
