"""What the adapters that keep a private key in a file share: publishing a new key file
without ever overwriting one (the local token issuer's, the audit checkpoint signer's)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def publish_once(path: Path, data: bytes) -> bool:
    """Put `data` at `path` unless a file is there; True when this call put it there.

    Several processes may start at once on a fresh path (replicas, `adminctl serve` beside
    `adminctl token`). Each writes to a temporary file (mode 0600) in the same directory and
    hard-links it to `path`: the link either appears complete or fails with
    `FileExistsError`, so a reader never sees a half-written file and exactly one writer
    wins. A loser (False) reads the winner's file instead of its own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:  # mkstemp creates the file with mode 0600
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return True
