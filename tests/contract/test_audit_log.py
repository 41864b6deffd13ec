"""Contract of the audit log: every adapter appends, filters, pages and verifies alike, and the
databases refuse to change what was written."""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

import asyncpg
import pytest

from adapters.memory.transaction import InMemoryTransactions
from admin_core.audit.model import (
    AuditEntry,
    AuditFilter,
    AuditRecord,
    BreakReason,
    chain_of,
    link,
    newest_first,
)
from admin_core.audit.recording import audit_record
from admin_core.audit.use_cases import (
    AuditQuery,
    QueryAuditLog,
    VerifyAuditChain,
    VerifyAuditChainQuery,
)
from admin_core.kernel.errors import ValidationFailed
from admin_core.kernel.principal import Principal
from admin_core.kernel.transaction import Transactions
from admin_core.users.model import UserContact
from tests.support.clock import ManualClock
from tests.support.databases import database
from tests.support.services import service_url

OPERATOR = Principal.operator("contract")
ACTOR = replace(OPERATOR, request_id="req-contract")
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0, step=timedelta(seconds=1))


@pytest.fixture
async def uow(backend: str, tmp_path: Path, clock: ManualClock) -> AsyncIterator[Transactions]:
    async with database(backend, tmp_path, clock=clock) as factory:
        yield factory


def record(
    n: int = 0,
    *,
    tenant_id: str | None = "tenant-a",
    action: str = "tenant.update",
    actor_id: str = "user_1",
    case_id: str | None = None,
    patient_id: str | None = None,
    after: dict[str, Any] | None = None,
) -> AuditRecord:
    return AuditRecord(
        tenant_id=tenant_id,
        actor_id=actor_id,
        actor_role="org:admin",
        action=action,
        event_type="ADMIN_" + action.upper().replace(".", "_"),
        resource_type=action.split(".")[0],
        resource_id=f"res-{n}",
        case_id=case_id,
        patient_id=patient_id,
        request_id=f"req-{n}",
        before={"n": n - 1},
        after=after if after is not None else {"n": n},
    )


async def append(uow: Transactions, *records: AuditRecord) -> list[AuditEntry]:
    """Append in one unit of work and commit; the entries as read back, linked."""
    async with uow() as tx:
        written = [await tx.audit.append(r) for r in records]
        await tx.commit()
    return await read_back(uow, written)


async def read_back(uow: Transactions, written: list[AuditEntry]) -> list[AuditEntry]:
    """The committed entries, with their places in their chains, in the order given."""
    linked: dict[str, AuditEntry] = {}
    async with uow() as tx:
        for chain in {entry.chain for entry in written}:
            linked |= {e.id: e for e in await tx.audit.read_chain(chain, after_seq=0, limit=10**6)}
    return [linked[entry.id] for entry in written]


async def query(
    uow: Transactions, audit_filter: AuditFilter, limit: int = 1000
) -> list[AuditEntry]:
    async with uow() as tx:
        return list(await tx.audit.query(audit_filter, before=None, limit=limit))


async def verify(uow: Transactions, tenant_id: str | None, batch_size: int = 5000) -> Any:
    return await VerifyAuditChain(uow, batch_size=batch_size).execute(
        OPERATOR, VerifyAuditChainQuery(tenant_id=tenant_id)
    )


# --------------------------------------------------------------------------- append


async def test_each_chain_counts_from_one_and_links_to_its_previous_entry(
    uow: Transactions,
) -> None:
    entries = await append(
        uow,
        record(1, tenant_id="tenant-a"),
        record(2, tenant_id="tenant-b"),
        record(3, tenant_id="tenant-a"),
        record(4, tenant_id=None, action="graph.rebuild"),
        record(5, tenant_id="tenant-a"),
    )
    a = [e for e in entries if e.tenant_id == "tenant-a"]
    assert [e.seq for e in a] == [1, 2, 3]
    assert [e.prev_hash for e in a[1:]] == [e.hash for e in a[:-1]]
    assert (entries[1].seq, entries[3].seq) == (1, 1)
    assert entries[3].chain == "platform"
    for tenant_id, count in (("tenant-a", 3), ("tenant-b", 1), (None, 1)):
        result = await verify(uow, tenant_id)
        assert (result.ok, result.entries_checked, result.broken_at) == (True, count, None)


