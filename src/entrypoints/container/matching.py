"""The matching dashboard: the registry and default weights from `config/matching/`,
coverage measured on the database that holds each source's data — `postgres` parameters on
the SQL database (or the in-memory store), `neo4j` parameters on Neo4j when the graph is
there (or the in-process graph) — cached in this process; domain weights through the flags
area."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from dependency_injector import containers, providers
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.config_files.matching import FileMatchingConfiguration
from adapters.memory.graph import InMemoryGraphProjection
from adapters.memory.matching import InMemoryGraphCoverage, InMemoryStoreCoverage
from adapters.memory.store import InMemoryStore
from adapters.sql.matching import SqlCoverageMeter
from admin_core.graph.ports import GraphProjection
from admin_core.matching.coverage import CoverageCache
from admin_core.matching.model import Source
from admin_core.matching.ports import CoverageMeter
from admin_core.matching.use_cases import ShowDomainWeights, ShowMatchingParameters
from entrypoints.container import choices
from entrypoints.settings import CONFIG, Settings

#: The registry (`parameters/<domain>.yaml`) and the default weights (`domains.yaml`).
MATCHING_CONFIG = CONFIG / "matching"


def _meters(
    settings: Settings,
    engine: Callable[[], AsyncEngine],
    store: Callable[[], InMemoryStore],
    graph: Callable[[], GraphProjection],
) -> Mapping[Source, CoverageMeter]:
    database: CoverageMeter
    if choices.database(settings) == "memory":
        database = InMemoryStoreCoverage(store())
    else:
        database = SqlCoverageMeter(engine())
    graph_meter: CoverageMeter
    projection = graph()
    if choices.uses_neo4j(settings):
        from adapters.neo4j.graph import Neo4jGraphProjection
        from adapters.neo4j.matching import Neo4jCoverageMeter

        assert isinstance(projection, Neo4jGraphProjection)
        graph_meter = Neo4jCoverageMeter(  # one pool; the graph closes it
            projection.driver, statement_timeout=settings.neo4j_statement_timeout_seconds
        )
    else:
        assert isinstance(projection, InMemoryGraphProjection)
        graph_meter = InMemoryGraphCoverage(projection.graph)
    return {Source.POSTGRES: database, Source.NEO4J: graph_meter}


class MatchingArea(containers.DeclarativeContainer):
    runtime = providers.DependenciesContainer()
    database = providers.DependenciesContainer()
    graph = providers.DependenciesContainer()
    flags = providers.DependenciesContainer()

    configuration = providers.Singleton(FileMatchingConfiguration, MATCHING_CONFIG)
    registry = providers.Singleton(FileMatchingConfiguration.registry, configuration)
    meters = providers.Singleton(
        _meters,
        runtime.settings,
        database.engine.provider,
        database.store.provider,
        graph.graph.provider,
    )
    coverage = providers.Singleton(CoverageCache, registry, meters, runtime.clock)
    show_matching_parameters = providers.Factory(
        ShowMatchingParameters, registry=registry, coverage=coverage
    )
    show_domain_weights = providers.Factory(
        ShowDomainWeights,
        flags=flags.tenant_flags,
        defaults=providers.Singleton(FileMatchingConfiguration.default_weights, configuration),
    )
