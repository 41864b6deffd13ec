"""An operator pages through a list while rows are added and removed between its pages, on
every database: following each page's `next_cursor`, every row that did not change is read
exactly once, in the list's order, and no row is read twice. And while a writer changes the
rows without pause, during the reads themselves: every page and its `total` are the list and
its count at one instant."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.memory.identity import InMemoryIdentityProvider
from admin_core.kernel.paging import OffsetPage
from admin_core.kernel.principal import Principal
from admin_core.kernel.transaction import Transactions
from admin_core.mso_doctors.model import MsoDoctor
from admin_core.mso_doctors.use_cases import ListMsoDoctors, ListMsoDoctorsQuery
from admin_core.payments.model import SessionStatus
from admin_core.payments.use_cases import ListMsoSessions, ListSessionsQuery
from admin_core.tenants.model import Tenant, TenantStatus
from admin_core.tenants.use_cases import ListTenants, ListTenantsQuery
from admin_core.users.model import UserContact, UserRole
from admin_core.users.use_cases import ListTenantUsers, ListTenantUsersQuery
from tests.support.flags import add_tenants
from tests.support.payments import T0, payments_world, sessions

OPERATOR = Principal.operator("pager")
_RUNS = itertools.count()


@dataclass(frozen=True)
class Step:
    """A page of `limit` rows, then `added` new rows and `removed` of the rows listed (by
    their place among the rows still there)."""

    limit: int
    added: int
    removed: Sequence[int]


STEPS = st.lists(
    st.builds(
        Step,
        limit=st.integers(1, 5),
        added=st.integers(0, 3),
        removed=st.lists(st.integers(0, 40), max_size=3),
    ),
    min_size=1,
    max_size=12,
)
#: Few distinct times: many rows tie on the sort key and only their ids order them.
TIMES = st.integers(0, 3)
#: Ids of both cases, digits, `_` and `-`, as sessions' ids may be.
ID_TAILS = st.text("aAbB_-1", min_size=1, max_size=3)


def walked_right(
    walked: Sequence[str], unchanged: set[str], order: Callable[[str], Any]
) -> list[str]:
    """What is wrong with a walk: a row read twice, an unchanged row not read, or unchanged
    rows out of the list's order."""
    wrong = [f"{row} read twice" for row in set(walked) if walked.count(row) > 1]
    wrong += [f"{row} not read" for row in sorted(unchanged - set(walked))]
    kept = [row for row in walked if row in unchanged]
    if kept != sorted(kept, key=order):
        wrong.append(f"out of order: {kept}")
    return wrong


@dataclass(frozen=True)
class Listed:
    """A list as an operator reads it: a list use case, the query of its filters, and how
    an item of it (or a row the test adds to it) names its row."""

    listing: Any
    query: Any
    ids: Callable[[Any], str]

    async def page(
        self, limit: int, *, offset: int = 0, cursor: str | None = None
    ) -> OffsetPage[Any]:
        changes = {"limit": limit, "offset": offset, "cursor": cursor}
        read: OffsetPage[Any] = await self.listing.execute(OPERATOR, replace(self.query, **changes))
        return read

    async def everything(self) -> list[str]:
        return [self.ids(item) for item in (await self.page(200)).items]


#: Takes a listed row (by its id) out of the list's filter or, `back`, into it again.
Move = Callable[[Any, str, bool], Awaitable[None]]


def setting(repository: str, field: str, listed: Any, unlisted: Any) -> Move:
    """The move that sets the row's `field` in `tx.<repository>`: to `listed`, which the
    list's filter takes, or to `unlisted`, which it leaves out."""

    async def move(tx: Any, row_id: str, back: bool) -> None:
        rows = getattr(tx, repository)
        current = await rows.get(row_id)
        assert current is not None
        await rows.update(replace(current, **{field: listed if back else unlisted}))

    return move


def leaving(uow: Transactions[Any], move: Move) -> Callable[[str], Awaitable[None]]:
    """A row taken out of the list's filter by `move`, in a transaction of its own."""

    async def remove(row_id: str) -> None:
        async with uow() as tx:
            await move(tx, row_id, False)
            await tx.commit()

    return remove


