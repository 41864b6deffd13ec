"""Readiness: can this replica reach its database?"""

from __future__ import annotations

from admin_core.ports.persistence import UnitOfWorkFactory


class CheckReadiness:
    """Ready when a transaction can be opened and the schema answers a query."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def execute(self) -> bool:
        try:
            async with self._uow() as uow:
                await uow.tenants.get("")
        except Exception:  # noqa: BLE001 - any failure means "not ready", never a crash
            return False
        return True