async def test_an_entry_reads_back_exactly_as_appended(uow: Transactions) -> None:
    (entry,) = await append(
        uow, record(1, case_id="case-1", patient_id="pat-1", after={"name": "Zürich 東京"})
    )
    assert await query(uow, AuditFilter()) == [entry]
    assert entry.occurred_at == T0
    assert entry.request_id == "req-1"


class Colour(StrEnum):
    RED = "red"


async def test_before_and_after_survive_the_store_and_still_verify(
    uow: Transactions,
) -> None:
    after = {
        "float": 0.1,
        "tiny": 1.5e-07,
        "integral_float": 2.0,
        "huge_float": 1e20,
        "big_int": 2**70,
        "negative": -3.25,
        "text": 'quote " backslash \\ tab \t emoji 🩺',
        "nested": {"list": [1, "two", None, True], "empty": {}},
        "when": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        "day": date(2026, 1, 2),
        "money": Decimal("12.50"),
        "colour": Colour.RED,
        "tags": frozenset({"b", "a"}),
        "pair": (1, 2),
    }
    (entry,) = await append(uow, record(1, after=after))
    assert entry.after == {
        "float": 0.1,
        "tiny": 1.5e-07,
        "integral_float": 2,
        "huge_float": 10**20,
        "big_int": 2**70,
        "negative": -3.25,
        "text": 'quote " backslash \\ tab \t emoji 🩺',
        "nested": {"list": [1, "two", None, True], "empty": {}},
        "when": "2026-01-02T03:04:05.000006Z",
        "day": "2026-01-02",
        "money": "12.50",
        "colour": "red",
        "tags": ["a", "b"],
        "pair": [1, 2],
    }
    assert await query(uow, AuditFilter()) == [entry]
    assert (await verify(uow, "tenant-a")).ok


async def test_values_that_cannot_be_stored_are_refused_before_anything_is_written(
    uow: Transactions,
) -> None:
    for bad in ({"x": float("nan")}, {"x": object()}, {1: "int key"}):
        async with uow() as tx:
            with pytest.raises(ValueError, match="after"):
                await tx.audit.append(record(1, after=bad))  # type: ignore[arg-type]
    assert await query(uow, AuditFilter()) == []


async def test_a_rolled_back_append_leaves_no_gap(uow: Transactions) -> None:
    async with uow() as tx:
        await tx.audit.append(record(1))
    (entry,) = await append(uow, record(2))
    assert entry.seq == 1
    assert (await verify(uow, "tenant-a")).ok


async def test_an_entry_joins_its_chain_when_its_unit_of_work_commits(
    uow: Transactions,
) -> None:
    (first,) = await append(uow, record(1))
    async with uow() as tx:
        written = await tx.audit.append(record(2))
        assert (written.seq, written.prev_hash, written.hash) == (0, "", "")
        await tx.commit()

    (linked,) = await read_back(uow, [written])

    assert (linked.seq, linked.prev_hash) == (2, first.hash)
    assert linked.hash == link(written, seq=2, prev_hash=first.hash).hash
    assert (await verify(uow, "tenant-a")).ok


async def test_an_entry_and_the_change_it_records_commit_or_roll_back_together(
    uow: Transactions,
) -> None:
    def user(n: int) -> UserContact:
        return UserContact(id=f"user_{n}", email=None, name=f"User {n}", updated_at=T0)

    async with uow() as tx:
        await tx.users.upsert(user(1))
        await tx.audit.append(record(1))
    async with uow() as tx:  # recorded after the change, then left without commit
        await tx.audit.append(record(2))
        await tx.users.upsert(user(2))
    async with uow() as tx:
        await tx.audit.append(record(3))
        await tx.users.upsert(user(3))
        await tx.commit()

    async with uow() as tx:
        assert set(await tx.users.get_many(["user_1", "user_2", "user_3"])) == {"user_3"}
    assert [(e.resource_id, e.seq) for e in await query(uow, AuditFilter())] == [("res-3", 1)]


async def test_entries_of_several_chains_in_one_unit_of_work_all_join_their_chains(
    uow: Transactions,
) -> None:
    records = [record(n, tenant_id=tenant) for n in range(6) for tenant in ("tenant-a", None)]

    entries = await append(uow, *records)

    assert [e.seq for e in entries] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]
    assert (await verify(uow, "tenant-a")).ok
    assert (await verify(uow, None)).ok


