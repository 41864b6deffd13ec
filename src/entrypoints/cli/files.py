"""The files a command writes (`-o`): each whole or not at all.

A file is written to a new file beside it, flushed to the disk, then renamed over it: a
command that fails half-way (a full disk, a file-size limit, Ctrl-C, SIGTERM) leaves the file
it was to replace as it was, and no part-written one behind. A path that is no regular file
(`/dev/stdout`, a pipe, a device) is written in place, as there is nothing to replace.

What the system refuses of the path itself (a directory that does not exist, a directory
given as the file, no permission) is bad input naming `--output` (exit 2); what it refuses of
the writing (a full disk, a quota, a file-size limit) is raised as it is, the `IO_ERROR`
(exit 74) of `entrypoints.cli.main`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from admin_core.kernel.errors import ValidationFailed

#: What the system answers a write it cannot keep (a full disk, a quota, a device error): the
#: state of the machine, not a bug or a bad argument, whether it met stdout or an `-o` file.
STORAGE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS})


def unwritable(path: Path, error: OSError) -> ValidationFailed:
    return ValidationFailed.single("output", f"{path} cannot be written: {error.strerror}")


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """An error of the system about `path` as bad input naming it; one of storage as it is."""
    try:
        yield
    except OSError as error:
        if error.errno in STORAGE_ERRORS:
            raise
        raise unwritable(path, error) from error


def _new_file_mode() -> int:
    """The mode `open` gives a new file: 0o666 less the umask."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def written(path: Path, *, mode: int | None = None) -> Iterator[IO[str]]:
    """A UTF-8 text file that becomes `path` once the block ends without an error. `mode`:
    the file's permissions whatever the file it replaces had (an export: 0o600);
    None, those of a new file (0o666 less the umask)."""
    with _naming(path):
        in_place = path.exists() and not path.is_file()
    if in_place:
        with _naming(path):
            file = path.open("w", encoding="utf-8", newline="")
        with file:
            yield file
        return
    target = Path(os.path.realpath(path))
    with _naming(path):
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        os.fchmod(fd, _new_file_mode() if mode is None else mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as file:
            yield file  # what the block raises (a write the disk refused) goes as it is
            file.flush()
            os.fsync(file.fileno())
        with _naming(path):
            os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _sync_directory(target.parent)


def _sync_directory(directory: Path) -> None:
    """The rename made durable (best effort: not every file system syncs a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
