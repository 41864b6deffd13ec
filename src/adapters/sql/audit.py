"""The audit log on SQL: entries plus one head row per chain, locked while appending."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.sql.tables import audit_chain_heads, audit_log
from admin_core.domain.audit import GENESIS_HASH, AuditEntry, AuditRecord, chain_of, seal
from admin_core.ports.audit import AuditLog
from admin_core.ports.runtime import Clock, IdGenerator


class SqlAuditLog(AuditLog):
    """Appends take the chain's head row `FOR UPDATE`: writers of one chain queue on that row
    until the appending transaction ends, so sequence numbers never repeat and every entry
    links to the one committed before it. Different tenants never wait for each other."""

    def __init__(self, session: AsyncSession, clock: Clock, ids: IdGenerator) -> None:
        self._session = session
        self._clock = clock
        self._ids = ids

    async def _lock_head(self, chain: str) -> tuple[int, str]:
        dialect = self._session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        await self._session.execute(
            insert(audit_chain_heads)
            .values(chain=chain, seq=0, hash=GENESIS_HASH)
            .on_conflict_do_nothing(index_elements=["chain"])
        )
        row = (
            await self._session.execute(
                sa.select(audit_chain_heads.c.seq, audit_chain_heads.c.hash)
                .where(audit_chain_heads.c.chain == chain)
                .with_for_update()
            )
        ).one()
        return int(row.seq), str(row.hash)

    async def append(self, record: AuditRecord) -> AuditEntry:
        chain = chain_of(record.tenant_id)
        seq, prev_hash = await self._lock_head(chain)
        entry = seal(
            record,
            entry_id=self._ids.new_id("aud"),
            seq=seq + 1,
            occurred_at=self._clock.now(),
            prev_hash=prev_hash,
        )
        await self._session.execute(
            audit_log.insert().values(
                id=entry.id,
                chain=chain,
                seq=entry.seq,
                occurred_at=entry.occurred_at,
                tenant_id=entry.tenant_id,
                actor_id=entry.actor_id,
                actor_role=entry.actor_role,
                action=entry.action,
                event_type=entry.event_type,
                resource_type=entry.resource_type,
                resource_id=entry.resource_id,
                case_id=entry.case_id,
                patient_id=entry.patient_id,
                request_id=entry.request_id,
                before=entry.before,
                after=entry.after,
                prev_hash=entry.prev_hash,
                hash=entry.hash,
            )
        )
        await self._session.execute(
            audit_chain_heads.update()
            .where(audit_chain_heads.c.chain == chain)
            .values(seq=entry.seq, hash=entry.hash)
        )
        return entry