async def test_audit_record_fills_in_the_actor_and_the_request(uow: Transactions) -> None:
    async with uow() as tx:
        entry = await tx.audit.append(
            audit_record(
                ACTOR,
                action="tenant.update",
                event_type="ADMIN_TENANT_UPDATE",
                resource_type="tenant",
                resource_id="tenant-a",
                tenant_id="tenant-a",
                before={"name": "Old"},
                after={"name": "New"},
            )
        )
        await tx.commit()
    assert (entry.actor_id, entry.actor_role, entry.request_id) == (
        "cli:contract",
        "org:super_admin",
        "req-contract",
    )
    assert await query(uow, AuditFilter(actor_id="cli:contract")) == await read_back(uow, [entry])


# --------------------------------------------------------------------------- filters

ACTIONS = (
    "tenant.create",
    "tenant.update",
    "tenant_settings.update",
    "tenants.export",
    "flag.identity_override",
    "flag.identity_override_removed",
    "user_role.assign",
    "mso_session.refund",
)


async def seed_history(uow: Transactions, clock: ManualClock) -> list[AuditEntry]:
    """72 entries over three days, every field varied, some sharing a timestamp."""
    records = []
    for n in range(72):
        records.append(
            record(
                n,
                tenant_id=(None, "tenant-a", "tenant-b", "tenant-c")[n % 4],
                action=ACTIONS[n % len(ACTIONS)],
                actor_id=f"user_{n % 5}",
                case_id=f"case-{n % 3}" if n % 2 else None,
                patient_id=f"pat-{n % 4}" if n % 3 == 0 else None,
            )
        )
    entries = []
    for n, rec in enumerate(records):
        clock.set(T0 + timedelta(hours=n) - timedelta(minutes=30 * (n % 2)))
        entries += await append(uow, rec)
    return newest_first(entries)


FILTERS = (
    AuditFilter(),
    AuditFilter(tenant_id="tenant-a"),
    AuditFilter(actor_id="user_3"),
    AuditFilter(action="tenant.update"),
    AuditFilter(action="tenant."),
    AuditFilter(action="tenant*"),
    AuditFilter(action="flag.identity_override*"),
    AuditFilter(action="flag.identity_override"),
    AuditFilter(action="user_role."),
    AuditFilter(action="nothing."),
    AuditFilter(action="tenant"),
    AuditFilter(case_id="case-1"),
    AuditFilter(patient_id="pat-0"),
    AuditFilter(tenant_id="tenant-b", action="tenant*", actor_id="user_2"),
    AuditFilter(tenant_id="tenant-c", case_id="case-2"),
    AuditFilter(action="flag.", patient_id="pat-0", case_id="case-0"),
    AuditFilter(
        tenant_id="tenant-a",
        action="tenant.",
        occurred_from=T0 + timedelta(hours=10),
        occurred_to=T0 + timedelta(hours=40),
    ),
    AuditFilter(occurred_from=T0 + timedelta(hours=70)),
    AuditFilter(occurred_to=T0 + timedelta(hours=3, minutes=30)),
)


async def test_every_filter_and_combination_returns_what_the_reference_filter_does(
    uow: Transactions, clock: ManualClock
) -> None:
    history = await seed_history(uow, clock)
    for audit_filter in FILTERS:
        expected = [e for e in history if audit_filter.matches(e)]
        assert await query(uow, audit_filter) == expected, audit_filter
        async with uow() as tx:
            assert await tx.audit.count(audit_filter) == len(expected), audit_filter


async def test_prefix_matching_is_a_prefix_and_exact_matching_is_exact(
    uow: Transactions, clock: ManualClock
) -> None:
    await seed_history(uow, clock)

    async def actions(action: str) -> set[str]:
        return {e.action for e in await query(uow, AuditFilter(action=action))}

    assert await actions("tenant.") == {"tenant.create", "tenant.update"}
    assert await actions("tenant*") == {
        "tenant.create",
        "tenant.update",
        "tenant_settings.update",
        "tenants.export",
    }
    assert await actions("flag.identity_override*") == {
        "flag.identity_override",
        "flag.identity_override_removed",
    }
    assert await actions("flag.identity_override") == {"flag.identity_override"}
    assert await actions("user_role.") == {"user_role.assign"}
    assert await actions("tenant") == set()
    assert await actions("user%.") == set()


