"""Graph rebuild and drift on the in-memory adapters: the use case's rules, the HTTP routes
and the CLI commands."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from adapters.memory.directory import InMemoryProjectionSource
from adapters.memory.graph import InMemoryGraphProjection, InProcessRebuildLock
from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryTransactions
from adapters.neo4j.graph import Neo4jGraphProjection, create_driver
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.auth.policy import RolePolicy
from admin_core.directory.model import DirectoryBatch, ProviderDoctor
from admin_core.graph.errors import GraphRebuildInProgress
from admin_core.graph.model import GraphScope, NodeLabel, NodeWithLinks, RebuildProgress, RelType
from admin_core.graph.use_cases import RebuildCommand, RebuildProjection, ShowGraphStatus
from admin_core.kernel.errors import InsufficientPermission
from admin_core.kernel.principal import OrgKind, Principal, Scope
from entrypoints.cli.main import main
from entrypoints.container import Container, build_container
from entrypoints.demo.directory import demo_directory
from entrypoints.demo.seed import seed_demo
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.support.demo import seed_demo_into

OPERATOR = Principal.operator("test", request_id="req-1")


class Memory:
    def __init__(self) -> None:
        self.store = InMemoryStore()
        self.uow = InMemoryTransactions(self.store, SystemClock(), UlidGenerator())
        self.graph = InMemoryGraphProjection()
        self.lock = InProcessRebuildLock()
        self.source = InMemoryProjectionSource(self.store)

    def rebuild(self, **kwargs: Any) -> RebuildProjection:
        return RebuildProjection(
            source=self.source,
            graph=self.graph,
            lock=self.lock,
            transactions=self.uow,
            ids=UlidGenerator(),
            **kwargs,
        )


@pytest.fixture
async def memory() -> Memory:
    world = Memory()
    await seed_demo_into(world.uow)
    return world


def test_the_demo_directory_has_the_promised_size() -> None:
    batch = demo_directory()
    assert (len(batch.providers), len(batch.doctors), len(batch.procedures)) == (42, 172, 30)
    ids = {p.id for p in batch.providers}
    assert {"prv_apollo_chennai", "prv_bumrungrad", "prv_acibadem", "prv_medanta"} <= ids
    assert {d.provider_id for d in batch.doctors} <= ids
    codes = {p.code for p in batch.procedures}
    assert {o.procedure_code for o in batch.offers} <= codes
    assert {d.procedure_code for d in batch.doctor_procedures} <= codes


async def test_seeding_twice_keeps_the_directory_as_it_was(memory: Memory) -> None:
    before = (len(memory.store.doctors), len(memory.store.provider_procedures))
    await seed_demo_into(memory.uow)
    assert (len(memory.store.doctors), len(memory.store.provider_procedures)) == before
    assert memory.store.providers["prv_apollo_chennai"].specialties[0] == "cardiology"


async def test_a_rebuild_projects_the_demo_directory_and_reports_progress(memory: Memory) -> None:
    events: list[RebuildProgress] = []

    result = await memory.rebuild(batch_size=50).execute(
        OPERATOR, RebuildCommand(), progress=events.append
    )

    assert {label.plural: n for label, n in result.counts.items()} == {
        "procedures": 30,
        "providers": 42,
        "accreditations": 7,
        "doctors": 172,
    }
    assert result.relationships[RelType.WORKS_AT] == 172
    last = {e.item: e for e in events}
    assert last[NodeLabel.DOCTOR].done == last[NodeLabel.DOCTOR].total == 172
    # Batches finish in any order (two in flight), so progress only promises to climb, once
    # per batch of 50, from nothing to everything.
    doctors = [e.done for e in events if e.item is NodeLabel.DOCTOR]
    assert doctors[0] == 0
    assert doctors[-1] == 172
    assert doctors == sorted(set(doctors))
    assert len(doctors) == 1 + 4
    assert result.written == sum(result.counts.values()) + sum(result.relationships.values())


class SlowToWriteProviders(InMemoryGraphProjection):
    """Provider batches take a while to write (a busy server), so the doctors' first batch
    has been read before the last of them is done."""

    async def upsert_nodes_with_links(
        self,
        label: NodeLabel,
        items: Sequence[NodeWithLinks],
        *,
        run: str,
        absent: Collection[NodeLabel | RelType] = (),
    ) -> Mapping[RelType, int]:
        if label is NodeLabel.PROVIDER:
            await asyncio.sleep(0.01)
        return await super().upsert_nodes_with_links(label, items, run=run, absent=absent)


async def test_a_labels_writes_start_only_once_the_nodes_they_link_to_are_written(
    memory: Memory,
) -> None:
    memory.graph = SlowToWriteProviders()

    result = await memory.rebuild(batch_size=10, concurrency=3).execute(OPERATOR, RebuildCommand())

    status = await ShowGraphStatus(source=memory.source, graph=memory.graph).execute(OPERATOR)
    assert status.in_sync
    assert result.relationships[RelType.WORKS_AT] == 172


async def test_the_rebuild_is_audited_on_the_platform_chain(memory: Memory) -> None:
    result = await memory.rebuild().execute(OPERATOR, RebuildCommand(scope=GraphScope.DOCTORS))

    [entry] = [e for e in memory.store.audit_entries if e.request_id == "req-1"]
    assert entry.action == "graph.rebuild"
    assert entry.tenant_id is None
    assert entry.event_type == "ADMIN_GRAPH_REBUILD"
    assert entry.actor_id == "cli:test"
    assert entry.request_id == "req-1"
    assert entry.after is not None
    assert entry.after["scope"] == "doctors"
    assert entry.after["counts"] == {"doctors": 172}
    assert entry.after["duration_ms"] == result.duration_ms


async def test_a_scope_rebuild_removes_what_the_source_no_longer_has(memory: Memory) -> None:
    await memory.rebuild().execute(OPERATOR, RebuildCommand())
    del memory.store.doctors["doc_0001"]
    memory.store.doctor_procedures = {
        k for k in memory.store.doctor_procedures if k[0] != "doc_0001"
    }
    async with memory.uow() as tx:
        await tx.directory.write(
            DirectoryBatch(
                doctors=(
                    ProviderDoctor(
                        id="doc_x", provider_id="prv_sheba", full_name="Dr. X", specialty=None
                    ),
                )
            ),
            now=SystemClock().now(),
        )
        await tx.commit()

    result = await memory.rebuild().execute(OPERATOR, RebuildCommand(scope=GraphScope.DOCTORS))

    assert result.removed.nodes == {NodeLabel.DOCTOR: 1}
    assert result.removed.relationships[RelType.WORKS_AT] == 1
    keys = [n.key for n in await memory.graph.scan_nodes(NodeLabel.DOCTOR, limit=1000)]
    assert "doc_0001" not in keys
    assert "doc_x" in keys


async def test_only_one_rebuild_runs_at_a_time(memory: Memory) -> None:
    async with memory.lock.hold() as held:
        assert held
        with pytest.raises(GraphRebuildInProgress):
            await memory.rebuild().execute(OPERATOR, RebuildCommand())
    assert (await memory.rebuild().execute(OPERATOR, RebuildCommand())).counts[
        NodeLabel.DOCTOR
    ] == 172


@pytest.mark.parametrize(
    ("role", "scope", "tenant"),
    [
        ("org:admin", Scope.TENANT, "apollo-chennai"),
        ("org:provider:admin", Scope.TENANT, "apollo-chennai"),
        ("org:coordinator", Scope.PLATFORM, None),
    ],
)
async def test_only_platform_graph_rebuilders_may_rebuild_or_see_drift(
    memory: Memory, role: str, scope: Scope, tenant: str | None
) -> None:
    kind = OrgKind.PLATFORM if scope is Scope.PLATFORM else OrgKind.TENANT
    permissions = RolePolicy.default().permissions(role, kind)
    principal = Principal(
        user_id="u",
        org_id="org",
        role=role,
        tenant_id=tenant,
        scope=scope,
        permissions=permissions,
    )
    audited = len(memory.store.audit_entries)
    with pytest.raises(InsufficientPermission):
        await memory.rebuild().execute(principal, RebuildCommand())
    with pytest.raises(InsufficientPermission):
        await ShowGraphStatus(source=memory.source, graph=memory.graph).execute(principal)
    assert len(memory.store.audit_entries) == audited
    assert (await memory.graph.counts()).nodes[NodeLabel.DOCTOR] == 0


async def test_drift_shows_source_rows_graph_items_and_their_difference(memory: Memory) -> None:
    status = ShowGraphStatus(source=memory.source, graph=memory.graph)
    before = await status.execute(OPERATOR)
    assert before.labels[NodeLabel.DOCTOR].source == 172
    assert before.labels[NodeLabel.DOCTOR].drift == -172
    assert not before.in_sync

    await memory.rebuild().execute(OPERATOR, RebuildCommand())

    after = await status.execute(OPERATOR)
    assert after.in_sync
    assert after.relationships[RelType.PERFORMS].drift == 0


# HTTP ------------------------------------------------------------------------------------


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[AsyncTestClient[Any], Container]]:
    container = build_container(
        Settings(database_url="memory://", local_key_path=tmp_path / "signing.pem")
    )
    await seed_demo(container)
    async with AsyncTestClient(create_app(container)) as client:
        yield client, container


def _auth(container: Container, role: str, org: str = "org_platform") -> dict[str, str]:
    token = container.auth.token_issuer().mint(user_id="user_1", org_id=org, role=role)
    return {"Authorization": f"Bearer {token}"}


REBUILD = "/api/v1/admin/graph/rebuild"
STATUS = "/api/v1/admin/graph/status"


async def test_http_rebuild_returns_counts_and_duration(
    api: tuple[AsyncTestClient[Any], Container],
) -> None:
    client, container = api
    response = await client.post(
        REBUILD, json={"scope": "all"}, headers=_auth(container, "org:admin")
    )

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["counts"] == {
        "procedures": 30,
        "providers": 42,
        "accreditations": 7,
        "doctors": 172,
    }
    assert data["relationships"]["works_at"] == 172
    assert isinstance(data["duration_ms"], int)
    assert data["removed"]["doctors"] == 0


async def test_http_rebuild_without_a_body_rebuilds_everything(
    api: tuple[AsyncTestClient[Any], Container],
) -> None:
    client, container = api
    response = await client.post(REBUILD, headers=_auth(container, "org:admin"))
    assert response.status_code == 200, response.text
    assert response.json()["data"]["scope"] == "all"


async def test_http_rebuild_of_one_scope_counts_only_its_labels(
    api: tuple[AsyncTestClient[Any], Container],
) -> None:
    client, container = api
    response = await client.post(
        REBUILD, json={"scope": "procedures"}, headers=_auth(container, "org:admin")
    )
    assert response.json()["data"]["counts"] == {"procedures": 30}
    assert response.json()["data"]["relationships"] == {}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scope": "everything"}, "scope"),
        ({"scope": 3}, "scope"),
        ({"scope": "all", "force": True}, "force"),
        ([], "body"),
    ],
)
async def test_http_rebuild_rejects_bad_bodies(
    api: tuple[AsyncTestClient[Any], Container], body: Any, field: str
) -> None:
    client, container = api
    response = await client.post(REBUILD, json=body, headers=_auth(container, "org:admin"))

    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in (error.get("field") or "") or field in error["message"]


@pytest.mark.parametrize(
    ("role", "org"),
    [
        ("org:admin", "org_apollo_chennai"),
        ("org:provider:admin", "org_apollo_chennai"),
        ("org:coordinator", "org_platform"),
        ("org:provider:staff", "org_platform"),
    ],
)
async def test_http_graph_routes_refuse_callers_without_platform_graph_rebuild(
    api: tuple[AsyncTestClient[Any], Container], role: str, org: str
) -> None:
    client, container = api
    headers = _auth(container, role, org)
    rebuild = await client.post(REBUILD, json={}, headers=headers)
    status = await client.get(STATUS, headers=headers)

    assert rebuild.status_code == 403
    assert rebuild.json()["errors"][0]["code"] == "AUTH_INSUFFICIENT_PERMISSION"
    assert status.status_code == 403


async def test_http_rebuild_while_another_runs_is_409(
    api: tuple[AsyncTestClient[Any], Container],
) -> None:
    client, container = api
    async with container.graph.rebuild_lock().hold() as held:
        assert held
        response = await client.post(REBUILD, json={}, headers=_auth(container, "org:admin"))
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "GRAPH_REBUILD_IN_PROGRESS"


async def test_http_status_reports_drift_per_label(
    api: tuple[AsyncTestClient[Any], Container],
) -> None:
    client, container = api
    headers = _auth(container, "org:admin")
    seeded = (await client.get(STATUS, headers=headers)).json()["data"]
    assert seeded["in_sync"] is True  # the demo seed rebuilds once
    container.graph.graph.override(InMemoryGraphProjection())  # a graph that lost everything
    before = (await client.get(STATUS, headers=headers)).json()["data"]
    await client.post(REBUILD, json={}, headers=headers)
    after = (await client.get(STATUS, headers=headers)).json()["data"]

    assert before["labels"]["doctors"] == {"source": 172, "graph": 0, "drift": -172}
    assert after["labels"]["doctors"] == {"source": 172, "graph": 172, "drift": 0}
    assert after["relationships"]["offers"]["drift"] == 0
    assert after["in_sync"] is True
    assert after["graph_available"] is True


async def test_a_provider_created_with_a_new_accreditation_is_projected_by_a_rebuild(
    api: tuple[AsyncTestClient[Any], Container],
) -> None:
    client, container = api
    headers = _auth(container, "org:admin")
    created = await client.post(
        "/api/v1/admin/providers",
        json={
            "provider": {"name": "Ege Hospital", "accreditations": ["JCI", "Planetree"]},
            "tenant": {},
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text

    rebuilt = (await client.post(REBUILD, json={"scope": "providers"}, headers=headers)).json()
    status = (await client.get(STATUS, headers=headers)).json()["data"]

    assert rebuilt["data"]["counts"] == {"providers": 43, "accreditations": 8}
    assert rebuilt["data"]["relationships"]["accredited_by"] == 56
    assert status["labels"]["accreditations"] == {"source": 8, "graph": 8, "drift": 0}
    assert status["relationships"]["accredited_by"]["drift"] == 0
    assert status["in_sync"] is True


# CLI -------------------------------------------------------------------------------------


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ADMIN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}")
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "keys" / "signing.pem"))
    monkeypatch.delenv("ADMIN_NEO4J_URL", raising=False)
    assert main(["db", "upgrade"]) == 0
    assert main(["demo", "seed"]) == 0
    return tmp_path


def test_cli_rebuild_prints_counts(embedded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["--json", "graph", "rebuild", "--scope", "all"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["scope"] == "all"
    assert out["counts"]["doctors"] == 172
    assert out["relationships"]["works_at"] == 172
    assert out["relationships"]["performs"] == 411


def test_cli_rebuild_shows_a_progress_bar_per_label(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["graph", "rebuild"]) == 0
    captured = capsys.readouterr()
    for name in ("providers", "doctors", "procedures", "works_at", "offers"):
        assert name in captured.err
    assert "Graph rebuilt" in captured.out


def test_cli_status_lists_every_label(embedded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["--json", "graph", "status"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["labels"]["providers"]["source"] == 42
    assert set(out["relationships"]) == {"works_at", "offers", "performs", "accredited_by"}


def test_cli_rejects_an_unknown_scope(embedded: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["graph", "rebuild", "--scope", "everything"])
    assert exit_.value.code == 2


async def test_an_unreachable_graph_fails_the_rebuild_with_503_and_drift_still_answers(
    tmp_path: Path,
) -> None:
    container = build_container(
        Settings(database_url="memory://", local_key_path=tmp_path / "signing.pem")
    )
    nowhere = create_driver(  # nothing listens there; give up retrying quickly
        "bolt://127.0.0.1:9", connection_timeout=0.5, max_transaction_retry_time=0.2
    )
    container.graph.graph.override(Neo4jGraphProjection(nowhere))
    await seed_demo(container)
    headers = _auth(container, "org:admin")
    async with AsyncTestClient(create_app(container)) as client:
        rebuild = await client.post(REBUILD, json={"scope": "doctors"}, headers=headers)
        status = await client.get(STATUS, headers=headers)

    assert rebuild.status_code == 503, rebuild.text
    [error] = rebuild.json()["errors"]
    assert error["code"] == "GRAPH_REBUILD_FAILED"
    assert "unreachable" in error["message"]  # the cause, not only the outcome
    assert status.status_code == 200
    data = status.json()["data"]
    assert data["graph_available"] is False
    assert data["labels"]["doctors"] == {"source": 172, "graph": None, "drift": None}