async def walk_while_changing(
    listed: Listed,
    steps: Sequence[Step],
    add: Callable[[int], Awaitable[None]],
    remove: Callable[[str], Awaitable[None]],
) -> tuple[list[str], set[str]]:
    """The ids read following `next_cursor` while `steps` change the list, and the ids of
    the rows that were there from the start and never changed. Each page's `total` counts
    the whole list as it is then, and its `offset` the rows the pages before it held."""
    unchanged = set(await listed.everything())
    walked: list[str] = []
    cursor: str | None = None
    for step in itertools.chain(steps, itertools.repeat(Step(limit=5, added=0, removed=()))):
        found = await listed.page(step.limit, cursor=cursor)
        assert (found.total, found.offset) == (len(await listed.everything()), len(walked))
        walked += [listed.ids(item) for item in found.items]
        cursor = found.next_cursor
        if cursor is None:
            return walked, unchanged
        await add(step.added)
        present = await listed.everything()
        for place in step.removed:
            if present:
                gone = present.pop(place % len(present))
                await remove(gone)
                unchanged.discard(gone)
    raise AssertionError("unreachable")


#: Each walk's examples: the databases are shared between them, and some are slow.
WALKS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@WALKS
@given(
    times=st.lists(TIMES, min_size=0, max_size=14),
    tails=st.lists(ID_TAILS, min_size=20, max_size=40, unique=True),
    steps=STEPS,
)
async def test_sessions_are_read_once_each_while_sessions_come_and_go(
    uow: Transactions[Any], times: list[int], tails: list[str], steps: list[Step]
) -> None:
    """Sessions of one tenant and status (filters combined with paging); between pages new
    ones are booked (at times before and after the page, tied with others) and some leave
    the status (refunded)."""
    run = next(_RUNS)
    tenant = f"pager-{run}"
    await add_tenants(uow, tenant)
    fresh = iter(tails)
    made = itertools.count()

    def session(hour: int) -> Any:
        [base] = sessions(1)
        n = next(made)
        return replace(
            base,
            id=f"s{run}{next(fresh, f'x{n}')}",
            tenant_id=tenant,
            status=SessionStatus.PAID,
            scheduled_at=T0 - timedelta(hours=hour),
            payment_ref=f"pi_{run}_{n}",
        )

    async def add_sessions(hours: Sequence[int]) -> None:
        async with uow() as tx:
            await tx.mso_sessions.add_many([session(h) for h in hours])
            await tx.commit()

    await add_sessions(times)
    listing = ListMsoSessions(payments_world(uow, None).payments)  # type: ignore[arg-type]
    listed = Listed(listing, ListSessionsQuery(tenant_id=tenant, status="paid"), lambda s: s.id)

    async def add(count: int) -> None:
        await add_sessions([n % 4 for n in range(run, run + count)])

    refunded = setting("mso_sessions", "status", SessionStatus.PAID, SessionStatus.REFUNDED)
    walked, unchanged = await walk_while_changing(listed, steps, add, leaving(uow, refunded))
    async with uow() as tx:
        found = {row: await tx.mso_sessions.get(row) for row in walked}
    order = {
        row: (-s.scheduled_at.timestamp(), _desc(s.id)) for row, s in found.items() if s is not None
    }
    assert walked_right(walked, unchanged, lambda row: order[row]) == []


def _desc(text: str) -> tuple[int, ...]:
    """A key that orders strings from the highest code point sequence down."""
    return (*(-ord(c) for c in text), 1)


DAY = date(2026, 3, 1)
#: Few names: many doctors share one, and only their ids order them.
NAME_CHOICES = ["Dr. A", "Dr. a", "Dr. B", "de Souza"]
NAMES = st.sampled_from(NAME_CHOICES)


def doctor(doctor_id: str, tenant: str, full_name: str, n: int) -> MsoDoctor:
    return MsoDoctor(
        id=doctor_id,
        tenant_id=tenant,
        full_name=full_name,
        email=f"doctor{n}@{tenant}.example",
        specialty="cardiology",
        languages=("en",),
        countries=("IN",),
        license_number=f"L-{n}",
        consultation_fee_minor=100,
        currency="INR",
        available_from=DAY,
        timezone="UTC",
        active=True,
        clerk_user_id=None,
        created_at=T0,
        updated_at=T0,
    )


def _asc(text: str) -> tuple[int, ...]:
    return (*(ord(c) for c in text), -1)