async def test_a_prefix_spanning_many_actions_still_returns_the_newest_first(
    uow: Transactions,
) -> None:
    entries = await append(
        uow, *(record(n, action=f"bulk.action_{n:03d}", actor_id="bulk") for n in range(80))
    )
    expected = newest_first(entries)
    assert await query(uow, AuditFilter(action="bulk."), limit=25) == expected[:25]
    async with uow() as tx:
        deeper = await tx.audit.query(
            AuditFilter(action="bulk."), before=expected[24].position, limit=10
        )
    assert list(deeper) == expected[25:35]


async def test_date_bounds_are_inclusive_for_dates_and_date_times(
    uow: Transactions, clock: ManualClock
) -> None:
    times = [
        datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 1, 0, 0, tzinfo=UTC),
        datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 2, 0, 0, tzinfo=UTC),
    ]
    for n, moment in enumerate(times):
        clock.set(moment)
        await append(uow, record(n))
    use_case = QueryAuditLog(uow)

    async def seen(**bounds: Any) -> list[datetime]:
        page = await use_case.execute(OPERATOR, AuditQuery(**bounds))
        return sorted(e.occurred_at for e in page.entries)

    assert await seen(from_date="2026-03-01", to_date="2026-03-01") == times[1:4]
    assert await seen(from_date=date(2026, 3, 1), to_date=date(2026, 3, 1)) == times[1:4]
    assert (
        await seen(from_date="2026-03-01T12:00:00Z", to_date="2026-03-02T00:00:00") == (times[2:])
    )
    assert await seen(to_date="2026-03-01T00:00:00+00:00") == times[:2]
    assert await seen(from_date="2026-03-01T13:00:00+01:00", to_date="2026-03-01T12:00Z") == [
        times[2]
    ]


# --------------------------------------------------------------------------- pages


async def walk(
    uow: Transactions,
    query_: AuditQuery,
    between_pages: Any = None,
) -> list[AuditEntry]:
    use_case = QueryAuditLog(uow)
    seen: list[AuditEntry] = []
    cursor = None
    for page_number in itertools.count():
        page = await use_case.execute(OPERATOR, replace(query_, cursor=cursor))
        assert len(page.entries) <= query_.limit
        seen += page.entries
        if page.next_cursor is None:
            return seen
        assert len(page.entries) == query_.limit
        cursor = page.next_cursor
        if between_pages is not None:
            await between_pages(page_number)
    raise AssertionError("unreachable")


async def test_pages_neither_skip_nor_repeat_while_entries_are_appended(
    uow: Transactions, clock: ManualClock
) -> None:
    history = await seed_history(uow, clock)
    clock.set(T0 + timedelta(days=10))
    appended: list[AuditEntry] = []

    async def append_more(page_number: int) -> None:
        appended.extend(
            await append(
                uow,
                record(100 + page_number, tenant_id="tenant-a", action="tenant.update"),
                record(200 + page_number, tenant_id="tenant-b", action="tenant.create"),
            )
        )

    for q in (
        AuditQuery(limit=7),
        AuditQuery(action="tenant.", limit=4),
        AuditQuery(tenant_id="tenant-a", limit=5),
        AuditQuery(action="tenant*", tenant_id="tenant-b", limit=3),
    ):
        audit_filter = AuditFilter(action=q.action, tenant_id=q.tenant_id)
        expected = [e for e in newest_first([*history, *appended]) if audit_filter.matches(e)]
        assert await walk(uow, q, append_more) == expected, q
    assert appended
    page = await QueryAuditLog(uow).execute(OPERATOR, AuditQuery(limit=2))
    assert list(page.entries) == newest_first(appended)[:2]


async def test_entries_with_the_same_time_are_paged_by_id(
    uow: Transactions, clock: ManualClock
) -> None:
    clock.step = timedelta(0)
    entries = await append(uow, *(record(n) for n in range(23)))
    assert await walk(uow, AuditQuery(limit=4)) == newest_first(entries)


