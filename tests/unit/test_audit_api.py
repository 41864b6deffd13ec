"""The audit-log API through the real app on the in-memory adapters: pages, filters, scope,
verification, and every way a request can be wrong."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from dependency_injector import providers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryTransactions
from admin_core.audit.model import AuditEntry, AuditRecord, link, unlinked
from admin_core.audit.use_cases import WriteCheckpointCommand
from admin_core.kernel.principal import Principal
from admin_core.tenants.model import OrgMapping
from entrypoints.container import Container, build_container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.support.clock import ManualClock
from tests.support.flags import add_tenants

AUDIT = "/api/v1/admin/audit-log"
VERIFY = "/api/v1/admin/audit-log/verify"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
TENANT_ORG = "org_apollo"
TENANT = "apollo-chennai"


@pytest.fixture(scope="session")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit-api-key")


@dataclass
class AuditApi:
    client: AsyncTestClient[Any]
    container: Container
    clock: ManualClock

    @property
    def store(self) -> InMemoryStore:
        store: InMemoryStore = self.container.database.store()
        return store

    def auth(
        self, role: str | None = "org:admin", org: str | None = "org_platform"
    ) -> dict[str, str]:
        issuer = self.container.auth.token_issuer()
        return {"Authorization": f"Bearer {issuer.mint(user_id='user_t', org_id=org, role=role)}"}

    async def append(self, *records: AuditRecord, at: datetime | None = None) -> list[AuditEntry]:
        if at is not None:
            self.clock.set(at)
        async with self.container.database.transactions()() as tx:
            written = [await tx.audit.append(r) for r in records]
            await tx.commit()
        linked = {entry.id: entry for entry in self.store.audit_entries}
        return [linked[entry.id] for entry in written]

    def reset(self) -> None:
        self.store.audit_entries.clear()
        self.store.audit_heads.clear()


@pytest.fixture
async def http(key_dir: Path) -> AsyncIterator[AuditApi]:
    settings_ = Settings(database_url="memory://", local_key_path=key_dir / "signing.pem")
    container = build_container(settings_)
    clock = ManualClock(T0, step=timedelta(seconds=1))
    container.database.transactions.override(
        providers.Singleton(
            InMemoryTransactions, container.database.store, clock, container.runtime.ids
        )
    )
    transactions = container.database.transactions()
    await add_tenants(transactions, TENANT, "tenant-b", "tenant-c")  # every tenant of `TENANTS`
    async with transactions() as tx:
        await tx.org_mappings.add(OrgMapping(org_id=TENANT_ORG, tenant_id=TENANT, created_at=T0))
        await tx.commit()
    async with AsyncTestClient(create_app(container)) as client:
        yield AuditApi(client=client, container=container, clock=clock)


def rec(
    tenant_id: str | None = TENANT,
    action: str = "tenant.update",
    actor_id: str = "user_1",
    case_id: str | None = None,
    patient_id: str | None = None,
) -> AuditRecord:
    return AuditRecord(
        tenant_id=tenant_id,
        actor_id=actor_id,
        actor_role="org:admin",
        action=action,
        event_type="ADMIN_EVENT",
        resource_type=action.split(".")[0],
        resource_id="r1",
        case_id=case_id,
        patient_id=patient_id,
        request_id="req-1",
        before={"v": 1},
        after={"v": 2},
    )


def fields(body: dict[str, Any]) -> list[str | None]:
    return [e.get("field") for e in body["errors"]]


def codes(body: dict[str, Any]) -> list[str]:
    return [e["code"] for e in body["errors"]]


# --------------------------------------------------------------------------- success


async def test_a_page_carries_entries_in_the_wire_format_and_the_cursor(http: AuditApi) -> None:
    entries = await http.append(*(rec(case_id="case-9", patient_id="pat-9") for _ in range(3)))
    response = await http.client.get(AUDIT, params={"limit": 2}, headers=http.auth())
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    first = body["data"]["entries"][0]
    newest = entries[-1]
    assert first == {
        "id": newest.id,
        "seq": 3,
        "occurred_at": "2026-03-01T00:00:02Z",
        "tenant_id": TENANT,
        "actor_id": "user_1",
        "actor_role": "org:admin",
        "action": "tenant.update",
        "event_type": "ADMIN_EVENT",
        "resource_type": "tenant",
        "resource_id": "r1",
        "case_id": "case-9",
        "patient_id": "pat-9",
        "request_id": "req-1",
        "before": {"v": 1},
        "after": {"v": 2},
        "hash": newest.hash,
        "prev_hash": entries[-2].hash,
    }
    cursor = body["data"]["next_cursor"]
    assert cursor
    assert body["meta"]["next_cursor"] == cursor
    assert body["meta"]["limit"] == 2
    last = await http.client.get(AUDIT, params={"limit": 2, "cursor": cursor}, headers=http.auth())
    assert [e["seq"] for e in last.json()["data"]["entries"]] == [1]
    assert last.json()["data"]["next_cursor"] is None
    assert "next_cursor" not in last.json()["meta"]


async def test_verify_reports_ok_and_then_the_first_broken_entry(http: AuditApi) -> None:
    entries = await http.append(*(rec() for _ in range(5)))
    response = await http.client.get(VERIFY, params={"tenant_id": TENANT}, headers=http.auth())
    assert response.status_code == 200
    assert response.json()["data"] == {
        "ok": True,
        "entries_checked": 5,
        "broken_at": None,
        "chain": f"tenant:{TENANT}",
        "tenant_id": TENANT,
        "head_seq": 5,
        "head_hash": entries[-1].hash,
        "recorded_head_seq": 5,
        "verified_seq": 5,
        "sealed_seq": 0,
        "unsealed_entries": 5,  # no checkpoint yet
        "checkpoint_seq": None,
        "checkpoint_at": None,
        "checkpoints_checked": 0,
        "checkpoint_problem": None,
    }
    http.store.audit_entries[2] = replace(entries[2], after={"v": 3})
    data = (
        await http.client.get(VERIFY, params={"tenant_id": TENANT}, headers=http.auth())
    ).json()["data"]
    assert (data["ok"], data["entries_checked"]) == (False, 3)
    assert data["broken_at"] == {
        "seq": 3,
        "entry_id": entries[2].id,
        "reason": "hash_mismatch",
        "checkpoint_seq": None,
    }
    assert (data["verified_seq"], data["head_seq"]) == (2, 5)


async def test_verify_of_a_tenant_that_does_not_exist_is_404(http: AuditApi) -> None:
    response = await http.client.get(
        VERIFY, params={"tenant_id": "no-such-tenant"}, headers=http.auth()
    )
    assert response.status_code == 404
    assert [e["code"] for e in response.json()["errors"]] == ["TENANT_NOT_FOUND"]


async def test_verify_holds_the_chain_to_a_checkpoint_and_counts_the_unsealed(
    http: AuditApi,
) -> None:
    entries = await http.append(*(rec() for _ in range(3)))
    written = await http.container.audit.write_checkpoint().execute(
        Principal.operator("test"), WriteCheckpointCommand()
    )
    assert written.written
    await http.append(rec(), rec())
    data = (
        await http.client.get(VERIFY, params={"tenant_id": TENANT}, headers=http.auth())
    ).json()["data"]
    assert (data["ok"], data["sealed_seq"], data["unsealed_entries"]) == (True, 3, 2)
    assert (data["checkpoint_seq"], data["checkpoints_checked"]) == (1, 1)
    keys = (await http.client.get("/.well-known/audit-checkpoint-keys")).json()["keys"]
    assert [k["kid"] for k in keys] == [written.checkpoint.key_id if written.checkpoint else ""]
    # a re-seal of the sealed entries with recomputed hashes is caught at the sealed head
    store = http.store
    forged = replace(entries[1], after={"v": 99})
    prev = entries[0].hash
    rewritten = []
    for entry in [forged, *store.audit_entries[2:]]:
        relinked = link(unlinked(entry), seq=entry.seq, prev_hash=prev)
        rewritten.append(relinked)
        prev = relinked.hash
    store.audit_entries[1:] = rewritten
    store.audit_heads[f"tenant:{TENANT}"] = rewritten[-1]
    data = (
        await http.client.get(VERIFY, params={"tenant_id": TENANT}, headers=http.auth())
    ).json()["data"]
    assert data["ok"] is False
    assert data["broken_at"]["reason"] == "checkpoint_mismatch"
    assert (data["broken_at"]["seq"], data["broken_at"]["checkpoint_seq"]) == (3, 1)


async def test_platform_callers_verify_the_platform_chain_by_default(http: AuditApi) -> None:
    await http.append(rec(tenant_id=None, action="graph.rebuild"), rec())
    data = (await http.client.get(VERIFY, headers=http.auth())).json()["data"]
    assert (data["chain"], data["tenant_id"], data["entries_checked"]) == ("platform", None, 1)


# --------------------------------------------------------------------------- scope


async def test_a_tenant_scoped_caller_sees_only_its_own_tenant(http: AuditApi) -> None:
    await http.append(rec(tenant_id=TENANT), rec(tenant_id="other"), rec(tenant_id=None))
    for role in ("org:admin", "org:provider:admin"):
        headers = http.auth(role, TENANT_ORG)
        response = await http.client.get(AUDIT, headers=headers)
        assert response.status_code == 200
        assert [e["tenant_id"] for e in response.json()["data"]["entries"]] == [TENANT]
        own = await http.client.get(AUDIT, params={"tenant_id": TENANT}, headers=headers)
        assert own.status_code == 200
        verify = await http.client.get(VERIFY, headers=headers)
        assert verify.json()["data"]["chain"] == f"tenant:{TENANT}"


async def test_a_tenant_scoped_caller_naming_another_tenant_is_refused(http: AuditApi) -> None:
    headers = http.auth("org:admin", TENANT_ORG)
    for path in (AUDIT, VERIFY):
        response = await http.client.get(path, params={"tenant_id": "other"}, headers=headers)
        assert response.status_code == 403
        assert codes(response.json()) == ["AUTH_INSUFFICIENT_PERMISSION"]


@pytest.mark.parametrize(
    ("role", "org"),
    [
        ("org:provider:staff", TENANT_ORG),
        ("org:mso:doctor", TENANT_ORG),
        ("org:facilitator", "org_platform"),
        ("org:provider:admin", "org_platform"),
        ("org:coordinator", TENANT_ORG),
        ("org:admin", "org_unmapped"),
        ("org:admin", None),
        (None, "org_platform"),
    ],
)
async def test_roles_without_audit_read_are_refused(
    http: AuditApi, role: str | None, org: str | None
) -> None:
    for path in (AUDIT, VERIFY):
        response = await http.client.get(path, headers=http.auth(role, org))
        assert response.status_code == 403, (role, org, path)
        assert codes(response.json()) == ["AUTH_INSUFFICIENT_PERMISSION"]


async def test_platform_roles_with_audit_read_see_every_chain(http: AuditApi) -> None:
    await http.append(rec(tenant_id=TENANT), rec(tenant_id="other"), rec(tenant_id=None))
    for role in ("org:admin", "org:coordinator", "org:super_admin"):
        response = await http.client.get(AUDIT, headers=http.auth(role))
        assert response.status_code == 200
        assert len(response.json()["data"]["entries"]) == 3


async def test_no_token_is_401(http: AuditApi) -> None:
    for path in (AUDIT, VERIFY):
        response = await http.client.get(path)
        assert (response.status_code, codes(response.json())) == (401, ["AUTH_HEADER_MISSING"])


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=10000", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("limit=1&limit=2", "limit"),
        ("unknown=1", "unknown"),
        ("tenant=apollo-chennai", "tenant"),
        ("from_date=2026-13-01", "from_date"),
        ("from_date=yesterday", "from_date"),
        ("to_date=2026-02-30", "to_date"),
        ("to_date=2026-03-01T25:00:00Z", "to_date"),
        ("from_date=2026-03-02&to_date=2026-03-01", "to_date"),
        ("from_date=", "from_date"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=" + "A" * 600, "cursor"),
        ("action=tenant%25", "action"),
        ("action=tenant.*.x", "action"),
        ("action=" + "a" * 200, "action"),
        ("actor_id=", "actor_id"),
        ("case_id=" + "c" * 201, "case_id"),
    ],
)
async def test_bad_parameters_are_422_naming_the_field(
    http: AuditApi, query: str, field: str
) -> None:
    response = await http.client.get(f"{AUDIT}?{query}", headers=http.auth())
    assert response.status_code == 422, response.text
    body = response.json()
    assert codes(body)[0] == "VALIDATION_ERROR"
    assert field in fields(body), body


async def test_every_bad_field_is_named_at_once(http: AuditApi) -> None:
    response = await http.client.get(
        AUDIT,
        params={"from_date": "soon", "to_date": "later", "action": "a b"},
        headers=http.auth(),
    )
    assert response.status_code == 422
    assert sorted(f or "" for f in fields(response.json())) == ["action", "from_date", "to_date"]


async def test_a_cursor_reused_with_other_filters_is_422(http: AuditApi) -> None:
    await http.append(*(rec() for _ in range(3)))
    first = await http.client.get(AUDIT, params={"limit": 1}, headers=http.auth())
    cursor = first.json()["data"]["next_cursor"]
    response = await http.client.get(
        AUDIT, params={"limit": 1, "cursor": cursor, "action": "tenant."}, headers=http.auth()
    )
    assert (response.status_code, fields(response.json())) == (422, ["cursor"])


async def test_bad_verify_parameters_are_422(http: AuditApi) -> None:
    for query, field in (("tenant_id=", "tenant_id"), ("chain=platform", "chain")):
        response = await http.client.get(f"{VERIFY}?{query}", headers=http.auth())
        assert (response.status_code, fields(response.json())) == (422, [field])


async def test_writing_to_the_audit_log_over_http_is_not_possible(http: AuditApi) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = await http.client.request(method, AUDIT, headers=http.auth())
        assert response.status_code == 405


# --------------------------------------------------------------------------- the property

TENANTS = (None, TENANT, "tenant-b", "tenant-c")
ACTORS = ("user_1", "user_2", "cli:ops")
ACTIONS = (
    "tenant.create",
    "tenant.update",
    "tenant_settings.update",
    "flag.identity_override",
    "flag.identity_override_removed",
    "mso_session.refund",
)
PATTERNS = (*ACTIONS, "tenant.", "tenant*", "flag.", "flag.identity_override*", "mso_", "x.")

appends = st.lists(
    st.tuples(
        st.sampled_from(TENANTS),
        st.sampled_from(ACTORS),
        st.sampled_from(ACTIONS),
        st.sampled_from((None, "case-1", "case-2")),
        st.sampled_from((None, "pat-1", "pat-2")),
        st.integers(min_value=0, max_value=4 * 24 * 60),  # minutes after T0; repeats allowed
    ),
    max_size=40,
)
day = st.dates(min_value=date(2026, 2, 28), max_value=date(2026, 3, 6))
moment = st.integers(min_value=-60, max_value=5 * 24 * 60).map(lambda m: T0 + timedelta(minutes=m))
bound = st.one_of(st.none(), day, moment)
filter_sets = st.fixed_dictionaries(
    {},
    optional={
        "action": st.sampled_from(PATTERNS),
        "actor_id": st.sampled_from(ACTORS),
        "tenant_id": st.sampled_from(TENANTS[1:]),
        "case_id": st.sampled_from(("case-1", "case-2")),
        "patient_id": st.sampled_from(("pat-1", "pat-2")),
        "from_date": bound,
        "to_date": bound,
    },
)


def wire(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def reference(entries: list[AuditEntry], filters: dict[str, Any]) -> list[str]:
    """The simplest possible reading of SPEC §6.7, independent of the code under test."""

    def lower(value: date | datetime) -> datetime:
        if isinstance(value, datetime):
            return value
        return datetime(value.year, value.month, value.day, tzinfo=UTC)

    def upper_ok(at: datetime, value: date | datetime) -> bool:
        return at <= value if isinstance(value, datetime) else at.date() <= value

    def keep(e: AuditEntry) -> bool:
        action = filters.get("action")
        if action is not None:
            if action.endswith("*"):
                if not e.action.startswith(action[:-1]):
                    return False
            elif action.endswith("."):
                if not e.action.startswith(action):
                    return False
            elif e.action != action:
                return False
        for name in ("actor_id", "tenant_id", "case_id", "patient_id"):
            if name in filters and getattr(e, name) != filters[name]:
                return False
        if filters.get("from_date") is not None and e.occurred_at < lower(filters["from_date"]):
            return False
        return filters.get("to_date") is None or upper_ok(e.occurred_at, filters["to_date"])

    ordered = sorted(entries, key=lambda e: (e.occurred_at, e.id), reverse=True)
    return [e.id for e in ordered if keep(e)]


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(appends=appends, filters=filter_sets, limit=st.integers(min_value=1, max_value=7))
async def test_paging_through_the_api_returns_exactly_the_reference_filter(
    http: AuditApi,
    appends: list[tuple[str | None, str, str, str | None, str | None, int]],
    filters: dict[str, Any],
    limit: int,
) -> None:
    http.reset()
    entries: list[AuditEntry] = []
    for tenant_id, actor_id, action, case_id, patient_id, minutes in appends:
        entries += await http.append(
            rec(tenant_id, action, actor_id, case_id, patient_id),
            at=T0 + timedelta(minutes=minutes),
        )
    params = {k: wire(v) for k, v in filters.items() if v is not None}
    start, stop = filters.get("from_date"), filters.get("to_date")
    if start is not None and stop is not None:
        low = (
            start
            if isinstance(start, datetime)
            else datetime.combine(start, datetime.min.time(), UTC)
        )
        high = (
            stop if isinstance(stop, datetime) else datetime.combine(stop, datetime.max.time(), UTC)
        )
        if high < low:
            response = await http.client.get(AUDIT, params=params, headers=http.auth())
            assert (response.status_code, fields(response.json())) == (422, ["to_date"])
            return
    headers = http.auth()
    seen: list[str] = []
    cursor: str | None = None
    while True:
        query = "&".join(f"{k}={quote(v)}" for k, v in {**params, "limit": str(limit)}.items()) + (
            f"&cursor={cursor}" if cursor else ""
        )
        response = await http.client.get(f"{AUDIT}?{query}", headers=headers)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert len(data["entries"]) <= limit
        seen += [e["id"] for e in data["entries"]]
        cursor = data["next_cursor"]
        if cursor is None:
            break
        assert len(data["entries"]) == limit
    assert seen == reference(entries, filters)
