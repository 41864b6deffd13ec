"""Second-opinion doctors on SQLAlchemy Core.

Languages and countries are JSON lists on the doctor's row. The language filter asks whether
the list contains the code: `json_each` on SQLite, `jsonb @>` on PostgreSQL (which a GIN index
on `languages` would serve, should the table ever need one).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.errors import violated_constraint
from adapters.sql.pages import page_and_total, with_total
from adapters.sql.reads import Read
from adapters.sql.tables import mso_doctors
from admin_core.kernel.paging import OffsetPage
from admin_core.mso_doctors.errors import MsoDoctorAlreadyExists
from admin_core.mso_doctors.model import DoctorFilter, MsoDoctor
from admin_core.mso_doctors.ports import MsoDoctorRepository

_EMAIL_PER_TENANT = "uq_mso_doctors_tenant_id_email"
_c = mso_doctors.c
#: The table's columns, in the order of `MsoDoctor`'s fields.
_FIELDS = (
    "id",
    "tenant_id",
    "full_name",
    "email",
    "specialty",
    "languages",
    "countries",
    "license_number",
    "consultation_fee_minor",
    "currency",
    "available_from",
    "timezone",
    "active",
    "clerk_user_id",
    "created_at",
    "updated_at",
)
_COLUMNS = tuple(_c[name] for name in _FIELDS)
_GET = sa.select(*_COLUMNS).where(_c.id == sa.bindparam("doctor_id"))
_GET_LOCKED = _GET.with_for_update()
#: The filter shape: which of tenant, specialty, language, day are given.
Shape = tuple[bool, bool, bool, bool]


def _language_condition(dialect: str) -> Any:
    """Whether the doctor's `languages` list holds `:language`."""
    if dialect == "postgresql":
        code = sa.func.jsonb_build_array(sa.cast(sa.bindparam("language"), sa.Text))
        return _c.languages.op("@>", is_comparison=True)(code)
    spoken = sa.func.json_each(_c.languages).table_valued("value").alias("spoken")
    return sa.exists(
        sa.select(sa.literal_column("1"))
        .select_from(spoken)
        .where(spoken.c.value == sa.bindparam("language"))
    )


def _conditions(dialect: str, shape: Shape) -> list[Any]:
    by_tenant, by_specialty, by_language, by_day = shape
    conditions: list[Any] = []
    if by_tenant:
        conditions.append(_c.tenant_id == sa.bindparam("tenant_id"))
    if by_specialty:
        conditions.append(_c.specialty == sa.bindparam("specialty"))
    if by_language:
        conditions.append(_language_condition(dialect))
    if by_day:
        conditions += [_c.available_from <= sa.bindparam("day"), _c.active == sa.true()]
    return conditions


#: Right after a doctor (`after_name`, `after_id`) in name order: one row comparison, a range
#: of the `(…, full_name, id)` indexes.
_AFTER = sa.tuple_(_c.full_name, _c.id) > sa.tuple_(
    sa.bindparam("after_name", type_=sa.Text), sa.bindparam("after_id", type_=sa.Text)
)


def _page_statement(dialect: str, shape: Shape, after: bool) -> Any:
    rows = (
        sa.select(*_COLUMNS)
        .where(*_conditions(dialect, shape), *([_AFTER] if after else []))
        .order_by(_c.full_name, _c.id)
        .limit(sa.bindparam("limit"))
        .offset(sa.bindparam("offset"))
    )
    count = sa.select(sa.func.count()).select_from(mso_doctors).where(*_conditions(dialect, shape))
    return with_total(rows, count, ((_c.full_name, False), (_c.id, False)))


@functools.cache
def _page(shape: Shape, after: bool = False) -> Read:
    """A page of doctors in name order, built once per filter shape, with the count of every
    matching doctor: in the same statement, counted once, so the total counts what the page
    was read from, a page past the end included. (A window count over the page made the
    database read, and spill to disk, every matching doctor before the page's limit
    applied.)"""
    return Read(
        _page_statement("sqlite", shape, after),
        per_dialect={"postgresql": _page_statement("postgresql", shape, after)},
    )


def _doctor(row: Sequence[Any]) -> MsoDoctor:
    """A row of `_COLUMNS`, by position."""
    values = dict(zip(_FIELDS, row, strict=True))
    values["languages"] = tuple(values["languages"])
    values["countries"] = tuple(values["countries"])
    values["active"] = bool(values["active"])
    return MsoDoctor(**values)


def _values(doctor: MsoDoctor) -> dict[str, Any]:
    values = {name: getattr(doctor, name) for name in _FIELDS}
    values["languages"] = list(doctor.languages)
    values["countries"] = list(doctor.countries)
    return values


class SqlMsoDoctorRepository(MsoDoctorRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def get(self, doctor_id: str, *, lock: bool = False) -> MsoDoctor | None:
        """`lock=True`: `FOR UPDATE` on PostgreSQL; on SQLite the statement begins the
        transaction's write (`FirstWrite`), which holds the database's one write lock."""
        statement = _GET_LOCKED if lock else _GET
        row = (await self._connection.execute(statement, {"doctor_id": doctor_id})).first()
        return _doctor(row) if row else None

    async def page(
        self,
        where: DoctorFilter,
        *,
        limit: int,
        offset: int,
        after: tuple[str, str] | None = None,
    ) -> OffsetPage[MsoDoctor]:
        values: dict[str, Any] = {"limit": limit, "offset": offset}
        if after is not None:
            values["after_name"], values["after_id"] = after
        if where.tenant_id is not None:
            values["tenant_id"] = where.tenant_id
        if where.specialty is not None:
            values["specialty"] = where.specialty
        if where.language is not None:
            values["language"] = where.language
        if where.available_on is not None:
            values["day"] = where.available_on
        shape: Shape = (
            where.tenant_id is not None,
            where.specialty is not None,
            where.language is not None,
            where.available_on is not None,
        )
        found = await _page(shape, after is not None).rows(self._connection, values)
        rows, total = page_and_total(found)
        return OffsetPage(items=[_doctor(r) for r in rows], total=total, limit=limit, offset=offset)

    async def add(self, doctor: MsoDoctor) -> None:
        await self._write(mso_doctors.insert().values(**_values(doctor)), doctor)

    async def update(self, doctor: MsoDoctor) -> None:
        changes = {k: v for k, v in _values(doctor).items() if k not in {"id", "created_at"}}
        await self._write(mso_doctors.update().where(_c.id == doctor.id).values(**changes), doctor)

    async def _write(self, statement: Any, doctor: MsoDoctor) -> None:
        """Run `statement` in a savepoint; a taken email of the tenant (also taken by a
        concurrent transaction) is MSO_DOCTOR_ALREADY_EXISTS, by the constraint's name."""
        try:
            async with self._connection.begin_nested():
                await self._connection.execute(statement)
        except sqlalchemy.exc.IntegrityError as error:
            if violated_constraint(error) == _EMAIL_PER_TENANT:
                raise MsoDoctorAlreadyExists(
                    field="email", details={"tenant_id": doctor.tenant_id, "email": doctor.email}
                ) from error
            raise