async def test_a_cursor_only_works_with_the_filters_it_was_issued_for(
    uow: Transactions,
) -> None:
    await append(uow, *(record(n) for n in range(5)))
    use_case = QueryAuditLog(uow)
    page = await use_case.execute(OPERATOR, AuditQuery(action="tenant.", limit=2))
    assert page.next_cursor
    other_last = "B" if page.next_cursor.endswith("A") else "A"
    for bad in (
        AuditQuery(action="tenant.update", cursor=page.next_cursor),
        AuditQuery(action="tenant.", cursor=page.next_cursor[:-2]),
        AuditQuery(action="tenant.", cursor=page.next_cursor[:-1] + other_last),
        AuditQuery(action="tenant.", cursor="not a cursor"),
    ):
        with pytest.raises(ValidationFailed) as raised:
            await use_case.execute(OPERATOR, bad)
        assert [e.field for e in raised.value.errors] == ["cursor"]


# --------------------------------------------------------------------------- verify


LINKS = frozenset({"seq", "prev_hash", "hash"})


@dataclass
class Backdoor:
    """Changes the stored log the way someone with database superuser rights could."""

    backend: str
    uow: Transactions
    tmp_path: Path

    async def update(self, entry: AuditEntry, column: str, value: Any) -> None:
        if self.backend == "memory":
            store = cast(InMemoryTransactions, self.uow).store
            index = next(i for i, e in enumerate(store.audit_entries) if e.id == entry.id)
            store.audit_entries[index] = replace(entry, **{column: value})
            return
        # SQL: an entry's place in its chain is stored apart from its content.
        table, key = ("audit_chain_links", "entry_id") if column in LINKS else ("audit_log", "id")
        if self.backend == "sqlite":
            if isinstance(value, datetime):
                value = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            stored = json.dumps(value) if isinstance(value, dict) else value
            self._sqlite(
                table, f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (stored, entry.id)
            )
        else:
            cast_ = "::jsonb" if isinstance(value, dict) else ""
            stored = json.dumps(value) if isinstance(value, dict) else value
            await self._postgres(
                table, f"UPDATE {table} SET {column} = $1{cast_} WHERE {key} = $2", stored, entry.id
            )

    async def delete(self, entry: AuditEntry) -> None:
        if self.backend == "memory":
            store = cast(InMemoryTransactions, self.uow).store
            store.audit_entries[:] = [e for e in store.audit_entries if e.id != entry.id]
        elif self.backend == "sqlite":
            self._sqlite("audit_log", "DELETE FROM audit_log WHERE id = ?", (entry.id,))
        else:
            await self._postgres("audit_log", "DELETE FROM audit_log WHERE id = $1", entry.id)

    def _sqlite(self, table: str, statement: str, params: Sequence[Any]) -> None:
        connection = sqlite3.connect(self.tmp_path / "admin_core.db")
        try:
            triggers = connection.execute(
                "select name, sql from sqlite_master where type = 'trigger' and tbl_name = ?",
                (table,),
            ).fetchall()
            for name, _ in triggers:
                connection.execute(f"DROP TRIGGER {name}")
            connection.execute(statement, params)
            for _, sql in triggers:
                connection.execute(sql)
            connection.commit()
        finally:
            connection.close()

    async def _postgres(self, table: str, statement: str, *args: Any) -> None:
        connection = await asyncpg.connect(dsn(service_url("POSTGRES_SUPER")))
        guard = f"{table}_no_update_or_delete"
        try:
            async with connection.transaction():
                await connection.execute(f"ALTER TABLE {table} DISABLE TRIGGER {guard}")
                await connection.execute(statement, *args)
                await connection.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {guard}")
        finally:
            await connection.close()


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture
def backdoor(backend: str, uow: Transactions, tmp_path: Path) -> Backdoor:
    return Backdoor(backend, uow, tmp_path)


async def ten_entries(uow: Transactions) -> list[AuditEntry]:
    entries = await append(uow, *(record(n, after={"fee_minor": 1000 + n}) for n in range(10)))
    await append(uow, record(99, tenant_id="tenant-other"))
    return entries


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("after", {"fee_minor": 1}),
        ("actor_id", "user_innocent"),
        ("occurred_at", T0 - timedelta(days=1)),
        ("request_id", None),
    ],
)
async def test_verify_finds_the_entry_changed_behind_the_applications_back(
    uow: Transactions, backdoor: Backdoor, column: str, value: Any
) -> None:
    entries = await ten_entries(uow)
    assert (await verify(uow, "tenant-a")).ok
    await backdoor.update(entries[6], column, value)
    result = await verify(uow, "tenant-a", batch_size=3)
    assert not result.ok
    assert result.broken_at is not None
    assert (result.broken_at.seq, result.broken_at.entry_id) == (7, entries[6].id)
    assert result.broken_at.reason is BreakReason.HASH_MISMATCH
    assert result.entries_checked == 7
    assert (await verify(uow, "tenant-other")).ok


