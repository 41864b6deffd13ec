"""Several `adminctl` commands started at the same moment, as replicas or an operator beside
a server start them. Each child (`python -m tests.support.at_once <adminctl args>`) imports
everything first, says `ready`, and runs its command when its stdin gives the word: the
commands then start together, not a second of imports apart."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: How long a command may take before the test fails as hung.
TIMEOUT_S = 120


@dataclass(frozen=True)
class Finished:
    code: int
    out: str
    err: str


def run_at_once(
    commands: Sequence[Sequence[str]], *, env: Mapping[str, str], cwd: Path
) -> list[Finished]:
    """Start every command, wait until each is ready, let them all go, and wait for them."""
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.at_once", *command],
            env={**env, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"},
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline() == "ready\n", child.communicate(timeout=TIMEOUT_S)
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        finished = []
        for child in children:
            out, err = child.communicate(timeout=TIMEOUT_S)
            finished.append(Finished(child.returncode, out, err))
        return finished
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


def _main(args: list[str]) -> int:
    from entrypoints.cli.main import main

    print("ready", flush=True)
    sys.stdin.readline()
    return main(args)


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
