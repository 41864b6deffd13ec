"""Where second-opinion doctors are kept."""

from __future__ import annotations

from typing import Protocol

from admin_core.audit.ports import AuditTransaction
from admin_core.kernel.paging import OffsetPage
from admin_core.mso_doctors.model import DoctorFilter, MsoDoctor


class MsoDoctorRepository(Protocol):
    async def get(self, doctor_id: str, *, lock: bool = False) -> MsoDoctor | None: ...

    async def page(
        self,
        where: DoctorFilter,
        *,
        limit: int,
        offset: int,
        after: tuple[str, str] | None = None,
    ) -> OffsetPage[MsoDoctor]:
        """Ordered by full name, then id (code point order), with the total matching `where`;
        `after` (a doctor's full name and id): only the doctors after it in that order (the
        total still counts every match). The page and its total are read at one instant, a
        page past the end too."""
        ...

    async def add(self, doctor: MsoDoctor) -> None:
        """Raises `MsoDoctorAlreadyExists` when the tenant has a doctor with that email."""
        ...

    async def update(self, doctor: MsoDoctor) -> None:
        """Raises `MsoDoctorAlreadyExists` when the new email is another doctor's."""
        ...


class MsoDoctorsTransaction(AuditTransaction, Protocol):
    mso_doctors: MsoDoctorRepository
