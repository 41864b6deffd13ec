"""In-memory second-opinion doctors."""

from __future__ import annotations

from adapters.memory.store import InMemoryStore
from admin_core.kernel.paging import OffsetPage
from admin_core.mso_doctors.errors import MsoDoctorAlreadyExists
from admin_core.mso_doctors.model import DoctorFilter, MsoDoctor
from admin_core.mso_doctors.ports import MsoDoctorRepository


def _matches(doctor: MsoDoctor, where: DoctorFilter) -> bool:
    """The reference semantics of `DoctorFilter` the SQL adapter reproduces."""
    return (
        (where.tenant_id is None or doctor.tenant_id == where.tenant_id)
        and (where.specialty is None or doctor.specialty == where.specialty)
        and (where.language is None or where.language in doctor.languages)
        and (
            where.available_on is None
            or (doctor.active and doctor.available_from <= where.available_on)
        )
    )


class InMemoryMsoDoctorRepository(MsoDoctorRepository):
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    async def get(self, doctor_id: str, *, lock: bool = False) -> MsoDoctor | None:
        # A transaction holds the whole store until it ends: every read is locked.
        return self._store.mso_doctors.get(doctor_id)

    async def page(
        self,
        where: DoctorFilter,
        *,
        limit: int,
        offset: int,
        after: tuple[str, str] | None = None,
    ) -> OffsetPage[MsoDoctor]:
        rows = sorted(
            (d for d in self._store.mso_doctors.values() if _matches(d, where)),
            key=lambda d: (d.full_name, d.id),
        )
        following = [d for d in rows if after is None or (d.full_name, d.id) > after]
        return OffsetPage(
            items=following[offset : offset + limit], total=len(rows), limit=limit, offset=offset
        )

    def _check_email_free(self, doctor: MsoDoctor) -> None:
        for other in self._store.mso_doctors.values():
            if (
                other.id != doctor.id
                and other.tenant_id == doctor.tenant_id
                and other.email == doctor.email
            ):
                raise MsoDoctorAlreadyExists(
                    field="email", details={"tenant_id": doctor.tenant_id, "email": doctor.email}
                )

    async def add(self, doctor: MsoDoctor) -> None:
        if doctor.id in self._store.mso_doctors:
            raise ValueError(f"doctor id {doctor.id} is taken")
        self._check_email_free(doctor)
        self._store.mso_doctors[doctor.id] = doctor

    async def update(self, doctor: MsoDoctor) -> None:
        if doctor.id not in self._store.mso_doctors:
            return
        self._check_email_free(doctor)
        self._store.mso_doctors[doctor.id] = doctor
