"""Readiness: can this replica reach its database? And how are the external dependencies?"""

from __future__ import annotations

import asyncio
import logging

from admin_core.health.errors import NotReady
from admin_core.health.model import ExternalHealth, SchemaAge
from admin_core.health.monitor import DependencyMonitor
from admin_core.health.ports import DatabaseSchema
from admin_core.kernel.errors import AdminError
from admin_core.kernel.principal import Permission, Principal
from admin_core.kernel.transaction import Transactions
from admin_core.tenants.ports import TenantLookupTransaction

log = logging.getLogger("admin_core.health")


class CheckReadiness:
    """Ready when a transaction can be opened and the schema answers a query, within
    `timeout_seconds`. A database that stalls (it takes connections, answers nothing) is
    not ready once that time is up, rather than holding the probe until it answers; one
    check runs at a time, and probes meanwhile wait for it, so that probes of a stalled
    database do not take one pooled connection each.

    The schema's revision counts as start-up counts it, while the process runs: a schema
    older than this code's (a database restored from before an upgrade, or one that was out
    of reach when the process started and unchecked since) is not ready. A schema a later
    release made is still ready, said once in the log: that is a rolling upgrade's middle,
    the new release having migrated while this one still serves, and taking every replica
    of this one out of the load balancer before one of the next is ready would stop the
    service.

    A database that answers reads but takes no writes (a standby the replica's URL reaches
    after a failover) is not ready: every change an operator made there would fail."""

    def __init__(
        self,
        transactions: Transactions[TenantLookupTransaction],
        timeout_seconds: float,
        *,
        schema: DatabaseSchema,
    ) -> None:
        self._transactions = transactions
        self._timeout = timeout_seconds
        self._schema = schema
        self._running: asyncio.Task[str | None] | None = None
        self._newer_told: str | None = None

    async def execute(self) -> None:
        """Returns when ready; else NOT_READY, its message saying why in general words (a
        probe is answered to anyone), the log saying it in full."""
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._check())
        try:
            reason = await asyncio.wait_for(asyncio.shield(self._running), self._timeout)
        except TimeoutError:
            log.warning("not ready: the database did not answer within %ss", self._timeout)
            reason = f"The database did not answer within {self._timeout:g} s."
        if reason is not None:
            raise NotReady(reason)

    async def _check(self) -> str | None:
        """Why not ready, or None when ready."""
        try:
            async with self._transactions() as tx:
                await tx.tenants.get("")
            revision = await self._schema.revision()
        except Exception as error:  # noqa: BLE001 - any failure means "not ready", never a crash
            log.warning("not ready: %s", error.__cause__ or error)
            if isinstance(error, AdminError):  # worded for a client already
                return error.message
            return "The database could not be read."
        if not revision.writable:
            log.warning(
                "not ready: the database answers reads but takes no writes (a standby, or"
                " read-only by default)"
            )
            return "The database answers reads but takes no writes."
        if revision.age is SchemaAge.OLDER:
            log.warning(
                "not ready: the database's schema is at %s, this release needs %s"
                " (the database must be upgraded)",
                revision.found or "no revision",
                revision.needed,
            )
            return "The database's schema is older than this release's: it must be upgraded."
        if revision.age is SchemaAge.NEWER and revision.found != self._newer_told:
            self._newer_told = revision.found
            log.warning(
                "the database's schema is at %s, which a later release made (this one ends"
                " at %s): still serving, as in a rolling upgrade",
                revision.found,
                revision.needed,
            )
        return None


class CheckExternalDependencies:
    """The health of every external dependency (SPEC §6.10): platform scope
    (`tenant:manage` over every tenant), else AUTH_INSUFFICIENT_PERMISSION.

    Each dependency is `ok`, `down` (with why, naming no secret) or `not_configured`; the
    whole is `degraded` when any configured one is down. Probes run concurrently with a
    timeout each; the answer is cached for a few seconds and made once for a burst of
    callers (`DependencyMonitor`)."""

    def __init__(self, monitor: DependencyMonitor) -> None:
        self._monitor = monitor

    async def execute(self, principal: Principal) -> ExternalHealth:
        principal.require(Permission.TENANT_MANAGE, platform=True)
        return await self._monitor.current()
