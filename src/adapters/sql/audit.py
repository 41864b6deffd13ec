"""The audit log on SQL: entries, their links into a chain, and one head row per chain.

An entry joins its chain when its transaction commits (docs/adr/0010-audit-hash-chain.md): on
PostgreSQL a deferred constraint trigger (migration 0005) locks the chain's head row, computes
the link and writes it; on SQLite, where the one writer already serialises transactions, this
adapter writes the link with the entry. Reads join entries to their links.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sql.locks import PostgresAdvisoryLock, beside_database
from adapters.sql.reads import Read, driver_connection, invalidate_unless_answered
from adapters.sql.tables import audit_chain_heads, audit_chain_links, audit_checkpoints, audit_log
from adapters.sql.types import UtcDateTime
from admin_core.audit.checkpoints import Checkpoint, SealedHead, parse_checkpoint
from admin_core.audit.errors import AuditChainBroken
from admin_core.audit.model import (
    CONTENT_FIELDS,
    GENESIS_HASH,
    AuditEntry,
    AuditFilter,
    AuditPosition,
    AuditRecord,
    ChainHead,
    chain_of,
    content_digest,
    draft,
    entry_of_row,
    link,
    prefix_upper_bound,
)
from admin_core.audit.ports import AuditLog, CheckpointLock, CheckpointStore
from admin_core.kernel.runtime import Clock, IdGenerator

#: SQLite: a prefix that matches more distinct actions than this is read as one range and
#: sorted instead of merged per action (docs/adr/0011-audit-cursor-and-index-design.md).
MAX_ACTION_BRANCHES = 64

_heads = audit_chain_heads.c
_links = audit_chain_links.c
_log = audit_log.c
#: What a query selects from `audit_log`; `_linked` adds the chain columns.
_CONTENT_COLUMNS = tuple(_log[name] for name in CONTENT_FIELDS)
_LINK_COLUMNS = (_links.seq, _links.prev_hash, _links.hash)
_NEWEST_FIRST = (_log.occurred_at.desc(), _log.id.desc())

_INSERT_ENTRY = audit_log.insert()
#: The append as the PostgreSQL driver runs it: positional, in `_DRIVER_COLUMNS` order.
_DRIVER_COLUMNS = (*CONTENT_FIELDS, "chain", "digest")
_DRIVER_INSERT_ENTRY = (
    f"INSERT INTO {audit_log.name} ({', '.join(_DRIVER_COLUMNS)}) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(_DRIVER_COLUMNS) + 1))})"
)


_DRIVER_JSON = (_DRIVER_COLUMNS.index("before"), _DRIVER_COLUMNS.index("after"))


def _driver_row(values: dict[str, Any]) -> tuple[Any, ...]:
    row = [values[name] for name in _DRIVER_COLUMNS]
    for i in _DRIVER_JSON:
        if row[i] is not None:
            row[i] = json.dumps(row[i])  # the dialect's jsonb codec takes JSON text
    return tuple(row)


async def write_appended(connection: AsyncConnection, appended: list[dict[str, Any]]) -> None:
    """Write the entries a PostgreSQL unit of work appended, at its commit, in one round trip.

    Inside an open transaction they join it. Alone (the unit of work ran no other statement),
    the statement is its own implicit transaction, atomic like `BEGIN; INSERT; COMMIT` (and
    `executemany` sends every row before one Sync, so several rows are one transaction too),
    which saves the two round trips of `BEGIN` and `COMMIT`."""
    driver = await driver_connection(connection)
    rows = [_driver_row(values) for values in appended]
    try:
        if len(rows) == 1:
            await driver.execute(_DRIVER_INSERT_ENTRY, *rows[0])
        else:
            await driver.executemany(_DRIVER_INSERT_ENTRY, rows)
    except BaseException as error:
        await invalidate_unless_answered(connection, driver, error)
        raise


#: A row of content and link columns, in `ROW_FIELDS` order, as an entry (by position).
_entry = entry_of_row


def _linked(page: Any) -> Any:
    """The entries of `page` (a newest-first selection of `_CONTENT_COLUMNS`), each joined to
    its link: one primary-key lookup per entry of the page."""
    rows = page.subquery("page")
    return (
        sa.select(*rows.c, *_LINK_COLUMNS)
        .join_from(rows, audit_chain_links, _links.entry_id == rows.c.id)
        .order_by(rows.c.occurred_at.desc(), rows.c.id.desc())
    )


_EQUALS = ("actor_id", "tenant_id", "case_id", "patient_id")


def _values(
    audit_filter: AuditFilter, before: AuditPosition | None = None, limit: int | None = None
) -> dict[str, Any]:
    """The bind values of a query; which keys are present is the statement's shape."""
    f = audit_filter
    values: dict[str, Any] = {}
    if f.action_exact is not None:
        values["action"] = f.action_exact
    prefix = f.action_prefix
    if prefix:
        values["prefix"], values["upper"] = prefix, prefix_upper_bound(prefix)
    for name in _EQUALS:
        if getattr(f, name) is not None:
            values[name] = getattr(f, name)
    if f.occurred_from is not None:
        values["occurred_from"] = f.occurred_from
    if f.occurred_to is not None:
        values["occurred_to"] = f.occurred_to
    if before is not None:
        values["before_at"], values["before_id"] = before.occurred_at, before.id
    if limit is not None:
        values["limit"] = limit
    return values