@WALKS
@given(
    names=st.lists(NAMES, min_size=0, max_size=14),
    tails=st.lists(ID_TAILS, min_size=20, max_size=40, unique=True),
    steps=STEPS,
)
async def test_doctors_are_read_once_each_while_doctors_come_and_go(
    uow: Transactions[Any], names: list[str], tails: list[str], steps: list[Step]
) -> None:
    """The doctors of one tenant available on a day (filters combined with paging); between
    pages new ones are onboarded (names tied with others, before and after the page) and
    some are deactivated (they leave the filter)."""
    run = next(_RUNS)
    tenant = f"pager-{run}"
    await add_tenants(uow, tenant)
    fresh = iter(tails)
    made = itertools.count()

    async def add_doctors(full_names: Sequence[str]) -> None:
        async with uow() as tx:
            for name in full_names:
                n = next(made)
                await tx.mso_doctors.add(doctor(f"msd{run}{next(fresh, f'x{n}')}", tenant, name, n))
            await tx.commit()

    await add_doctors(names)
    query = ListMsoDoctorsQuery(tenant_id=tenant, available_from=DAY.isoformat())
    listed = Listed(ListMsoDoctors(uow), query, lambda d: d.id)

    async def add(count: int) -> None:
        await add_doctors([NAME_CHOICES[n % len(NAME_CHOICES)] for n in range(run, run + count)])

    deactivated = setting("mso_doctors", "active", True, False)
    walked, unchanged = await walk_while_changing(listed, steps, add, leaving(uow, deactivated))
    async with uow() as tx:
        keys = {row: await tx.mso_doctors.get(row) for row in walked}
    order = {row: (_asc(d.full_name), _asc(d.id)) for row, d in keys.items() if d is not None}
    assert walked_right(walked, unchanged, lambda row: order[row]) == []


TENANT_TAILS = st.from_regex(r"[a-c0-9](?:[a-c0-9-]{0,2}[a-c0-9])?", fullmatch=True)


@WALKS
@given(
    times=st.lists(TIMES, min_size=0, max_size=14),
    tails=st.lists(TENANT_TAILS, min_size=20, max_size=40, unique=True),
    steps=STEPS,
)
async def test_tenants_are_read_once_each_while_tenants_come_and_go(
    uow: Transactions[Any], times: list[int], tails: list[str], steps: list[Step]
) -> None:
    """The active tenants (a filter combined with paging); between pages new ones are
    created (created at times tied with others, before and after the page: replicas' clocks
    differ) and some are suspended (they leave the filter)."""
    run = next(_RUNS)
    fresh = iter(tails)
    made = itertools.count()

    async def add_tenants_at(minutes: Sequence[int]) -> None:
        async with uow() as tx:
            for minute in minutes:
                n = next(made)
                await tx.tenants.add(
                    Tenant(
                        id=f"r{run}-{next(fresh, f'x{n}')}",
                        name=f"Tenant {n}",
                        status=TenantStatus.ACTIVE,
                        provider_id=None,
                        created_at=T0 + timedelta(minutes=minute),
                        updated_at=T0,
                    )
                )
            await tx.commit()

    suspend = leaving(
        uow, setting("tenants", "status", TenantStatus.ACTIVE, TenantStatus.SUSPENDED)
    )
    listed = Listed(ListTenants(uow), ListTenantsQuery(status=TenantStatus.ACTIVE), lambda t: t.id)
    for earlier in await listed.everything():  # the tenants of the examples before
        await suspend(earlier)
    await add_tenants_at(times)

    async def add(count: int) -> None:
        await add_tenants_at([n % 4 for n in range(run, run + count)])

    walked, unchanged = await walk_while_changing(listed, steps, add, suspend)
    async with uow() as tx:
        found = {row: await tx.tenants.get(row) for row in walked}
    order = {row: (t.created_at, _asc(t.id)) for row, t in found.items() if t is not None}
    assert walked_right(walked, unchanged, lambda row: order[row]) == []


#: User ids (letters of both cases, digits, `_ . : -`), some a prefix of another.
USER_TAILS = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,3}", fullmatch=True)


@WALKS
@given(
    first=st.integers(0, 14),
    tails=st.lists(USER_TAILS, min_size=20, max_size=40, unique=True),
    steps=STEPS,
)
async def test_users_are_read_once_each_while_users_come_and_go(
    uow: Transactions[Any], first: int, tails: list[str], steps: list[Step]
) -> None:
    """A tenant's users; between pages roles are granted to new users (ids before and after
    the page) and users lose their only role (they leave the list)."""
    run = next(_RUNS)
    tenant = f"pager-{run}"
    await add_tenants(uow, tenant)
    fresh = iter(tails)
    made = itertools.count()

    async def grant(count: int) -> None:
        async with uow() as tx:
            for _ in range(count):
                n = next(made)
                user_id = next(fresh, f"zz{n}")
                await tx.users.upsert(UserContact(id=user_id, email=None, name=None, updated_at=T0))
                await tx.user_roles.add(
                    UserRole(
                        tenant_id=tenant,
                        user_id=user_id,
                        role="org:provider:staff",
                        granted_by="pager",
                        granted_at=T0,
                    )
                )
            await tx.commit()

    async def remove(user_id: str) -> None:
        async with uow() as tx:
            assert await tx.user_roles.remove(tenant, user_id, "org:provider:staff")
            await tx.commit()

    await grant(first)
    listing = ListTenantUsers(uow, InMemoryIdentityProvider(), None)
    listed = Listed(listing, ListTenantUsersQuery(tenant_id=tenant), lambda u: u.user_id)
    walked, unchanged = await walk_while_changing(listed, steps, grant, remove)
    assert walked_right(walked, unchanged, _asc) == []


