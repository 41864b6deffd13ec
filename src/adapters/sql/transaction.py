"""The SQL transaction: one pooled connection, one transaction, rolled back unless committed.
It composes every repository on that connection and satisfies each area's transaction
protocol.


Repositories run Core statements on the connection directly; there is no ORM session (no
identity map or flush to pay for on every transaction). On PostgreSQL, audit entries are
written at commit by the driver in one round trip (`write_appended`), so a transaction that
only records an entry costs one round trip instead of three (`BEGIN`, `INSERT`, `COMMIT`);
see docs/adr/0007-sql-unit-of-work.md."""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any, Self, cast

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sql.audit import SqlAuditLog, SqlCheckpointStore, chain_broken, write_appended
from adapters.sql.directory import SqlDirectoryWriter
from adapters.sql.engine import FirstWrite, WriterGate, is_sqlite, retire_pool
from adapters.sql.errors import (
    connect_or_unavailable,
    connection_lost,
    never_migrated,
    schema_missing,
    storage_refused,
    unavailable,
)
from adapters.sql.flags import SqlFlagOverrides
from adapters.sql.identity import SqlEmbeddedMemberships
from adapters.sql.intents import SqlIntentLog
from adapters.sql.mso_doctors import SqlMsoDoctorRepository
from adapters.sql.mso_sessions import SqlMsoSessionRepository
from adapters.sql.reads import driver_connection
from adapters.sql.sandbox_refunds import SqlSandboxLedger
from adapters.sql.tenants import (
    SqlOrgMappingRepository,
    SqlProviderRepository,
    SqlTenantRepository,
)
from adapters.sql.users import SqlUserContacts, SqlUserRoleRepository
from admin_core.audit.ports import AuditLog, CheckpointStore, CheckpointTransaction
from admin_core.auth.ports import OrgLookupTransaction
from admin_core.directory.ports import DirectoryTransaction, DirectoryWriter, ProviderRepository
from admin_core.kernel.errors import AdminError
from admin_core.kernel.runtime import Clock, IdGenerator
from admin_core.kernel.transaction import Transactions
from admin_core.mso_doctors.ports import MsoDoctorRepository, MsoDoctorsTransaction
from admin_core.payments.ports import MsoSessionRepository, PaymentsTransaction
from admin_core.side_effects.ports import IntentLog, SideEffectsTransaction
from admin_core.tenants.ports import OrgMappingRepository, TenantRepository, TenantsTransaction
from admin_core.users.ports import UserContacts, UserRoleRepository, UsersTransaction

_READ_COMMITTED = "READ COMMITTED"

log = logging.getLogger("admin_core.database")


