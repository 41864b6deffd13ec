"""Writing the provider directory: row-wise inside a unit of work, or in bulk (PostgreSQL
`COPY` through asyncpg; batched inserts on SQLite)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sql.tables import (
    accreditations,
    doctor_procedures,
    doctors,
    procedures,
    provider_accreditations,
    provider_procedures,
    providers,
)
from admin_core.directory.model import (
    DirectoryBatch,
    DirectoryKind,
    DirectoryReference,
    refuse_missing,
)
from admin_core.directory.ports import DirectoryBulkLoader, DirectoryWriter

_CHUNK = 200  # rows per multi-row INSERT (stays below SQLite's parameter limit)


def _json(values: Sequence[str] | None) -> Any:
    """A JSON list, or SQL NULL (not JSON `null`) when absent."""
    return sa.null() if values is None else list(values)


def _rows(
    batch: DirectoryBatch, now: datetime, *, held_accreditations: bool
) -> list[tuple[sa.Table, list[dict[str, Any]]]]:
    """The batch as (table, rows), parents first. `held_accreditations`: also add the names
    the batch's providers hold to `accreditations` (for writers that skip existing rows)."""
    stamp = {"created_at": now, "updated_at": now}
    names = set(batch.accreditations)
    if held_accreditations:
        names.update(a for p in batch.providers for a in p.accreditations)
    return [
        (accreditations, [{"name": n} for n in sorted(names)]),
        (
            procedures,
            [
                {"code": p.code, "name": p.name, "specialty": p.specialty, **stamp}
                for p in batch.procedures
            ],
        ),
        (
            providers,
            [
                {
                    "id": p.id,
                    "name": p.name,
                    "country": p.country,
                    "city": p.city,
                    "specialties": _json(p.specialties),
                    "languages": _json(p.languages),
                    **stamp,
                }
                for p in batch.providers
            ],
        ),
        (
            provider_accreditations,
            [
                {"provider_id": p.id, "accreditation_name": a}
                for p in batch.providers
                for a in p.accreditations
            ],
        ),
        (
            doctors,
            [
                {
                    "id": d.id,
                    "provider_id": d.provider_id,
                    "full_name": d.full_name,
                    "specialty": d.specialty,
                    "languages": _json(d.languages),
                    **stamp,
                }
                for d in batch.doctors
            ],
        ),
        (
            provider_procedures,
            [
                {
                    "provider_id": o.provider_id,
                    "procedure_code": o.procedure_code,
                    "price_min_usd": o.price_min_usd,
                    "price_max_usd": o.price_max_usd,
                }
                for o in batch.offers
            ],
        ),
        (
            doctor_procedures,
            [
                {"doctor_id": d.doctor_id, "procedure_code": d.procedure_code}
                for d in batch.doctor_procedures
            ],
        ),
    ]


def _fill(existing: sa.ColumnElement[Any], given: sa.ColumnElement[Any]) -> Any:
    """Keep a non-empty JSON list; replace a missing or empty one with the given value."""
    empty = sa.func.coalesce(sa.cast(existing, sa.Text), "[]").in_(["[]", "null"])
    return sa.case((empty, given), else_=existing)


class SqlDirectoryWriter(DirectoryWriter):
    """Inserts that keep existing rows (`ON CONFLICT DO NOTHING`); an existing provider only
    gains the specialties and languages it lacks."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    def _insert(self, table: sa.Table) -> Any:
        dialect = self._connection.dialect.name
        return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)

    async def write(self, batch: DirectoryBatch, *, now: datetime) -> None:
        references = list(batch.outside_references())
        if references:
            refuse_missing(references, await self._held(references))
        for table, rows in _rows(batch, now, held_accreditations=True):
            for start in range(0, len(rows), _CHUNK):
                stmt = self._insert(table).values(rows[start : start + _CHUNK])
                if table is providers:
                    stmt = stmt.on_conflict_do_update(
                        index_elements=[providers.c.id],
                        set_={
                            "specialties": _fill(
                                providers.c.specialties, stmt.excluded.specialties
                            ),
                            "languages": _fill(providers.c.languages, stmt.excluded.languages),
                        },
                    )
                else:
                    stmt = stmt.on_conflict_do_nothing()
                await self._connection.execute(stmt)

    async def _held(
        self, references: Sequence[DirectoryReference]
    ) -> dict[DirectoryKind, set[str]]:
        """The referenced keys the directory holds, by kind."""
        held: dict[DirectoryKind, set[str]] = {}
        for kind, column in _KEYS.items():
            keys = sorted({r.key for r in references if r.kind == kind})
            held[kind] = set()
            for start in range(0, len(keys), _CHUNK):
                found = await self._connection.scalars(
                    sa.select(column).where(column.in_(keys[start : start + _CHUNK]))
                )
                held[kind].update(found)
        return held


_KEYS: dict[DirectoryKind, sa.Column[Any]] = {
    "provider": providers.c.id,
    "doctor": doctors.c.id,
    "procedure": procedures.c.code,
}


def _copy_value(value: Any) -> Any:
    if isinstance(value, list):
        return json.dumps(value)
    if isinstance(value, sa.sql.elements.Null):
        return None
    return value


class SqlDirectoryBulkLoader(DirectoryBulkLoader):
    """Appends new rows fast: `COPY ... FROM STDIN` (binary) on PostgreSQL, one transaction
    per batch; batched multi-row inserts on SQLite."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def load(self, batches: Iterable[DirectoryBatch], *, now: datetime) -> int:
        written = 0
        async with self._engine.connect() as conn:
            for batch in batches:
                async with conn.begin():
                    for table, rows in _rows(batch, now, held_accreditations=False):
                        await _append(conn, table, rows)
                        written += len(rows)
        return written


async def _append(
    conn: AsyncConnection, table: sa.Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Append `rows` to `table`: `COPY` on PostgreSQL, multi-row inserts of `_CHUNK` rows on
    SQLite."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        await _copy(conn, table, rows)
        return
    for start in range(0, len(rows), _CHUNK):
        await conn.execute(table.insert().values(rows[start : start + _CHUNK]))


async def _copy(conn: AsyncConnection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    columns = list(rows[0])
    await driver.copy_records_to_table(  # type: ignore[union-attr]
        table.name,
        records=[tuple(_copy_value(row[c]) for c in columns) for row in rows],
        columns=columns,
    )