def _bind(name: str, type_: Any) -> Any:
    return sa.bindparam(name, type_=type_)


def _where(shape: frozenset[str], *, prefix_range: bool = True) -> list[Any]:
    """The conditions of a query shape, on bind parameters named like `_values` keys."""
    where: list[Any] = []
    if "action" in shape:
        where.append(_log.action == _bind("action", _log.action.type))
    if "prefix" in shape and prefix_range:
        where.append(_log.action >= _bind("prefix", _log.action.type))
        where.append(_log.action < _bind("upper", _log.action.type))
    where += [_log[name] == _bind(name, sa.Text) for name in _EQUALS if name in shape]
    if "occurred_from" in shape:
        where.append(_log.occurred_at >= _bind("occurred_from", UtcDateTime))
    if "occurred_to" in shape:
        where.append(_log.occurred_at <= _bind("occurred_to", UtcDateTime))
    if "before_at" in shape:
        where.append(
            sa.tuple_(_log.occurred_at, _log.id)
            < sa.tuple_(_bind("before_at", UtcDateTime), _bind("before_id", _log.id.type))
        )
    return where


def _matching_actions() -> Any:
    """The distinct actions in [`prefix`, `upper`), as a recursive CTE that reads one index
    entry per action (a loose index scan) however many entries each action has. Its last row
    is NULL."""
    first = (
        sa.select(sa.func.min(_log.action))
        .where(
            _log.action >= _bind("prefix", _log.action.type),
            _log.action < _bind("upper", _log.action.type),
        )
        .scalar_subquery()
    )
    matching = sa.select(first.label("action")).cte("matching_actions", recursive=True)
    later = audit_log.alias("later")
    following = (
        sa.select(sa.func.min(later.c.action))
        .where(
            later.c.action > matching.c.action, later.c.action < _bind("upper", _log.action.type)
        )
        .scalar_subquery()
    )
    return matching.union_all(
        sa.select(following.label("action")).where(matching.c.action.is_not(None))
    )


# Statements are built once per query shape (which filters are present) and reused with new
# values: building and cache-keying a statement costs more than running it.


#: The filters that pick rows by one value each, with their bind types.
_KEYS = {"action": _log.action.type, **{name: sa.Text() for name in _EQUALS}}


def _keyed_page(shape: frozenset[str]) -> Any:
    """PostgreSQL, a shape with `=` filters: the values come from a materialised CTE and the
    page is read by a LATERAL subquery, so the planner plans it for a value it cannot see
    and takes the index that leads with the filtered column. Planned for the value itself, a
    frequent value (the busiest tenant, the commonest action) looked cheap to find by walking
    the time index backward, which is true only while its entries are spread evenly over
    time; after a burst of another tenant's entries that walk read tens of thousands of rows
    for one page (docs/adr/0057)."""
    keys = [name for name in _KEYS if name in shape]
    given = (
        sa.select(*(_bind(name, _KEYS[name]).label(name) for name in keys))
        .cte("given")
        .prefix_with("MATERIALIZED")
    )
    rest = frozenset(shape - set(keys))
    page = (
        sa.select(*_CONTENT_COLUMNS)
        .where(*(_log[name] == given.c[name] for name in keys), *_where(rest))
        .order_by(*_NEWEST_FIRST)
        .limit(_bind("limit", sa.Integer))
        .lateral("page")
    )
    return _linked(sa.select(*page.c).select_from(given.join(page, sa.true())))


