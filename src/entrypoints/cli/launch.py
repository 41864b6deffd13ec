"""The `adminctl` process: its standard streams and a Ctrl-C, settled before the command line
is imported.

Importing the command line takes seconds (the database toolkit, the web framework, the
drivers), and an operator's Ctrl-C in that time is as much an interruption as one a moment
later. This module imports only the standard library, so that it holds from the start.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
from types import FrameType

#: The shell's status of a command stopped by SIGINT.
EXIT_INTERRUPTED = 130
#: The shell's status of a command whose output's reader went away (SIGPIPE).
EXIT_PIPE_CLOSED = 141
#: The shell's status of a command stopped by SIGTERM (`timeout`, `kill`, an orchestrator).
EXIT_TERMINATED = 143
INTERRUPTED = "interrupted (Ctrl-C); nothing more was done"
TERMINATED = "terminated (SIGTERM); nothing more was done"


class Terminated(BaseException):
    """SIGTERM, raised where the command is, as Ctrl-C raises KeyboardInterrupt: what was
    running is cancelled and closed (an export's unfinished file removed, a transaction
    rolled back) before the command exits 143, instead of the process vanishing mid-way."""


def _terminate(_signum: int, _frame: FrameType | None) -> None:
    raise Terminated


OUTPUT_CLOSED = (
    "standard output is closed, so nothing could be reported; nothing was done"
    " (redirect it to /dev/null to run without output)"
)


def main() -> int:
    """The console script: `adminctl ...`."""
    as_json = "--json" in sys.argv[1:]
    signal.signal(signal.SIGTERM, _terminate)
    try:
        closed = _open_standard_streams()
        if 1 in closed:
            return _refuse("OUTPUT_CLOSED", OUTPUT_CLOSED, EXIT_PIPE_CLOSED, as_json=as_json)
        from entrypoints.cli.main import main as run
    except KeyboardInterrupt:
        return _refuse("INTERRUPTED", INTERRUPTED, EXIT_INTERRUPTED, as_json=as_json)
    except Terminated:
        return _refuse("TERMINATED", TERMINATED, EXIT_TERMINATED, as_json=as_json)
    return run()


class _Diagnostics(io.TextIOWrapper):
    """stderr, whose reader may go away (`adminctl ... 2>&1 >out | head -1`, a log collector
    that stopped) or whose disk may be full: what is written then is dropped, and so is the
    rest (the descriptor is pointed at /dev/null), instead of the command stopping as if its
    output's reader had gone (141). A script reads the command's own status: the result it
    printed, the error it met, whoever was listening to the diagnostics."""

    def write(self, text: str) -> int:
        try:
            return super().write(text)
        except OSError:
            self._discard()
            return len(text)

    def flush(self) -> None:
        try:
            super().flush()
        except OSError:
            self._discard()

    def _discard(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self.fileno())
        os.close(devnull)
        with contextlib.suppress(OSError):
            super().flush()  # what was left buffered, to /dev/null now


def _open_standard_streams() -> set[int]:
    """The standard descriptors a caller closed (`adminctl ... >&-`), each opened again on
    /dev/null: a file the command opens later (the database, an export) must never take
    descriptor 1 or 2 and receive what is printed. stdin and stderr closed are read from
    and written to as /dev/null; stdout closed stops the command (see `main`). stderr is a
    `_Diagnostics` from here on."""
    closed = set()
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            closed.add(fd)
            opened = os.open(os.devnull, os.O_RDWR)
            if opened != fd:
                os.dup2(opened, fd)
                os.close(opened)
    if 0 in closed:
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    if 1 in closed:
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    encoding = "utf-8" if 2 in closed or sys.stderr is None else sys.stderr.encoding
    sys.stderr = _Diagnostics(
        open(2, "wb", closefd=False),  # noqa: SIM115
        encoding=encoding,
        errors="backslashreplace",
        line_buffering=True,
        write_through=True,
    )
    return closed


def _refuse(code: str, message: str, status: int, *, as_json: bool) -> int:
    """One line on stderr, as `entrypoints.cli.output.print_errors` writes it."""
    if as_json:
        item = {"code": code, "message": message}
        line = json.dumps({"success": False, "errors": [item]}, separators=(",", ":"))
    else:
        line = f"error {code}: {message}"
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except OSError:
        pass
    return status


if __name__ == "__main__":
    sys.exit(main())
