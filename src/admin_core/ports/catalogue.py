"""Writing the provider catalogue: row by row inside a unit of work (demo data, tests), or in
bulk for large synthetic data sets."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from admin_core.domain.catalogue import CatalogueBatch


class CatalogueWriter(Protocol):
    async def write(self, batch: CatalogueBatch, *, now: datetime) -> None:
        """Write the batch inside the current unit of work, parents first. Idempotent: rows
        whose key exists are kept (an existing provider only gains the specialties and
        languages it lacks, and the accreditations it does not have yet)."""
        ...


class CatalogueBulkLoader(Protocol):
    async def load(self, batches: Iterable[CatalogueBatch], *, now: datetime) -> int:
        """Append batches of new rows as fast as the database allows (no existing key may be
        repeated); returns the number of rows written. Not transactional as a whole."""
        ...
