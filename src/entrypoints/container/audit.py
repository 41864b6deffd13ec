"""The audit log's read side (every area records through its own transactions) and its signed
checkpoints: the signer's key file, the trusted public keys, the sink, the writer's lock."""

from __future__ import annotations

from collections.abc import Callable

from dependency_injector import containers, providers
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.ed25519.keys import (
    Ed25519CheckpointKeys,
    Ed25519CheckpointSigner,
    read_public_keys,
)
from adapters.filesystem.checkpoints import DirectoryCheckpointSink
from adapters.memory.audit import InMemoryCheckpointSink, InProcessCheckpointLock
from adapters.sql.audit import PostgresCheckpointLock, SqliteCheckpointLock
from admin_core.audit.checkpoints import TrustedCheckpoints
from admin_core.audit.ports import CheckpointLock, CheckpointSink
from admin_core.audit.use_cases import (
    ExportAuditLog,
    ExportSealedChains,
    QueryAuditLog,
    VerifyAuditChain,
    WriteCheckpoint,
)
from entrypoints.container import choices
from entrypoints.settings import Settings


def _signer(settings: Settings) -> Ed25519CheckpointSigner:
    """Embedded makes the key on first use; production only reads the one it was given."""
    return Ed25519CheckpointSigner(choices.checkpoint_key_path(settings), create=settings.embedded)


def _keys(settings: Settings, signer: Ed25519CheckpointSigner) -> Ed25519CheckpointKeys:
    keys = [signer.public_key]
    for path in settings.audit_checkpoint_trusted_keys:
        keys += read_public_keys(path.read_bytes())
    return Ed25519CheckpointKeys(keys)


def _sink(settings: Settings) -> CheckpointSink:
    directory = choices.checkpoint_directory(settings)
    return InMemoryCheckpointSink() if directory is None else DirectoryCheckpointSink(directory)


def _lock(settings: Settings, engine: Callable[[], AsyncEngine]) -> CheckpointLock:
    if choices.database(settings) == "postgres":
        return PostgresCheckpointLock(engine())
    if choices.database(settings) == "sqlite":  # the file, its checkpoints and their directory
        return SqliteCheckpointLock(settings.database_url)  # are shared by its processes
    return InProcessCheckpointLock()


class AuditArea(containers.DeclarativeContainer):
    runtime = providers.DependenciesContainer()
    database = providers.DependenciesContainer()

    checkpoint_signer = providers.Singleton(_signer, runtime.settings)
    checkpoint_keys = providers.Singleton(_keys, runtime.settings, checkpoint_signer)
    checkpoint_sink = providers.Singleton(_sink, runtime.settings)
    checkpoint_lock = providers.Singleton(_lock, runtime.settings, database.lock_engine.provider)
    trusted_checkpoints = providers.Singleton(TrustedCheckpoints)

    query_audit_log = providers.Factory(
        QueryAuditLog, transactions=database.transactions, tenants=database.known_tenants
    )
    export_audit_log = providers.Factory(
        ExportAuditLog, transactions=database.transactions, tenants=database.known_tenants
    )
    verify_audit_chain = providers.Factory(
        VerifyAuditChain,
        transactions=database.transactions,
        tenants=database.known_tenants,
        keys=checkpoint_keys,
        sink=checkpoint_sink,
        lock=checkpoint_lock,
        trusted=trusted_checkpoints,
    )
    write_checkpoint = providers.Factory(
        WriteCheckpoint,
        transactions=database.transactions,
        signer=checkpoint_signer,
        keys=checkpoint_keys,
        sink=checkpoint_sink,
        lock=checkpoint_lock,
        clock=runtime.clock,
    )
    export_sealed_chains = providers.Factory(
        ExportSealedChains, transactions=database.transactions, tenants=database.known_tenants
    )
