"""The files a command writes (`-o`): each whole or not at all.

A file is written to a new file beside it, flushed to the disk, then renamed over it: a
command that fails half-way (a full disk, a file-size limit, Ctrl-C, SIGTERM) leaves the file
it was to replace as it was, and no part-written one behind. A path that is no regular file
(`/dev/stdout`, a pipe, a device) is written in place, as there is nothing to replace.

What the system refuses of the path itself (a directory that does not exist, a directory
given as the file, no permission) is bad input naming `--output` (exit 2); what it refuses of
the writing (a full disk, a quota, a file-size limit) is `NotKept`, the `IO_ERROR` (exit 74)
of `entrypoints.cli.main`, naming the file.

The files a setting names and a command makes on first use (the local signing key, the audit
checkpoint key) fail the same way (`setting_file`): a full disk is `NotKept`, anything else
of the path is a configuration that cannot run (exit 78), naming the variable and the file.
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
from entrypoints.settings import ConfigurationError, env_name

#: What the system answers a write it cannot keep (a full disk, a quota, a device error): the
#: state of the machine, not a bug or a bad argument, whether it met stdout or an `-o` file.
STORAGE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS})


def _remedy(error: OSError, to: str) -> str:
    """What to do about a file the disk could not take; `to`: how to put it elsewhere."""
    if error.errno == errno.EROFS:
        return f"its file system is read-only: {to} a writable one"
    if error.errno == errno.EIO:
        return f"the disk failed (see the system's log): {to} another disk"
    return f"make room on its disk (or raise the quota or file-size limit), or {to} another disk"


class NotKept(Exception):
    """A file the system could not keep (a full disk, a quota, a file-size limit, a read-only
    file system): `IO_ERROR`, exit 74. `message` names the file, the system's reason and what
    to do; `field`, the argument or the variable that named the file."""

    def __init__(self, message: str, *, field: str | None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


def unwritable(path: Path, error: OSError) -> ValidationFailed:
    return ValidationFailed.single("output", f"{path} cannot be written: {error.strerror}")


def not_written(path: Path, error: OSError) -> NotKept:
    return NotKept(
        f"{path} could not be written: {error.strerror}; nothing was written to it (a file"
        f" there is as it was): {_remedy(error, 'write it to')}",
        field="output",
    )


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """An error of the system about `path`: of storage, `NotKept`; else bad input naming it.
    The temporary file beside `path` is never the one named."""
    try:
        yield
    except OSError as error:
        if error.errno in STORAGE_ERRORS:
            raise not_written(path, error) from error
        raise unwritable(path, error) from error


@contextlib.contextmanager
def _stored(path: Path) -> Iterator[None]:
    """What the disk refused while the file was written, as `NotKept` naming `path`."""
    try:
        yield
    except OSError as error:
        if error.errno not in STORAGE_ERRORS:
            raise
        raise not_written(path, error) from error


@contextlib.contextmanager
def setting_file(setting: str, path: Path, what: str, *, makes: bool = True) -> Iterator[None]:
    """Reading, or making on first use (`makes`), `what` at `path`, which the setting
    `setting` (its field name) chose. A full disk (or a read-only file system) is `NotKept`;
    anything else the system refuses, or a file that holds no such key, is a
    `ConfigurationError` naming the variable and the file, never the temporary file beside
    it or Python's `[Errno n]`."""
    name = env_name(setting)
    existed = os.path.lexists(path)
    try:
        yield
    except OSError as error:
        verb, done = ("read", "read") if existed or not makes else ("create", "created")
        if error.errno in STORAGE_ERRORS:
            raise NotKept(
                f"{what} {path} could not be {done}: {error.strerror};"
                f" {_remedy(error, f'set {name} to a file on')}",
                field=name,
            ) from error
        raise ConfigurationError(
            [f"{name}: cannot {verb} {what} {path}: {error.strerror}{_hint(path, error)}"]
        ) from error
    except ValueError as error:  # a file there that holds no such key
        raise ConfigurationError([f"{name}: {error}"]) from error


def _hint(path: Path, error: OSError) -> str:
    """What the system's reason means for `path`, where it names no part of it."""
    if error.errno == errno.ENOTDIR:
        blocking = next((p for p in path.parents if p.is_file()), None)
        if blocking is not None:
            return f" ({blocking} is a file, not a directory)"
    return ""


def _new_file_mode() -> int:
    """The mode `open` gives a new file: 0o666 less the umask."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def written(path: Path, *, mode: int | None = None) -> Iterator[IO[str]]:
    """A UTF-8 text file that becomes `path` once the block ends without an error. `mode`:
    the file's permissions whatever the file it replaces had (an export: 0o600);
    None, those of a new file (0o666 less the umask). A write the disk refuses, in the block
    or after it, is `NotKept` naming `path`."""
    with _naming(path):
        in_place = path.exists() and not path.is_file()
    if in_place:
        with _naming(path):
            file = path.open("w", encoding="utf-8", newline="")
        with _stored(path), file:
            yield file
        return
    target = Path(os.path.realpath(path))
    with _naming(path):
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        os.fchmod(fd, _new_file_mode() if mode is None else mode)
        with _stored(path), os.fdopen(fd, "w", encoding="utf-8", newline="") as file:
            yield file
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


#: What the key files are called in messages.
CHECKPOINT_KEY = "the audit checkpoint key"
SIGNING_KEY = "the local signing key"


@contextlib.contextmanager
def published(directory: Path | None) -> Iterator[None]:
    """Publishing a checkpoint to the sink `directory`. The checkpoint is committed to the
    database first (docs/adr/0056): a sink that cannot take it leaves it there, and the next
    `audit checkpoint` publishes it. Said so, naming the directory and the variable; an
    error of another file (the database's) goes as it is."""
    name = env_name("audit_checkpoint_dir")
    try:
        yield
    except OSError as error:
        elsewhere = (
            error.filename is not None
            and directory is not None
            and not str(error.filename).startswith(str(directory))
        )
        if directory is None or elsewhere:
            raise
        then = (
            "it is stored in the database, and `adminctl audit checkpoint` publishes it once"
            " the directory can take it (until then `audit verify` reports it missing there)"
        )
        if error.errno in STORAGE_ERRORS:
            raise NotKept(
                f"the checkpoint could not be published to {directory}: {error.strerror};"
                f" {then}: {_remedy(error, f'set {name} to a directory on')}",
                field=name,
            ) from error
        raise ConfigurationError(
            [f"{name}: cannot publish the checkpoint to {directory}: {error.strerror}; {then}"]
        ) from error
