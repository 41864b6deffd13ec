"""Coverage of the `neo4j` matching parameters, measured on the graph projection in Neo4j.

Each measurable path (`admin_core.matching.paths.NEO4J_PATHS`) maps to a Cypher condition on
a node `n` written here: the whitelist. `measure` reads each label once: one
`MATCH (n:Label) RETURN count(n), count(CASE WHEN <condition> THEN 1 END), ...` computes every
requested path of that label together; a pattern is an `EXISTS { ... }` sub-query from `n`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from typing import LiteralString

import neo4j
import neo4j.exceptions

from admin_core.matching import paths as p
from admin_core.matching.ports import Coverage, CoverageMeter, CoverageUnavailable

_UNREACHABLE = (
    neo4j.exceptions.ServiceUnavailable,
    neo4j.exceptions.SessionExpired,
    neo4j.exceptions.ConnectionAcquisitionTimeoutError,
    neo4j.exceptions.DatabaseUnavailable,
    neo4j.exceptions.AuthError,
    OSError,
    TimeoutError,
)


def _text(name: LiteralString) -> LiteralString:
    return f"n.{name} IS NOT NULL AND trim(toString(n.{name})) <> ''"


def _list(name: LiteralString) -> LiteralString:
    return f"size(coalesce(n.{name}, [])) > 0"


#: The whitelist: every `neo4j` path → its condition on a node `n` of its label.
CONDITIONS: Mapping[str, LiteralString] = {
    "(:Provider).country": _text("country"),
    "(:Provider).city": _text("city"),
    "(:Provider).specialties": _list("specialties"),
    "(:Provider).languages": _list("languages"),
    "(:Provider)-[:ACCREDITED_BY]->(:Accreditation)": (
        "EXISTS { (n)-[:ACCREDITED_BY]->(:Accreditation) }"
    ),
    "(:Provider)-[:OFFERS]->(:Procedure)": "EXISTS { (n)-[:OFFERS]->(:Procedure) }",
    "(:Provider)-[:OFFERS {price_min_usd}]->(:Procedure)": (
        "EXISTS { MATCH (n)-[r:OFFERS]->(:Procedure) WHERE r.price_min_usd IS NOT NULL }"
    ),
    "(:Provider)-[:OFFERS {price_max_usd}]->(:Procedure)": (
        "EXISTS { MATCH (n)-[r:OFFERS]->(:Procedure) WHERE r.price_max_usd IS NOT NULL }"
    ),
    "(:Provider)<-[:WORKS_AT]-(:Doctor)": "EXISTS { (n)<-[:WORKS_AT]-(:Doctor) }",
    "(:Doctor).specialty": _text("specialty"),
    "(:Doctor).languages": _list("languages"),
    "(:Doctor)-[:PERFORMS]->(:Procedure)": "EXISTS { (n)-[:PERFORMS]->(:Procedure) }",
    "(:Procedure).specialty": _text("specialty"),
    "(:Procedure)<-[:OFFERS]-(:Provider)": "EXISTS { (n)<-[:OFFERS]-(:Provider) }",
}

#: The labels, as Cypher text (never taken from a registry file).
LABELS: Mapping[str, LiteralString] = {
    p.PROVIDER_NODES: "Provider",
    p.DOCTOR_NODES: "Doctor",
    p.PROCEDURE_NODES: "Procedure",
}

if set(CONDITIONS) != set(p.NEO4J_PATHS):  # pragma: no cover - a programming error
    raise RuntimeError("the Cypher coverage whitelist and NEO4J_PATHS differ")


def coverage_query(label: str, paths: Collection[str]) -> LiteralString:
    """One pass over the nodes of `label`: their count (`entities`), then `c0`, `c1`, ...
    one count per path, in order."""
    query: LiteralString = "MATCH (n:" + LABELS[label] + ") RETURN count(n) AS entities"
    for i, path in enumerate(paths):
        query += ", count(CASE WHEN " + CONDITIONS[path] + f" THEN 1 END) AS c{i}"
    return query


class Neo4jCoverageMeter(CoverageMeter):
    def __init__(
        self,
        driver: neo4j.AsyncDriver,
        *,
        database: str | None = None,
        statement_timeout: float = 60.0,
    ) -> None:
        self._driver = driver
        self._database = database
        self._timeout = statement_timeout

    async def measure(self, paths: Collection[str]) -> Mapping[str, Coverage]:
        by_label: dict[str, list[str]] = {}
        for path in paths:
            by_label.setdefault(p.NEO4J_PATHS[path], []).append(path)
        result: dict[str, Coverage] = {}
        try:
            # The driver reads without a timeout: a Neo4j gone quiet would hold the request.
            async with (
                asyncio.timeout(self._timeout * len(by_label)),
                self._driver.session(
                    database=self._database, default_access_mode=neo4j.READ_ACCESS
                ) as session,
            ):
                for label, names in by_label.items():
                    records = await session.run(coverage_query(label, names))
                    record = await records.single(strict=True)
                    for i, name in enumerate(names):
                        result[name] = Coverage(
                            entities=int(record["entities"]), covered=int(record[f"c{i}"])
                        )
        except TimeoutError as error:
            raise CoverageUnavailable(
                f"Neo4j did not answer in time ({self._timeout:g} s a label)"
            ) from error
        except _UNREACHABLE as error:
            raise CoverageUnavailable(f"Neo4j is unreachable: {type(error).__name__}") from error
        except neo4j.exceptions.Neo4jError as error:
            raise CoverageUnavailable(f"Neo4j refused the query: {error.code}") from error
        return result

    async def aclose(self) -> None:
        await self._driver.close()
