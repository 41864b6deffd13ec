"""Ports of the provider directory: the providers the tenants area reads and creates, and
writing the directory row by row inside a transaction (demo data, tests) or in bulk (large
synthetic data sets)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from admin_core.directory.model import DirectoryBatch, Provider
from admin_core.kernel.transaction import Transaction


class ProviderRepository(Protocol):
    async def get(self, provider_id: str) -> Provider | None: ...

    async def add(self, provider: Provider) -> None: ...


class DirectoryWriter(Protocol):
    async def write(self, batch: DirectoryBatch, *, now: datetime) -> None:
        """Write the batch inside the current transaction, parents first. Idempotent: rows
        whose key exists are kept (an existing provider only gains the specialties and
        languages it lacks, and the accreditations it does not have yet). A row naming a
        provider, doctor or procedure that is neither in the batch nor written before is
        refused with `ValidationFailed`, one `FieldError` per such row
        (`doctors.1.provider_id`), before anything of the batch is written."""
        ...


class DirectoryBulkLoader(Protocol):
    async def load(self, batches: Iterable[DirectoryBatch], *, now: datetime) -> int:
        """Append batches of new rows as fast as the database allows (no existing key may be
        repeated); returns the number of rows written. Not transactional as a whole."""
        ...


class DirectoryTransaction(Transaction, Protocol):
    """A transaction that reads providers and writes the directory."""

    providers: ProviderRepository
    directory: DirectoryWriter
