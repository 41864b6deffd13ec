"""`adminctl serve` as a real process, for the tests of what a running server does: at its
sockets, in its log, when it is stopped. Each test names the settings it serves with; the
server listens on a free port of 127.0.0.1, is up once a path answers 200, and is always
stopped (SIGTERM, then SIGKILL) on the way out, whatever happened inside. A test that fails
inside shows what the server printed."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.adminctl import ADMINCTL
from tests.support.ports import free_port

#: How long a server may take to answer its first request: a guard, not a measure of speed.
START_TIMEOUT_S = 60.0
#: How long a server may take to exit once asked before it is killed.
STOP_TIMEOUT_S = 15.0
#: A free port can be taken by another process before the server binds it.
_ATTEMPTS = 3
#: How much of a server's output a failure shows: its last lines.
_SHOWN_LINES = 80


def is_setting(name: str) -> bool:
    """`ADMIN_*` variables of the application (`ADMIN_TEST_*` belong to the test tooling)."""
    return name.startswith("ADMIN_") and not name.startswith("ADMIN_TEST_")


def environment(settings: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any application setting, plus `settings`."""
    return {k: v for k, v in os.environ.items() if not is_setting(k)} | dict(settings)


def printed_token(output: str) -> str:
    """The admin token an embedded server's welcome lines print (`export ADMIN_TOKEN=...`)."""
    found = re.search(r"export ADMIN_TOKEN=(\S+)", output)
    assert found is not None, output
    return found[1]


def until_answering(process: subprocess.Popen[bytes], url: str, output: Callable[[], str]) -> None:
    """Wait until GET `url` answers 200; fail, showing `output()`, if `process` exits first
    or the start takes longer than `START_TIMEOUT_S`."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            pytest.fail(
                f"adminctl serve exited with {process.returncode}:\n{output()}", pytrace=False
            )
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(
                f"adminctl serve did not answer {url} within {START_TIMEOUT_S:g} s:\n{output()}",
                pytrace=False,
            )
        time.sleep(0.1)


@dataclass(frozen=True)
class Served:
    """A running `adminctl serve`: its address, its process, and the file that holds what
    it printed (stdout and stderr, in the order written)."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text()

    def token(self) -> str:
        """The admin token it printed as it started (an embedded server does)."""
        return printed_token(self.output())


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited in `STOP_TIMEOUT_S`."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)


@contextmanager
def serving(
    settings: Mapping[str, str],
    folder: Path,
    *,
    ready: str = "/health",
    args: Sequence[str] = (),
    open_files: tuple[int, int] | None = None,
) -> Iterator[Served]:
    """`adminctl serve [args]` with exactly the application settings `settings` (and the
    rest of this process's environment), run in `folder`, its output in `folder/serve.log`;
    yielded once `ready` answers 200. `open_files` (soft, hard) limits the descriptors the
    server may open (`RLIMIT_NOFILE`), set in the child before it starts."""
    log = folder / "serve.log"
    for _ in range(_ATTEMPTS):
        port = free_port()
        with log.open("wb") as output:
            process = subprocess.Popen(
                [str(ADMINCTL), "serve", *args, "--host", "127.0.0.1", "--port", str(port)],
                cwd=folder,
                env=environment(settings),
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=None if open_files is None else _limit_open_files(open_files),
            )
        served = Served(f"http://127.0.0.1:{port}", port, process, log)
        try:
            until_answering(process, served.url + ready, served.output)
            break
        except pytest.fail.Exception:
            stop(process)
            if "address already in use" not in served.output().lower():
                raise
    else:
        pytest.fail(f"no free port after {_ATTEMPTS} attempts", pytrace=False)
    try:
        yield served
    except BaseException as error:
        error.add_note(_tail(served.output()))
        raise
    finally:
        stop(process)


def _limit_open_files(limits: tuple[int, int]) -> Callable[[], None]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, limits)

    return limit


def _tail(output: str) -> str:
    lines = output.splitlines()
    shown = "\n".join(lines[-_SHOWN_LINES:])
    cut = f" (its last {_SHOWN_LINES} lines)" if len(lines) > _SHOWN_LINES else ""
    return f"adminctl serve printed{cut}:\n{shown}"