async def test_verify_finds_an_entry_moved_to_another_tenant_or_renumbered(
    uow: Transactions, backdoor: Backdoor, backend: str
) -> None:
    entries = await ten_entries(uow)
    await backdoor.update(entries[3], "seq", 99)
    result = await verify(uow, "tenant-a")
    assert result.broken_at is not None  # the first missing seq is named, not the next entry
    assert (result.broken_at.seq, result.broken_at.reason) == (4, BreakReason.MISSING_ENTRIES)
    assert result.broken_at.entry_id is None
    await backdoor.update(entries[1], "tenant_id", "tenant-other")
    result = await verify(uow, "tenant-a")
    assert result.broken_at is not None
    if backend == "memory":  # no chain column: the entry leaves its chain, a gap shows where
        assert (result.broken_at.seq, result.broken_at.reason) == (2, BreakReason.MISSING_ENTRIES)
    else:  # the row stays in its chain and no longer hashes to what was recorded
        assert (result.broken_at.seq, result.broken_at.reason) == (2, BreakReason.HASH_MISMATCH)


async def test_verify_finds_a_rewritten_hash_by_the_broken_link(
    uow: Transactions, backdoor: Backdoor
) -> None:
    entries = await ten_entries(uow)
    await backdoor.update(entries[2], "hash", "f" * 64)
    result = await verify(uow, "tenant-a")
    assert result.broken_at is not None
    assert (result.broken_at.seq, result.broken_at.reason) == (3, BreakReason.HASH_MISMATCH)


async def test_verify_finds_deleted_entries_in_the_middle_and_at_the_tail(
    uow: Transactions, backdoor: Backdoor
) -> None:
    entries = await ten_entries(uow)
    await backdoor.delete(entries[9])
    result = await verify(uow, "tenant-a")
    assert result.broken_at is not None
    assert (result.ok, result.broken_at.seq, result.broken_at.reason) == (
        False,
        10,
        BreakReason.MISSING_ENTRIES,
    )
    await backdoor.delete(entries[4])
    result = await verify(uow, "tenant-a", batch_size=2)
    assert result.broken_at is not None
    assert (result.broken_at.seq, result.broken_at.entry_id) == (5, None)
    assert result.broken_at.reason is BreakReason.MISSING_ENTRIES
    assert (result.verified_seq, result.head_seq) == (4, 10)  # the real head, not the last good


async def test_verify_reads_the_chain_in_batches(uow: Transactions) -> None:
    await ten_entries(uow)
    for batch_size in (1, 3, 10, 11):
        result = await verify(uow, "tenant-a", batch_size=batch_size)
        assert (result.ok, result.entries_checked, result.head_seq) == (True, 10, 10)
    empty = await verify(uow, "tenant-never-used")
    assert (empty.ok, empty.entries_checked, empty.broken_at) == (True, 0, None)


async def test_read_chain_returns_one_chain_in_seq_order(uow: Transactions) -> None:
    entries = await ten_entries(uow)
    async with uow() as tx:
        batch = await tx.audit.read_chain(chain_of("tenant-a"), after_seq=3, limit=4)
        head = await tx.audit.head(chain_of("tenant-a"))
        assert await tx.audit.head(chain_of("tenant-none")) is None
    assert list(batch) == entries[3:7]
    assert head is not None
    assert (head.seq, head.hash) == (10, entries[-1].hash)


# --------------------------------------------------------------------------- concurrency


async def test_concurrent_writers_on_one_tenant_leave_a_chain_that_verifies(
    uow: Transactions,
) -> None:
    deadline = time.monotonic() + 2.0
    written = 0

    async def writer(n: int) -> None:
        nonlocal written
        while time.monotonic() < deadline:
            async with uow() as tx:
                await tx.audit.append(record(n, tenant_id="tenant-busy", actor_id=f"w{n}"))
                await tx.commit()
            written += 1

    await asyncio.gather(*(writer(n) for n in range(20)))
    result = await verify(uow, "tenant-busy", batch_size=500)
    assert (result.ok, result.entries_checked, result.head_seq) == (True, written, written)
    assert written >= 20


