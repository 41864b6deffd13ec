"""A file that must survive a power cut once written (a fresh signing key, a checkpoint signed
with it) is flushed to disk, and so is its name in the directory, before it is relied on."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.ed25519.keys import Ed25519CheckpointSigner
from adapters.filesystem.checkpoints import DirectoryCheckpointSink
from adapters.localauth.issuer import LocalTokenIssuer


def _local_key(folder: Path) -> Path:
    LocalTokenIssuer(folder / "signing.pem", issuer="http://127.0.0.1:8000")
    return folder / "signing.pem"


def _checkpoint_key(folder: Path) -> Path:
    Ed25519CheckpointSigner(folder / "checkpoint.pem", create=True)
    return folder / "checkpoint.pem"


def _checkpoint(folder: Path) -> Path:
    sink = DirectoryCheckpointSink(folder)
    asyncio.run(sink.publish(1, b'{"seq": 1}'))
    return sink.path(1)


@pytest.mark.parametrize("write", [_local_key, _checkpoint_key, _checkpoint])
def test_a_new_file_and_its_name_are_on_disk_once_it_is_in_place(
    write: Callable[[Path], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the directory flushed, a power cut could keep the checkpoints signed with a
    fresh key and lose the key: the file's bytes were on disk, its name was not."""
    folder = tmp_path / "keys"
    flushed: list[tuple[str, set[str]]] = []  # what was flushed, and the folder's names then
    fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        flushed.append((os.readlink(f"/proc/self/fd/{fd}"), set(os.listdir(folder))))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    path = write(folder)
    assert path.exists()
    assert any(name == str(folder) and path.name in names for name, names in flushed), flushed
