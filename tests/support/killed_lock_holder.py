"""`python -m tests.support.killed_lock_holder <verb> <SQLite url> <directory>`: take one of
the locks the processes on one embedded file share, and die (SIGKILL) part way through the
work it guards:
- `rebuild`: a graph rebuild, at its first write to the graph;
- `checkpoint`: a checkpoint, once the database holds it and before the sink does (the key
  and the sink are in `<directory>`)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from adapters.ed25519.keys import Ed25519CheckpointKeys, Ed25519CheckpointSigner
from adapters.filesystem.checkpoints import DirectoryCheckpointSink
from adapters.memory.graph import InMemoryGraphProjection
from adapters.sql.audit import SqliteCheckpointLock
from adapters.sql.engine import create_engine
from adapters.sql.projection import SqliteRebuildLock, SqlProjectionSource
from adapters.sql.transaction import SqlTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.audit.use_cases import WriteCheckpoint, WriteCheckpointCommand
from admin_core.graph.model import GraphNode, NodeLabel
from admin_core.graph.use_cases import RebuildCommand, RebuildProjection
from admin_core.kernel.principal import Principal

OPERATOR = Principal.operator("killed-lock-holder")


def _die() -> NoReturn:
    os.kill(os.getpid(), signal.SIGKILL)
    raise SystemExit("the process was not killed")


class DieOnWrite(InMemoryGraphProjection):
    async def upsert_nodes(
        self, label: NodeLabel, nodes: Sequence[GraphNode], *, run: str, absent: bool = False
    ) -> None:
        _die()

    async def upsert_nodes_with_links(self, *args: Any, **kwargs: Any) -> None:
        _die()


class DieOnPublish(DirectoryCheckpointSink):
    async def publish(self, seq: int, document: bytes) -> None:
        _die()


def checkpoint_parts(directory: Path) -> tuple[Ed25519CheckpointSigner, Ed25519CheckpointKeys]:
    signer = Ed25519CheckpointSigner(directory / "checkpoint.pem", create=True)
    return signer, Ed25519CheckpointKeys([signer.public_key])


async def main(verb: str, url: str, directory: Path) -> None:
    engine = create_engine(url)
    transactions = SqlTransactions(engine, SystemClock(), UlidGenerator())
    if verb == "rebuild":
        rebuild = RebuildProjection(
            source=SqlProjectionSource(engine),
            graph=DieOnWrite(),
            lock=SqliteRebuildLock(url),
            transactions=transactions,
            ids=UlidGenerator(),
        )
        await rebuild.execute(OPERATOR, RebuildCommand())
    elif verb == "checkpoint":
        signer, keys = checkpoint_parts(directory)
        write = WriteCheckpoint(
            transactions,
            signer=signer,
            keys=keys,
            sink=DieOnPublish(directory / "sink"),
            lock=SqliteCheckpointLock(url),
            clock=SystemClock(),
        )
        await write.execute(OPERATOR, WriteCheckpointCommand())
    raise SystemExit(f"{verb}: finished without dying")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], Path(sys.argv[3])))
