"""`adminctl` stopped by a signal (Ctrl-C's SIGINT, SIGTERM) at a moment the test chooses.

`audit verify-export` of a pipe nobody writes waits for as long as the pipe stays open, so
the command is still running whenever the signal lands: while the command line is imported
(`starting`), or once it waits on the pipe.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from adapters.ed25519.keys import Ed25519CheckpointSigner
from tests.support.adminctl import ADMINCTL


@dataclass(frozen=True, slots=True)
class Stopped:
    """How the command ended: its exit status, its stdout, and its stderr (from the moment
    the signal was sent, when it was sent while the command started)."""

    status: int
    out: str
    err: str


def stopped(
    tmp_path: Path, sig: signal.Signals, *, as_json: bool, starting: bool = False
) -> Stopped:
    """Run `adminctl [--json] audit verify-export PIPE`, send it `sig`, and wait for it."""
    key = tmp_path / "key.pem"
    Ed25519CheckpointSigner(key, create=True)
    pipe = tmp_path / "export.jsonl"
    os.mkfifo(pipe)
    words = ["audit", "verify-export", str(pipe), "--public-key", str(key)]
    command = subprocess.Popen(
        [str(ADMINCTL), *(["--json"] if as_json else []), *words],
        # While starting, a line on stderr per module imported says how far it has got.
        env={"PYTHONPROFILEIMPORTTIME": "1"} if starting else {},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert command.stderr is not None
    writer = None
    if starting:
        for line in command.stderr:  # until the heavy imports have begun
            if "sqlalchemy" in line:
                break
    else:
        for _ in range(6000):  # until the command has opened the pipe: it is reading it
            try:
                writer = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError:
                time.sleep(0.01)
        assert writer is not None, "the command never opened the export"
    try:
        command.send_signal(sig)
        out, err = command.communicate(timeout=60)
    finally:
        if writer is not None:
            os.close(writer)
    return Stopped(command.returncode, out, err)
