"""Run the alembic migrations programmatically (`adminctl db upgrade`, `make run`, tests).

Migrations run as the schema owner. On PostgreSQL, `app_role` names the role the application
connects as; each migration grants it exactly the privileges it needs on the tables it creates,
and the upgrade lets it use the schema when it cannot yet (a hardened cluster revokes the
`public` schema from PUBLIC; table privileges alone then reach nothing).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sql.engine import create_engine
from adapters.sql.reads import driver_connection
from admin_core.health.model import SchemaAge, SchemaRevision
from admin_core.health.ports import DatabaseSchema

MIGRATIONS = Path(__file__).with_name("migrations")
#: The advisory lock key of schema upgrades: a fixed 64-bit number derived from a name.
MIGRATION_LOCK = int.from_bytes(
    hashlib.sha256(b"admin_core:schema_upgrade").digest()[:8], "big", signed=True
)
#: How long an upgrade on SQLite waits for the file's write lock: another process's upgrade
#: holds it for as long as its migrations take, a long table copy included.
SQLITE_LOCK_WAIT_S = 600.0
#: Where alembic keeps the schema's revision.
VERSION_TABLE = "alembic_version"


def _config(app_role: str | None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["app_role"] = app_role
    return config


@dataclass(frozen=True, slots=True)
class Upgrade:
    """The schema's revision before and after an upgrade (None: no schema)."""

    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


async def upgrade(url: str, *, app_role: str | None = None, revision: str = "head") -> Upgrade:
    """Bring the database at `url` to `revision`."""
    engine = create_engine(url, lock_timeout=SQLITE_LOCK_WAIT_S)
    try:
        return await upgrade_engine(engine, app_role=app_role, revision=revision)
    finally:
        await engine.dispose()


async def upgrade_engine(
    engine: AsyncEngine, *, app_role: str | None = None, revision: str = "head"
) -> Upgrade:
    config = _config(app_role)
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Replicas that migrate as they start take turns: the later ones find the schema
            # at head rather than racing to create the same tables.
            await connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
        elif connection.dialect.name == "sqlite":
            # The same on SQLite, with its write lock taken before the revision is read; it
            # also makes the migrations one transaction (the driver begins none before DDL),
            # so a process killed part way leaves the schema where it was, not half made.
            await (await driver_connection(connection)).begin_immediate()
        config.attributes["connection"] = connection

        def run(sync_connection: Connection) -> Upgrade:
            config.attributes["connection"] = sync_connection
            before = MigrationContext.configure(sync_connection).get_current_revision()
            if not known_revision(before):
                raise SchemaNewer(str(before))
            command.upgrade(config, revision)
            after = MigrationContext.configure(sync_connection).get_current_revision()
            return Upgrade(before=before, after=after)

        done = await connection.run_sync(run)
        if app_role and connection.dialect.name == "postgresql":
            await _grant_app_role(connection, app_role)
    return done


async def _grant_app_role(connection: AsyncConnection, app_role: str) -> None:
    """What the app role needs beside the tables' grants of the migrations: the schema
    (which hardened clusters revoke from PUBLIC), and reading the schema's revision, which
    `adminctl serve` checks before it serves."""
    schema = await connection.scalar(sa.text("select current_schema()"))
    role = app_role.replace('"', '""')
    usable = await connection.scalar(
        sa.text("select has_schema_privilege(:role, current_schema(), 'USAGE')"),
        {"role": app_role},
    )
    if not usable:
        name = str(schema).replace('"', '""')
        await connection.execute(sa.text(f'GRANT USAGE ON SCHEMA "{name}" TO "{role}"'))
    await connection.execute(sa.text(f'GRANT SELECT ON alembic_version TO "{role}"'))


class SchemaNewer(Exception):
    """The database is at a revision this release does not know: a later release migrated
    it (this one is a rollback). Nothing was changed."""

    def __init__(self, found: str) -> None:
        super().__init__(found)
        self.found = found


def known_revision(revision: str | None) -> bool:
    """Whether this release's migrations include `revision` (None, no schema, is known)."""
    if revision is None:
        return True
    try:
        return ScriptDirectory.from_config(_config(None)).get_revision(revision) is not None
    except CommandError:
        return False


def read_revision(connection: Connection) -> str | None:
    """The revision in `alembic_version` (None: no schema), read as alembic reads it, but
    without a migration context: making one logs two INFO lines ("Context impl ..."), and
    readiness reads the revision on every probe."""
    if not connection.dialect.has_table(connection, VERSION_TABLE):
        return None
    found = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()
    revisions = list(found)
    if len(revisions) > 1:
        raise CommandError(f"the schema has more than one head: {', '.join(revisions)}")
    return revisions[0] if revisions else None


def head_revision() -> str:
    """The revision this code's migrations end at."""
    head = ScriptDirectory.from_config(_config(None)).get_current_head()
    assert head is not None
    return head


async def schema_revision(url: str) -> str | None:
    """The revision the database at `url` is at (None: no schema)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(read_revision)
    finally:
        await engine.dispose()


class SqlDatabaseSchema(DatabaseSchema):
    """The revision in `alembic_version`, read on a connection of the application's pool, as
    the role it serves with (which `db upgrade` lets read it); on PostgreSQL, whether that
    connection's transactions may write (`transaction_read_only`: a hot standby, or
    `default_transaction_read_only` set on the database or role)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._head: str | None = None
        self._known: dict[str | None, bool] = {}

    async def revision(self) -> SchemaRevision:
        async with self._engine.connect() as connection:
            found = await connection.run_sync(read_revision)
            writable = connection.dialect.name != "postgresql" or (
                await connection.scalar(sa.text("SHOW transaction_read_only")) == "off"
            )
        if self._head is None:
            self._head = head_revision()
        if found == self._head:
            age = SchemaAge.CURRENT
        else:
            if found not in self._known:
                self._known[found] = known_revision(found)
            age = SchemaAge.OLDER if self._known[found] else SchemaAge.NEWER
        return SchemaRevision(found=found, needed=self._head, age=age, writable=writable)
