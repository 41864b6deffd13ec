"""The sandbox gateway's refunds (`sandbox_refunds`)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.tables import sandbox_refunds as refunds
from admin_core.payments.model import Refund, RefundStatus


class SqlSandboxLedger:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def find(
        self, *, key: str | None = None, payment_ref: str | None = None
    ) -> tuple[str, Refund] | None:
        where = refunds.c.key == key if key is not None else refunds.c.payment_ref == payment_ref
        row = (await self._connection.execute(sa.select(refunds).where(where).limit(1))).first()
        if row is None:
            return None
        return row.payment_ref, Refund(
            id=row.id,
            status=RefundStatus.SUCCEEDED,
            amount_minor=int(row.amount_minor),
            currency=row.currency,
            provider="sandbox",
            created_at=row.created_at,
        )

    async def add(self, key: str, payment_ref: str, refund: Refund) -> None:
        await self._connection.execute(
            refunds.insert().values(
                id=refund.id,
                key=key,
                payment_ref=payment_ref,
                amount_minor=refund.amount_minor,
                currency=refund.currency,
                created_at=refund.created_at,
            )
        )
