"""The graph projection: Neo4j (production, or embedded with `ADMIN_NEO4J_URL`) or the
in-process graph; the source is the database; rebuilds are single-flight through PostgreSQL
when it is the database, through this process otherwise."""

from __future__ import annotations

from collections.abc import Callable

from dependency_injector import containers, providers
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.directory import InMemoryProjectionSource
from adapters.memory.graph import InMemoryGraphProjection, InProcessRebuildLock
from adapters.memory.store import InMemoryStore
from adapters.neo4j.graph import Neo4jGraphProjection, create_driver
from adapters.sql.projection import PostgresRebuildLock, SqliteRebuildLock, SqlProjectionSource
from admin_core.graph.model import RebuildProgress, RebuildResult
from admin_core.graph.ports import GraphProjection, ProjectionSource, RebuildLock
from admin_core.graph.use_cases import RebuildCommand, RebuildProjection, ShowGraphStatus
from admin_core.kernel.principal import Principal
from entrypoints.container import choices
from entrypoints.container.gc_tuning import collector_spares_older_objects
from entrypoints.container.resources import Resources
from entrypoints.settings import Settings


class CollectorSparingRebuild(RebuildProjection):
    """`RebuildProjection` with the garbage collector tuned while it runs."""

    async def execute(
        self,
        principal: Principal,
        command: RebuildCommand,
        *,
        progress: Callable[[RebuildProgress], None] = lambda _: None,
    ) -> RebuildResult:
        with collector_spares_older_objects():
            return await super().execute(principal, command, progress=progress)


def _graph(settings: Settings, resources: Resources) -> GraphProjection:
    if not choices.uses_neo4j(settings):
        return InMemoryGraphProjection()
    assert settings.neo4j_url is not None
    driver = create_driver(settings.neo4j_url, settings.neo4j_user, settings.neo4j_password)
    graph = Neo4jGraphProjection(driver, statement_timeout=settings.neo4j_statement_timeout_seconds)
    resources.add("Neo4j driver", graph.aclose)
    return graph


def _source(
    settings: Settings, engine: Callable[[], AsyncEngine], store: Callable[[], InMemoryStore]
) -> ProjectionSource:
    if choices.database(settings) == "memory":
        return InMemoryProjectionSource(store())
    return SqlProjectionSource(engine())


def _lock(settings: Settings, engine: Callable[[], AsyncEngine]) -> RebuildLock:
    if choices.database(settings) == "postgres":
        return PostgresRebuildLock(engine())
    if choices.database(settings) == "sqlite" and choices.uses_neo4j(settings):
        return SqliteRebuildLock(settings.database_url)  # processes on the file share Neo4j
    return InProcessRebuildLock()  # each process rebuilds a graph of its own


class GraphArea(containers.DeclarativeContainer):
    runtime = providers.DependenciesContainer()
    database = providers.DependenciesContainer()

    graph = providers.Singleton(_graph, runtime.settings, runtime.resources)
    source = providers.Singleton(
        _source, runtime.settings, database.engine.provider, database.store.provider
    )
    rebuild_lock = providers.Singleton(_lock, runtime.settings, database.lock_engine.provider)
    rebuild_graph = providers.Factory(
        CollectorSparingRebuild,
        source=source,
        graph=graph,
        lock=rebuild_lock,
        transactions=database.transactions,
        ids=runtime.ids,
    )
    graph_status = providers.Factory(ShowGraphStatus, source=source, graph=graph)