@functools.cache
def _page_statement(shape: frozenset[str]) -> Read:
    """A page of entries. PostgreSQL: the page is chosen first, then each entry joined to its
    link (ADR 0011), the page by `_keyed_page` when a filter is `=`; SQLite, whose planner
    only nests loops, reads the same page straight from one join in index order, without
    materialising and sorting the page again."""
    per_dialect = {
        "sqlite": sa.select(*_CONTENT_COLUMNS, *_LINK_COLUMNS)
        .join_from(audit_log, audit_chain_links, _links.entry_id == _log.id)
        .where(*_where(shape))
        .order_by(*_NEWEST_FIRST)
        .limit(_bind("limit", sa.Integer))
    }
    if shape & _KEYS.keys():
        per_dialect["postgresql"] = _keyed_page(shape)
    return Read(
        _linked(
            sa.select(*_CONTENT_COLUMNS)
            .where(*_where(shape))
            .order_by(*_NEWEST_FIRST)
            .limit(_bind("limit", sa.Integer))
        ),
        per_dialect=per_dialect,
    )


@functools.cache
def _lateral_statement(shape: frozenset[str]) -> Read:
    """PostgreSQL, one statement for a prefix: find the matching actions by a loose index
    scan, read each one's newest `limit` entries by a range scan (LATERAL), keep the newest
    `limit` of those. The page costs the same at any depth."""
    matching = _matching_actions()
    per_action = (
        sa.select(*_CONTENT_COLUMNS)
        .where(_log.action == matching.c.action, *_where(shape, prefix_range=False))
        .order_by(*_NEWEST_FIRST)
        .limit(_bind("limit", sa.Integer))
        .lateral("per_action")
    )
    return Read(
        _linked(
            sa.select(*per_action.c)
            .select_from(matching.join(per_action, sa.true()))
            .order_by(per_action.c.occurred_at.desc(), per_action.c.id.desc())
            .limit(_bind("limit", sa.Integer))
        )
    )


@functools.cache
def _count_statement(shape: frozenset[str]) -> Any:
    return sa.select(sa.func.count()).select_from(audit_log).where(*_where(shape))


_ACTIONS_WITH_PREFIX = sa.select(_matching_actions())


#: A chain's entries in `seq` order after a seq. An entry deleted behind the application's
#: back drops out of the join: verification then sees a gap in `seq`.
def _chain_statement(*columns: Any) -> Any:
    return (
        sa.select(*columns)
        .join_from(audit_chain_links, audit_log, _log.id == _links.entry_id)
        .where(
            _links.chain == _bind("chain", sa.Text),
            _links.seq > _bind("after_seq", sa.BigInteger),
        )
        .order_by(_links.seq)
        .limit(_bind("limit", sa.Integer))
    )


#: PostgreSQL hands `occurred_at` over in UTC already (asyncpg, timestamptz), so its column
#: needs no result processor there, and each row is taken as it comes.
_CHAIN = Read(
    _chain_statement(*_CONTENT_COLUMNS, *_LINK_COLUMNS),
    per_dialect={
        "postgresql": _chain_statement(
            *(
                sa.type_coerce(c, sa.DateTime(timezone=True)).label(c.name)
                if c is _log.occurred_at
                else c
                for c in _CONTENT_COLUMNS
            ),
            *_LINK_COLUMNS,
        )
    },
)


def _union_statement(shape: frozenset[str], actions: Sequence[str]) -> Any:
    """Portable (no LATERAL): one newest-first range scan per action, merged by UNION ALL;
    each branch reads at most `limit` index entries, so the page costs the same at any
    depth."""
    common = _where(shape, prefix_range=False)
    branches = [
        sa.select(*_CONTENT_COLUMNS)
        .where(_log.action == action, *common)
        .order_by(*_NEWEST_FIRST)
        .limit(_bind("limit", sa.Integer))
        .subquery()
        for action in actions
    ]
    merged: Any = (
        branches[0]
        if len(branches) == 1
        else sa.union_all(*(sa.select(*b.c) for b in branches)).subquery()
    )
    return _linked(
        sa.select(*merged.c)
        .order_by(merged.c.occurred_at.desc(), merged.c.id.desc())
        .limit(_bind("limit", sa.Integer))
    )