#: A list's rows as the test knows them at one instant: id → the row's place in the list's
#: order (the rows that match the filters only).
Rows = dict[str, Any]


@dataclass(frozen=True)
class Churn:
    """How a test changes one list's rows without pause, each change in a transaction of its
    own: `new(n, rng)` is a new row and its place in the list's order, which `add(tx, row)`
    writes; `move` takes a row out of the filter or back into it."""

    new: Callable[[int, random.Random], tuple[Any, Any]]
    add: Callable[[Any, Any], Awaitable[object]]
    move: Move


def shown(rows: Rows, *, limit: int, offset: int, after: Any | None) -> list[str]:
    """The page of `rows` from `offset` (or right after the place `after`) that a list read at
    that instant shows."""
    ordered = sorted(rows, key=lambda row: rows[row])
    if after is not None:
        ordered = [row for row in ordered if rows[row] > after]
    return ordered[offset : offset + limit]


async def pages_while_writing(
    listed: Listed, uow: Transactions[Any], churn: Churn, *, reads: int = 800
) -> list[str]:
    """Pages of `listed` read (by offset, some around the list's end, and by cursor) while
    a writer changes the list without pause (`churn`); what is wrong with them: a page whose
    rows and `total` are not the rows and the count of the list at one instant between the
    read's start and its end (`len(rows) <= total` and the filter follow)."""
    history: list[Rows] = [{}]
    done = asyncio.Event()

    async def writer() -> None:
        rng = random.Random(7)
        made = itertools.count()
        aside: Rows = {}  # rows out of the filter, by their place were they back in it
        while not done.is_set():
            rows = dict(history[-1])
            changed = add_or_flip(rng, rows, aside)
            async with uow() as tx:
                # The rows as they are once this change commits join the history first.
                if changed is None:
                    row, place = churn.new(next(made), rng)
                    rows[listed.ids(row)] = place
                    history.append(rows)
                    await churn.add(tx, row)
                else:
                    back = flip(rows, aside, changed)
                    history.append(rows)
                    await churn.move(tx, changed, back)
                await tx.commit()
            await asyncio.sleep(0)

    task = asyncio.create_task(writer())
    wrong: list[str] = []
    rng = random.Random(11)
    cursor: str | None = None
    after: Any | None = None
    try:
        for _ in range(reads):
            await asyncio.sleep(0)
            limit = rng.randint(1, 5)
            end = len(history[-1])  # the list's end: where a page has rows or is empty
            offset = 0 if cursor else rng.choice([0, rng.randint(0, end + 3), *[end] * 4])
            # The state committed when the read starts is the last one or, while its write
            # is still committing, the one before it.
            first = max(0, len(history) - 2)
            found = await listed.page(limit, offset=offset, cursor=cursor)
            got = ([listed.ids(item) for item in found.items], found.total)
            possible = [
                (shown(rows, limit=limit, offset=offset, after=after), len(rows))
                for rows in history[first:]
            ]
            if got not in possible:
                wrong.append(f"{got} after {after} from {offset}: none of {possible[:3]}...")
            cursor = found.next_cursor if rng.random() < 0.5 else None
            after = None
            if cursor:
                last = got[0][-1]
                after = next(rows[last] for rows in reversed(history) if last in rows)
    finally:
        done.set()
        await task
    return wrong


def add_or_flip(rng: random.Random, rows: Rows, others: Rows) -> str | None:
    """One change to the rows: a new one (None), or the id of one to move out of the filter
    (one of `rows`) or back into it (one of `others`)."""
    choice = rng.random()
    if choice < 0.4 or not (rows or others):
        return None
    pool = rows if (choice < 0.7 and rows) or not others else others
    return rng.choice(sorted(pool))


def flip(rows: Rows, aside: Rows, changed: str) -> bool:
    """Move `changed` out of the filter (from `rows` to `aside`) or back into it; True when
    it came back."""
    back = changed in aside
    if back:
        rows[changed] = aside.pop(changed)
    else:
        aside[changed] = rows.pop(changed)
    return back