class SqlTransaction(
    TenantsTransaction,
    UsersTransaction,
    PaymentsTransaction,
    MsoDoctorsTransaction,
    SideEffectsTransaction,
    CheckpointTransaction,
    DirectoryTransaction,
    OrgLookupTransaction,
):
    providers: ProviderRepository
    tenants: TenantRepository
    org_mappings: OrgMappingRepository
    users: UserContacts
    user_roles: UserRoleRepository
    audit: AuditLog
    checkpoints: CheckpointStore
    directory: DirectoryWriter
    intents: IntentLog
    mso_doctors: MsoDoctorRepository
    #: The embedded flag provider's table (`SqlFeatureFlags`), not a port of the core.
    flag_overrides: SqlFlagOverrides
    mso_sessions: MsoSessionRepository
    #: The sandbox gateway's ledger (`SandboxPaymentGateway`), not a port of the core.
    sandbox_refunds: SqlSandboxLedger
    #: The embedded identity provider's memberships (`SqlIdentityProvider`), likewise.
    embedded_memberships: SqlEmbeddedMemberships

    def __init__(
        self,
        engine: AsyncEngine,
        gate: WriterGate | None,
        clock: Clock,
        ids: IdGenerator,
        *,
        postgres: bool | None = None,
    ) -> None:
        self._engine = engine
        self._gate = gate
        self._clock = clock
        self._ids = ids
        self._connection: AsyncConnection | None = None
        self._postgres = not is_sqlite(engine.url) if postgres is None else postgres
        self._appended: list[dict[str, Any]] = []
        self._first_write: FirstWrite | None = None

    @property
    def connection(self) -> AsyncConnection:
        if self._connection is None:
            raise RuntimeError("transaction used outside its `async with` block")
        return self._connection

    async def __aenter__(self) -> Self:
        self._connection = await connect_or_unavailable(self._engine)
        if self._postgres:
            await self._connection.execution_options(isolation_level="AUTOCOMMIT")
        first = self._first_write = FirstWrite(
            self._connection,
            self._begin_writing,
            reconnect=self._reconnect if self._postgres else None,
        )
        connection = cast(AsyncConnection, first)
        self.providers = SqlProviderRepository(connection)
        self.tenants = SqlTenantRepository(connection)
        self.org_mappings = SqlOrgMappingRepository(connection)
        self.users = SqlUserContacts(connection)
        self.user_roles = SqlUserRoleRepository(connection)
        self.audit = SqlAuditLog(
            connection,
            self._clock,
            self._ids,
            appended=self._appended if self._postgres else None,
        )
        self.checkpoints = SqlCheckpointStore(connection)
        self.directory = SqlDirectoryWriter(connection)
        self.intents = SqlIntentLog(connection)
        self.mso_doctors = SqlMsoDoctorRepository(connection)
        self.flag_overrides = SqlFlagOverrides(connection)
        self.mso_sessions = SqlMsoSessionRepository(connection)
        self.sandbox_refunds = SqlSandboxLedger(connection)
        self.embedded_memberships = SqlEmbeddedMemberships(connection)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        lost = exc is not None and not isinstance(exc, AdminError) and connection_lost(exc)
        try:
            if lost:  # dropped, or silent past the statement timeout: never back to the pool
                await self.connection.invalidate()
            await self.connection.close()  # rolls back whatever was not committed
        finally:
            self._connection = None
            self._appended.clear()
            self._end_writing()
            self._first_write = None
        if exc is not None and not isinstance(exc, AdminError) and schema_missing(exc):
            # A process using the core on a database never migrated, whoever it is.
            raise never_migrated() from exc
        refused = None if exc is None or isinstance(exc, AdminError) else storage_refused(exc)
        if refused is not None:
            # A full disk, a read-only file, a server taking no writes: whatever the
            # transaction wrote was rolled back with it, and saying so beats a 500.
            raise refused from exc
        if lost:
            # Whatever the transaction wrote was not committed (or, lost in the commit
            # itself, is unknown to us, as with any commit whose answer never came): the
            # caller is told the database was out of reach, as when it cannot connect.
            assert exc is not None
            raise unavailable(exc) from exc

    async def _begin_writing(self) -> None:
        """Before the first statement that writes (see `FirstWrite`). SQLite: queue behind the
        process's other writers, then take the database's write lock (`BEGIN IMMEDIATE`), so
        that everything up to the commit is one transaction — a savepoint too, which on its
        own would begin and, released, commit a transaction of its own. PostgreSQL: leave the
        autocommit reads; the next statement begins the transaction."""
        if self._gate is not None:
            await self._gate.acquire()
            try:
                await (await driver_connection(self.connection)).begin_immediate()
            except BaseException:
                self._gate.release()
                raise
        elif self._postgres:
            await self.connection.commit()  # ends the autocommit reads; nothing to send
            await self.connection.execution_options(isolation_level=_READ_COMMITTED)

    async def _reconnect(self, error: BaseException) -> AsyncConnection:
        """A fresh connection in place of the transaction's, which its first statement found
        closed (`FirstWrite.attempt`), in the state that statement expects: autocommit
        reads, or writing. Every other connection of the pool opened before now is replaced
        at its next checkout (`retire_pool`): whatever ended this one (a restart, a
        failover, a network that forgot its idle connections) most likely ended them too,
        and the fresh connection must not be one of them."""
        log.info(
            "a pooled database connection was found closed (%s: %s); the pool is renewed and"
            " the statement runs on a fresh connection",
            type(error).__name__,
            error,
        )
        retire_pool(self._engine, error)
        await self.connection.invalidate()
        await self.connection.close()
        # Held from here, so that the exit closes it whatever comes next.
        fresh = self._connection = await connect_or_unavailable(self._engine)
        first = self._first_write
        writing = first is not None and first.writing
        await fresh.execution_options(isolation_level=_READ_COMMITTED if writing else "AUTOCOMMIT")
        return fresh

    def _end_writing(self) -> None:
        """After a commit or a rollback on SQLite: let the next writer in; a later write of
        this transaction queues and begins again."""
        first = self._first_write
        if first is not None and first.writing and self._gate is not None:
            first.writing = False
            self._gate.release()

    async def commit(self) -> None:
        try:
            await self._commit()
        except Exception as error:
            refused = chain_broken(error)  # the linking trigger refused a broken chain
            if refused is None:
                raise
            raise refused from error

    async def _commit(self) -> None:
        if self._first_write is not None:
            self._first_write.sent = True  # a commit, sent, is never run again
        if self._appended:
            try:
                await write_appended(self.connection, self._appended)
            finally:
                self._appended.clear()
        if self.connection.in_transaction():  # else there is nothing left to commit
            # The next statement begins a new transaction (autobegin).
            await self.connection.commit()
        self._end_writing()

    async def rollback(self) -> None:
        self._appended.clear()
        await self.connection.rollback()
        self._end_writing()


class SqlTransactions(Transactions[SqlTransaction]):
    def __init__(self, engine: AsyncEngine, clock: Clock, ids: IdGenerator) -> None:
        self.engine = engine
        self._clock = clock
        self._ids = ids
        self._postgres = not is_sqlite(engine.url)
        self._gate = None if self._postgres else WriterGate()

    def __call__(self) -> SqlTransaction:
        return SqlTransaction(
            self.engine, self._gate, self._clock, self._ids, postgres=self._postgres
        )