class SqlAuditLog(AuditLog):
    """`append` records the entry; the entry joins its chain when the transaction commits.
    On PostgreSQL the row itself is written at commit too, by the unit of work in one round
    trip (`write_appended`, docs/adr/0007-sql-unit-of-work.md).

    PostgreSQL: the deferred trigger `audit_log_link_at_commit` locks the chain's head row at
    COMMIT, so writers of one chain queue only for the server's commit work, never for a
    client round trip. SQLite: the adapter advances the head and writes the link with the
    entry, inside the single writer's transaction. Either way a rolled-back append leaves no
    gap, two writers never share a `seq`, and writers of different chains never wait for each
    other."""

    def __init__(
        self,
        connection: AsyncConnection,
        clock: Clock,
        ids: IdGenerator,
        *,
        appended: list[dict[str, Any]] | None = None,
    ) -> None:
        self._connection = connection
        self._clock = clock
        self._ids = ids
        #: PostgreSQL: entries appended and not yet written; the unit of work writes them at
        #: commit (`write_appended`), a read of the log in the same transaction before.
        self._appended = appended

    @property
    def _postgres(self) -> bool:
        return bool(self._connection.dialect.name == "postgresql")

    async def append(self, record: AuditRecord) -> AuditEntry:
        entry = draft(record, entry_id=self._ids.new_id("aud"), occurred_at=self._clock.now())
        values = {name: getattr(entry, name) for name in CONTENT_FIELDS}
        values |= {"chain": chain_of(record.tenant_id), "digest": content_digest(entry)}
        if self._appended is not None:
            self._appended.append(values)
            return entry
        await self._connection.execute(_INSERT_ENTRY, values)
        if not self._postgres:
            await self._link_now(entry, values["chain"], values["digest"])
        return entry

    async def _write_appended(self) -> None:
        """Before a read of the log: what this transaction appended is written first, through
        SQLAlchemy, which begins the transaction if none is open (the driver alone would commit
        the rows at once, ahead of the unit of work)."""
        if self._appended:
            await self._connection.execute(_INSERT_ENTRY, self._appended)
            self._appended.clear()

    async def _link_now(self, entry: AuditEntry, chain: str, digest: str) -> None:
        """SQLite, inside the one writer's transaction: link the entry after the chain's head,
        then move the head one step (the order migration 0008's triggers demand). A chain
        whose head and links disagree is refused, never repaired."""
        row = (
            await self._connection.execute(
                sa.select(_heads.seq, _heads.hash).where(_heads.chain == chain)
            )
        ).one_or_none()
        if row is None:
            await self._connection.execute(
                audit_chain_heads.insert().values(
                    chain=chain, seq=0, hash=GENESIS_HASH, prev_hash=GENESIS_HASH
                )
            )
            seq, head_hash = 0, GENESIS_HASH
        else:
            seq, head_hash = int(row.seq), row.hash
        near = dict(
            (
                await self._connection.execute(
                    sa.select(_links.seq, _links.hash).where(
                        _links.chain == chain, _links.seq.in_([seq, seq + 1])
                    )
                )
            ).all()
        )
        if seq + 1 in near:
            raise AuditChainBroken(chain, "links_beyond_head")
        if seq > 0 and near.get(seq) != head_hash:
            raise AuditChainBroken(chain, "head_mismatch")
        linked = link(entry, seq=seq + 1, prev_hash=head_hash, digest=digest)
        await self._connection.execute(
            audit_chain_links.insert().values(
                chain=chain,
                seq=linked.seq,
                entry_id=linked.id,
                prev_hash=linked.prev_hash,
                hash=linked.hash,
            )
        )
        await self._connection.execute(
            audit_chain_heads.update()
            .where(_heads.chain == chain)
            .values(seq=linked.seq, hash=linked.hash, prev_hash=linked.prev_hash)
        )

    # ------------------------------------------------------------------ reads

    async def query(
        self, audit_filter: AuditFilter, *, before: AuditPosition | None, limit: int
    ) -> Sequence[AuditEntry]:
        await self._write_appended()
        values = _values(audit_filter, before, limit)
        shape = frozenset(values)
        if "prefix" in values and self._postgres:
            read = _lateral_statement(shape)
        elif "prefix" in values:
            actions = [
                a
                for a in (await self._connection.execute(_ACTIONS_WITH_PREFIX, values)).scalars()
                if a is not None
            ]
            if not actions:
                return []
            if len(actions) <= MAX_ACTION_BRANCHES:  # one statement per set of actions
                statement = _union_statement(shape, actions)
                result = await self._connection.execute(statement, values)
                return [_entry(row) for row in result]
            read = _page_statement(shape)
        else:
            read = _page_statement(shape)
        return [_entry(row) for row in await read.rows(self._connection, values)]

    async def count(self, audit_filter: AuditFilter) -> int:
        await self._write_appended()
        values = _values(audit_filter)
        result = await self._connection.scalar(_count_statement(frozenset(values)), values)
        return int(result or 0)

    async def head(self, chain: str) -> ChainHead | None:
        row = (
            await self._connection.execute(
                sa.select(_heads.seq, _heads.hash).where(_heads.chain == chain)
            )
        ).one_or_none()
        if row is None or int(row.seq) == 0:
            return None
        return ChainHead(chain=chain, seq=int(row.seq), hash=row.hash)

    async def read_chain(self, chain: str, *, after_seq: int, limit: int) -> Sequence[AuditEntry]:
        rows = await self.read_chain_rows(chain, after_seq=after_seq, limit=limit)
        return [_entry(row) for row in rows]

    async def read_chain_rows(
        self, chain: str, *, after_seq: int, limit: int
    ) -> Sequence[Sequence[Any]]:
        values = {"chain": chain, "after_seq": after_seq, "limit": limit}
        return await _CHAIN.rows(self._connection, values)


