"""What the adapters that keep a file they must never rewrite share: publishing it once, on
disk before it is relied on (the local token issuer's key, the audit checkpoint signer's,
the checkpoints themselves)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def publish_once(path: Path, data: bytes, *, mode: int = 0o600) -> bool:
    """Put `data` at `path` unless a file is there; True when this call put it there.

    Several processes may start at once on a fresh path (replicas, `adminctl serve` beside
    `adminctl token`). Each writes to a temporary file (`mode`) in the same directory and
    hard-links it to `path`: the link either appears complete or fails with
    `FileExistsError`, so a reader never sees a half-written file and exactly one writer
    wins. A loser (False) reads the winner's file instead of its own. The file and then the
    directory are flushed to disk, so that a power cut cannot lose a key that checkpoints
    signed with it outlive."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:  # mkstemp creates the file with mode 0600
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return True
