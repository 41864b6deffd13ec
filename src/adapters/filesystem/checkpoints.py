"""The checkpoint sink as a directory: one file per checkpoint, never rewritten."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from adapters.keyfiles import publish_once
from admin_core.audit.checkpoints import CheckpointIssue
from admin_core.audit.errors import CHECKPOINTS, AuditChainBroken
from admin_core.audit.ports import CheckpointSink


class DirectoryCheckpointSink(CheckpointSink):
    """`checkpoint-<seq, 12 digits>.json` under `directory`, mode 0444.

    A checkpoint is written whole to a temporary file (created with O_EXCL), flushed to disk,
    then hard-linked to its name, and the directory flushed (`publish_once`): the link either
    appears complete or fails because the name exists, so no file is ever overwritten or seen
    half-written. Point the directory at storage the database's administrators cannot
    rewrite (another host, a WORM bucket mount) for the sink to be worth having
    (docs/adr/0056)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, seq: int) -> Path:
        return self.directory / f"checkpoint-{seq:012d}.json"

    async def publish(self, seq: int, document: bytes) -> None:
        await asyncio.to_thread(self._publish, seq, document)

    async def read(self, seq: int) -> bytes | None:
        return await asyncio.to_thread(self._read, seq)

    async def read_many(self, seqs: Sequence[int]) -> list[bytes | None]:
        return await asyncio.to_thread(lambda: [self._read(seq) for seq in seqs])

    def _read(self, seq: int) -> bytes | None:
        try:
            return self.path(seq).read_bytes()
        except FileNotFoundError:
            return None

    def _publish(self, seq: int, document: bytes) -> None:
        target = self.path(seq)
        existing = self._read(seq)
        if existing is not None:
            self._same(seq, existing, document)
            return
        if not publish_once(target, document, mode=0o444):
            self._same(seq, target.read_bytes(), document)

    @staticmethod
    def _same(seq: int, existing: bytes, document: bytes) -> None:
        if existing != document:
            raise AuditChainBroken(
                CHECKPOINTS,
                CheckpointIssue.SINK_DISAGREES,
                f"The sink holds a different checkpoint {seq}; it is never overwritten. Run "
                "`adminctl audit verify`.",
            )