#: PostgreSQL's answer when the linking trigger refuses a chain (migration 0008), by SQLSTATE.
_CHAIN_REFUSALS = {"AU001": "links_beyond_head", "AU002": "head_mismatch"}


def chain_broken(error: BaseException) -> AuditChainBroken | None:
    """The core error for a commit the linking trigger refused, identified by SQLSTATE (the
    chain is the error's DETAIL); None for any other error."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        state = getattr(current, "sqlstate", None)
        if state in _CHAIN_REFUSALS:
            chain = str(getattr(current, "detail", None) or "?")
            return AuditChainBroken(chain, _CHAIN_REFUSALS[state])
        current = getattr(current, "orig", None) or current.__cause__
    return None


_checkpoints = audit_checkpoints.c


class SqlCheckpointStore(CheckpointStore):
    """Checkpoints in `audit_checkpoints` (append-only by trigger, migration 0008)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def heads(self) -> Sequence[SealedHead]:
        rows = await self._connection.execute(
            sa.select(_heads.chain, _heads.seq, _heads.hash)
            .where(_heads.seq > 0)
            .order_by(_heads.chain)
        )
        return sorted(SealedHead(chain=r.chain, seq=int(r.seq), hash=r.hash) for r in rows)

    async def latest(self) -> Checkpoint | None:
        document = await self._connection.scalar(
            sa.select(_checkpoints.document).order_by(_checkpoints.seq.desc()).limit(1)
        )
        return parse_checkpoint(document) if document is not None else None

    async def add(self, checkpoint: Checkpoint) -> bool:
        values = {
            "seq": checkpoint.seq,
            "created_at": checkpoint.created_at,
            "hash": checkpoint.hash,
            "document": checkpoint.document().decode("ascii"),
        }
        if self._connection.dialect.name == "postgresql":
            statement = (
                postgresql.insert(audit_checkpoints)
                .values(values)
                .on_conflict_do_nothing(index_elements=["seq"])
                .returning(_checkpoints.seq)
            )
            return (await self._connection.execute(statement)).one_or_none() is not None
        try:  # SQLite: a taken seq is refused by trigger, and only this statement undone
            await self._connection.execute(audit_checkpoints.insert().values(values))
        except sqlalchemy.exc.IntegrityError:
            return False
        return True

    async def documents(self, *, after_seq: int, limit: int) -> Sequence[tuple[int, bytes]]:
        rows = await self._connection.execute(
            sa.select(_checkpoints.seq, _checkpoints.document)
            .where(_checkpoints.seq > after_seq)
            .order_by(_checkpoints.seq)
            .limit(limit)
        )
        return [(int(r.seq), r.document.encode("ascii")) for r in rows]


#: The advisory lock key of the checkpoint writer (the graph rebuild's is another).
CHECKPOINT_LOCK_KEY = 0x0AD17C4E


class PostgresCheckpointLock(PostgresAdvisoryLock, CheckpointLock):
    """`pg_try_advisory_lock` on its own key: one checkpoint writer across every replica."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine, CHECKPOINT_LOCK_KEY)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        """`pg_advisory_lock_shared` on the writer's key: waits for a writer to finish, and
        a writer's `pg_try_advisory_lock` fails while any reader holds it."""
        async with self.shared():
            yield


class SqliteCheckpointLock(CheckpointLock):
    """`flock` of a file beside the SQLite database (`<file>.audit_checkpoint.lock`): the
    processes on one file (a server writing its periodic checkpoints, `adminctl audit verify`
    or `audit checkpoint` beside it) share its checkpoints and their directory. The writer
    holds it exclusively, readers shared; let go when the holder dies."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        async with beside_database(self._url, "audit_checkpoint", wait=0) as taken:
            yield taken

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        async with beside_database(self._url, "audit_checkpoint", shared=True, wait=None):
            yield