async def test_a_verify_while_entries_are_appended_finds_the_chain_whole(
    uow: Transactions,
) -> None:
    """Entries committed while a verify walks are no break (they were reported as deleted
    entries, a false tamper alarm under ordinary load)."""
    for n in range(300):
        await append(uow, record(n, tenant_id="tenant-busy"))
    writing = True

    async def writer() -> None:
        n = 0
        while writing:
            async with uow() as tx:
                await tx.audit.append(record(n, tenant_id="tenant-busy"))
                await tx.commit()
            n += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(writer())
    try:
        results = [await verify(uow, "tenant-busy", batch_size=50) for _ in range(5)]
    finally:
        writing = False
        await task
    assert [r.broken_at for r in results] == [None] * 5
    assert all(r.ok for r in results)


# --------------------------------------------------------------------------- the database


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_sqlite_refuses_update_and_delete(uow: Transactions, tmp_path: Path) -> None:
    (entry,) = await append(uow, record(1))
    connection = sqlite3.connect(tmp_path / "admin_core.db")
    try:
        for statement in (
            "UPDATE audit_log SET actor_id = 'x' WHERE id = ?",
            "DELETE FROM audit_log WHERE id = ?",
            "UPDATE audit_chain_links SET hash = 'x' WHERE entry_id = ?",
            "DELETE FROM audit_chain_links WHERE entry_id = ?",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                connection.execute(statement, (entry.id,))
        for table in ("audit_log", "audit_chain_links"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                connection.execute(f"DELETE FROM {table}")
    finally:
        connection.close()
    assert await query(uow, AuditFilter()) == [entry]


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"])
@pytest.mark.parametrize("role", ["POSTGRES", "POSTGRES_OWNER", "POSTGRES_SUPER"])
async def test_postgres_refuses_update_delete_and_truncate(uow: Transactions, role: str) -> None:
    """The app role lacks the privilege; the owner and even a superuser (also as a replica,
    which skips ordinary triggers) hit the triggers."""
    (entry,) = await append(uow, record(1))
    connection = await asyncpg.connect(dsn(service_url(role)))
    try:
        if role == "POSTGRES_SUPER":
            await connection.execute("SET session_replication_role = replica")
        for statement in (
            f"UPDATE audit_log SET actor_id = 'x' WHERE id = '{entry.id}'",
            f"DELETE FROM audit_log WHERE id = '{entry.id}'",
            "TRUNCATE audit_log",
            f"UPDATE audit_chain_links SET hash = 'x' WHERE entry_id = '{entry.id}'",
            f"DELETE FROM audit_chain_links WHERE entry_id = '{entry.id}'",
            "TRUNCATE audit_chain_links",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.execute(statement)
        privileges = await connection.fetch(
            "select table_name, privilege_type from information_schema.role_table_grants "
            "where table_name like 'audit%' and grantee = 'admin_app'"
        )
    finally:
        await connection.close()
    granted = {(p["table_name"], p["privilege_type"]) for p in privileges}
    assert granted == {
        ("audit_log", "SELECT"),
        ("audit_log", "INSERT"),
        ("audit_chain_links", "SELECT"),
        ("audit_chain_heads", "SELECT"),
        ("audit_checkpoints", "SELECT"),
        ("audit_checkpoints", "INSERT"),
    }
    assert await query(uow, AuditFilter()) == [entry]


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"])
async def test_postgres_app_role_cannot_forge_a_link_or_move_a_head(
    uow: Transactions,
) -> None:
    """Only the commit-time trigger (running with the owner's rights) writes links and heads."""
    (entry,) = await append(uow, record(1))
    connection = await asyncpg.connect(dsn(service_url("POSTGRES")))
    try:
        for statement in (
            "INSERT INTO audit_chain_links (chain, seq, entry_id, prev_hash, hash) "
            f"VALUES ('tenant:tenant-a', 2, 'forged', '{entry.hash}', '{'f' * 64}')",
            "UPDATE audit_chain_heads SET seq = 1",
            "INSERT INTO audit_chain_heads (chain, seq, hash, prev_hash) "
            "VALUES ('tenant:forged', 0, '', '')",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.execute(statement)
    finally:
        await connection.close()
    assert (await verify(uow, "tenant-a")).ok
