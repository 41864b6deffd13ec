"""Several `adminctl` commands started at the same moment, as replicas or an operator beside
a server start them. Each child (`python -m tests.support.at_once <adminctl args>`) imports
everything first, says `ready`, and runs its command when its stdin gives the word: the
commands then start together, not a second of imports apart."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
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


@dataclass(frozen=True)
class Running:
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()


@contextmanager
def started_at_once(
    commands: Sequence[Sequence[str]], *, env: Mapping[str, str], cwd: Path
) -> Iterator[list[Running]]:
    """`run_at_once` for commands that keep running (servers): their output goes to files in
    `cwd`; each is stopped (SIGTERM, then SIGKILL) on the way out, whatever happened."""
    with ExitStack() as files:
        running = []
        for n, command in enumerate(commands):
            out, err = cwd / f"at_once_{n}.out", cwd / f"at_once_{n}.err"
            running.append(
                Running(
                    subprocess.Popen(
                        [sys.executable, "-m", "tests.support.at_once", *command],
                        env={**env, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"},
                        cwd=cwd,
                        stdin=subprocess.PIPE,
                        stdout=files.enter_context(out.open("wb")),
                        stderr=files.enter_context(err.open("wb")),
                    ),
                    out,
                    err,
                )
            )
        try:
            deadline = time.monotonic() + TIMEOUT_S
            for child in running:
                while not child.stdout.read_text().startswith("ready\n"):
                    assert child.process.poll() is None, child.output()
                    assert time.monotonic() < deadline, child.output()
                    time.sleep(0.05)
            for child in running:
                assert child.process.stdin is not None
                child.process.stdin.write(b"go\n")
                child.process.stdin.flush()
            yield running
        finally:
            for child in running:
                if child.process.poll() is None:
                    child.process.terminate()
            for child in running:
                try:
                    child.process.wait(timeout=TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    child.process.kill()
                    child.process.wait()


def _main(args: list[str]) -> int:
    from entrypoints.cli.main import main

    print("ready", flush=True)
    sys.stdin.readline()
    return main(args)


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
