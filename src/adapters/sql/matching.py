"""Coverage of the `postgres` matching parameters, measured on SQL (PostgreSQL or SQLite).

Each measurable path (`admin_core.matching.paths.POSTGRES_PATHS`) maps to a condition built
here from the table definitions, or to a relation: the whitelist. `measure` reads each entity
once: one `SELECT count(*), count(CASE WHEN <condition> THEN 1 END), ...` per entity counts
every requested path of that entity together. The related rows of a relation
(`providers.procedures.price_min_usd`) are aggregated once per related table — one flag per
path, grouped by the entity's key — and left-joined to the entity, so a table that serves
several paths is read once, not once per path.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.tables import (
    doctor_procedures,
    doctors,
    mso_doctors,
    procedures,
    provider_accreditations,
    provider_procedures,
    providers,
    tenant_settings,
    tenants,
)
from admin_core.matching import paths as p
from admin_core.matching.ports import Coverage, CoverageMeter, CoverageUnavailable

Condition = sa.ColumnElement[bool]
#: A condition for a dialect ("postgresql" or "sqlite").
Builder = Callable[[str], Condition]

ENTITY_TABLES: Mapping[str, sa.Table] = {
    p.PROVIDERS: providers,
    p.DOCTORS: doctors,
    p.PROCEDURES: procedures,
    p.OFFERS: provider_procedures,
    p.MSO_DOCTORS: mso_doctors,
}


def _text(column: sa.ColumnElement[Any]) -> Builder:
    """Text that is not null and not blank."""
    return lambda _: sa.and_(column.is_not(None), sa.func.trim(column) != "")


def _not_null(column: sa.ColumnElement[Any]) -> Builder:
    return lambda _: column.is_not(None)


def _list(column: sa.ColumnElement[Any]) -> Builder:
    """A JSON list with at least one item (SQL null, JSON null or any other value: none)."""

    def build(dialect: str) -> Condition:
        if dialect == "postgresql":
            array = sa.case((sa.func.jsonb_typeof(column) == "array", column))
            return sa.func.coalesce(sa.func.jsonb_array_length(array), 0) > 0
        return sa.func.coalesce(sa.func.json_array_length(column), 0) > 0

    return build


@dataclass(frozen=True, slots=True)
class Related:
    """Rows of another table that refer to the entity: `rows` (a FROM clause) grouped by
    `key`, which holds the entity's key. Every path of one `Related` is counted from one
    aggregate of it, joined to the entity once."""

    name: str
    rows: Callable[[], sa.FromClause]
    key: Callable[[], sa.ColumnElement[Any]]
    entity_key: sa.ColumnElement[Any]


@dataclass(frozen=True, slots=True)
class Relation:
    """The entity has at least one related row (for which `condition` holds, if given)."""

    related: Related
    condition: Builder | None = None


def _tenant_rows() -> sa.FromClause:
    return tenants.outerjoin(tenant_settings, tenant_settings.c.tenant_id == tenants.c.id)


_ACCREDITED = Related(
    "accreditations",
    lambda: provider_accreditations,
    lambda: provider_accreditations.c.provider_id,
    providers.c.id,
)
_OFFERING = Related(
    "offers", lambda: provider_procedures, lambda: provider_procedures.c.provider_id, providers.c.id
)
_STAFF = Related("staff", lambda: doctors, lambda: doctors.c.provider_id, providers.c.id)
_TENANT = Related("tenant", _tenant_rows, lambda: tenants.c.provider_id, providers.c.id)
_PERFORMED = Related(
    "performed", lambda: doctor_procedures, lambda: doctor_procedures.c.doctor_id, doctors.c.id
)
_OFFERED = Related(
    "offered",
    lambda: provider_procedures,
    lambda: provider_procedures.c.procedure_code,
    procedures.c.code,
)

#: The whitelist: every `postgres` path → a condition on a row of its entity, or a relation.
CONDITIONS: Mapping[str, Builder | Relation] = {
    "providers.country": _text(providers.c.country),
    "providers.city": _text(providers.c.city),
    "providers.specialties": _list(providers.c.specialties),
    "providers.languages": _list(providers.c.languages),
    "providers.accreditations": Relation(_ACCREDITED),
    "providers.procedures": Relation(_OFFERING),
    "providers.procedures.price_min_usd": Relation(
        _OFFERING, _not_null(provider_procedures.c.price_min_usd)
    ),
    "providers.procedures.price_max_usd": Relation(
        _OFFERING, _not_null(provider_procedures.c.price_max_usd)
    ),
    "providers.doctors": Relation(_STAFF),
    "providers.doctors.languages": Relation(_STAFF, _list(doctors.c.languages)),
    "providers.tenant": Relation(_TENANT),
    "providers.tenant.settings.default_currency": Relation(
        _TENANT, _text(tenant_settings.c.default_currency)
    ),
    "providers.tenant.settings.timezone": Relation(_TENANT, _text(tenant_settings.c.timezone)),
    "providers.tenant.settings.data_residency_region": Relation(
        _TENANT, _text(tenant_settings.c.data_residency_region)
    ),
    "providers.tenant.settings.payments_provider": Relation(
        _TENANT, _text(tenant_settings.c.payments_provider)
    ),
    "doctors.specialty": _text(doctors.c.specialty),
    "doctors.languages": _list(doctors.c.languages),
    "doctors.procedures": Relation(_PERFORMED),
    "procedures.specialty": _text(procedures.c.specialty),
    "procedures.providers": Relation(_OFFERED),
    "provider_procedures.price_min_usd": _not_null(provider_procedures.c.price_min_usd),
    "provider_procedures.price_max_usd": _not_null(provider_procedures.c.price_max_usd),
    "mso_doctors.languages": _list(mso_doctors.c.languages),
    "mso_doctors.countries": _list(mso_doctors.c.countries),
    "mso_doctors.clerk_user_id": _text(mso_doctors.c.clerk_user_id),
}

if set(CONDITIONS) != set(p.POSTGRES_PATHS):  # pragma: no cover - a programming error
    raise RuntimeError("the SQL coverage whitelist and POSTGRES_PATHS differ")


def coverage_query(entity: str, paths: Collection[str], dialect: str) -> sa.Select[Any]:
    """One pass over `entity`: its row count, then one count per path, in order. A column is
    counted where it is non-empty; each table of related rows is aggregated once (one flag
    per path, grouped by the entity's key) and joined to the entity once."""
    source: sa.FromClause = ENTITY_TABLES[entity]
    aggregates: dict[str, sa.Subquery] = {}
    flags: dict[str, list[sa.ColumnElement[Any]]] = {}
    relations = [(i, CONDITIONS[path]) for i, path in enumerate(paths)]
    for i, condition in relations:
        if isinstance(condition, Relation):
            when = sa.true() if condition.condition is None else condition.condition(dialect)
            flags.setdefault(condition.related.name, []).append(
                sa.func.max(sa.case((when, 1))).label(f"f{i}")
            )
    related = {c.related.name: c.related for _, c in relations if isinstance(c, Relation)}
    for name, rows in related.items():
        key = rows.key()
        aggregate = (
            sa.select(key.label("k"), *flags[name])
            .select_from(rows.rows())
            .where(key.is_not(None))
            .group_by(key)
            .subquery(name)
        )
        aggregates[name] = aggregate
        source = source.outerjoin(aggregate, aggregate.c.k == rows.entity_key)
    counts: list[sa.ColumnElement[Any]] = [sa.func.count()]
    for i, condition in relations:
        if isinstance(condition, Relation):
            counts.append(sa.func.count(aggregates[condition.related.name].c[f"f{i}"]))
        else:
            counts.append(sa.func.count(sa.case((condition(dialect), 1))))
    return sa.select(*counts).select_from(source)


class SqlCoverageMeter(CoverageMeter):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name

    async def measure(self, paths: Collection[str]) -> Mapping[str, Coverage]:
        by_entity: dict[str, list[str]] = {}
        for path in paths:
            by_entity.setdefault(p.POSTGRES_PATHS[path], []).append(path)
        result: dict[str, Coverage] = {}
        try:
            async with self._engine.connect() as conn:
                for entity, names in by_entity.items():
                    row = (await conn.execute(coverage_query(entity, names, self._dialect))).one()
                    for name, covered in zip(names, row[1:], strict=True):
                        result[name] = Coverage(entities=int(row[0]), covered=int(covered))
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, OSError) as error:
            raise CoverageUnavailable(
                f"the database cannot be read: {type(error).__name__}"
            ) from error
        return result