async def test_a_session_page_and_its_total_are_read_at_one_instant(
    uow: Transactions[Any],
) -> None:
    """Sessions of one tenant and status while sessions are booked and refunded (or back
    to paid) without pause: every page is the list at one instant, its total that
    instant's count."""
    tenant = "pager-now"
    await add_tenants(uow, tenant)
    listing = ListMsoSessions(payments_world(uow, None).payments)  # type: ignore[arg-type]
    listed = Listed(listing, ListSessionsQuery(tenant_id=tenant, status="paid"), lambda s: s.id)
    [base] = sessions(1)

    def new(n: int, rng: random.Random) -> tuple[Any, Any]:
        hour = rng.randint(0, 3)
        session = replace(
            base,
            id=f"s{n:04d}",
            tenant_id=tenant,
            status=SessionStatus.PAID,
            scheduled_at=T0 - timedelta(hours=hour),
            payment_ref=f"pi_now_{n}",
        )
        return session, (hour, _desc(session.id))

    churn = Churn(
        new,
        add=lambda tx, session: tx.mso_sessions.add(session),
        move=setting("mso_sessions", "status", SessionStatus.PAID, SessionStatus.REFUNDED),
    )
    assert await pages_while_writing(listed, uow, churn) == []


async def test_a_doctor_page_and_its_total_are_read_at_one_instant(
    uow: Transactions[Any],
) -> None:
    """Doctors of one tenant available on a day while doctors are onboarded and
    deactivated (or reactivated) without pause."""
    tenant = "pager-now"
    await add_tenants(uow, tenant)
    query = ListMsoDoctorsQuery(tenant_id=tenant, available_from=DAY.isoformat())
    listed = Listed(ListMsoDoctors(uow), query, lambda d: d.id)

    def new(n: int, rng: random.Random) -> tuple[Any, Any]:
        name = rng.choice(NAME_CHOICES)
        added = doctor(f"msd{n:04d}", tenant, name, n)
        return added, (_asc(name), _asc(added.id))

    churn = Churn(
        new,
        add=lambda tx, added: tx.mso_doctors.add(added),
        move=setting("mso_doctors", "active", True, False),
    )
    assert await pages_while_writing(listed, uow, churn) == []


async def test_a_tenant_page_and_its_total_are_read_at_one_instant(
    uow: Transactions[Any],
) -> None:
    """The active tenants while tenants are created and suspended (or reactivated) without
    pause."""
    listed = Listed(ListTenants(uow), ListTenantsQuery(status=TenantStatus.ACTIVE), lambda t: t.id)

    def new(n: int, rng: random.Random) -> tuple[Any, Any]:
        minute = rng.randint(0, 3)
        tenant = Tenant(
            id=f"now-{n:04d}",
            name=f"Tenant {n}",
            status=TenantStatus.ACTIVE,
            provider_id=None,
            created_at=T0 + timedelta(minutes=minute),
            updated_at=T0,
        )
        return tenant, (minute, _asc(tenant.id))

    churn = Churn(
        new,
        add=lambda tx, tenant: tx.tenants.add(tenant),
        move=setting("tenants", "status", TenantStatus.ACTIVE, TenantStatus.SUSPENDED),
    )
    assert await pages_while_writing(listed, uow, churn) == []


async def test_a_user_page_and_its_total_are_read_at_one_instant(
    uow: Transactions[Any],
) -> None:
    """A tenant's users while roles are granted to new users and users lose their only
    role (or get it back) without pause."""
    tenant = "pager-now"
    await add_tenants(uow, tenant)
    listing = ListTenantUsers(uow, InMemoryIdentityProvider(), None)
    # A user listed and a grant the test adds both name the user.
    listed = Listed(listing, ListTenantUsersQuery(tenant_id=tenant), lambda u: u.user_id)
    role = "org:provider:staff"

    def granted(user_id: str) -> UserRole:
        return UserRole(
            tenant_id=tenant, user_id=user_id, role=role, granted_by="pager", granted_at=T0
        )

    def new(n: int, rng: random.Random) -> tuple[Any, Any]:
        user_id = f"user_{n:04d}"
        return granted(user_id), _asc(user_id)

    async def grant(tx: Any, grant: UserRole) -> None:
        await tx.users.upsert(UserContact(id=grant.user_id, email=None, name=None, updated_at=T0))
        assert await tx.user_roles.add(grant)

    async def move(tx: Any, user_id: str, back: bool) -> None:
        if back:
            await grant(tx, granted(user_id))
        else:
            assert await tx.user_roles.remove(tenant, user_id, role)

    churn = Churn(new, add=grant, move=move)
    # A page and its total come from one read of every role: fewer reads, each of them all.
    assert await pages_while_writing(listed, uow, churn, reads=200) == []
