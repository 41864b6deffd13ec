"""The measurable paths: what a `postgres` or `neo4j` parameter may read (SPEC §6.3).

This is the whitelist. Each path names one field or relation of one entity; each adapter that
measures coverage maps every path of its source to an expression prepared in advance, and a
path outside this list is refused when the registry is loaded, so no text from a registry
file ever reaches a query. A path covers an entity when the entity has a non-empty value
there: text that is not blank, a list that is not empty, a number that is not null, or at
least one related row (with the named field non-empty, where one is named).
"""

from __future__ import annotations

from collections.abc import Mapping

# The entities: tables of the source of truth, labels of the graph.
PROVIDERS = "providers"
DOCTORS = "doctors"
PROCEDURES = "procedures"
OFFERS = "provider_procedures"
MSO_DOCTORS = "mso_doctors"
PROVIDER_NODES = "Provider"
DOCTOR_NODES = "Doctor"
PROCEDURE_NODES = "Procedure"

#: `postgres` paths (entity.field, or entity.relation[.field]) → the entity they measure.
POSTGRES_PATHS: Mapping[str, str] = {
    "providers.country": PROVIDERS,
    "providers.city": PROVIDERS,
    "providers.specialties": PROVIDERS,
    "providers.languages": PROVIDERS,
    "providers.accreditations": PROVIDERS,
    "providers.procedures": PROVIDERS,
    "providers.procedures.price_min_usd": PROVIDERS,
    "providers.procedures.price_max_usd": PROVIDERS,
    "providers.doctors": PROVIDERS,
    "providers.doctors.languages": PROVIDERS,
    "providers.tenant": PROVIDERS,
    "providers.tenant.settings.default_currency": PROVIDERS,
    "providers.tenant.settings.timezone": PROVIDERS,
    "providers.tenant.settings.data_residency_region": PROVIDERS,
    "providers.tenant.settings.payments_provider": PROVIDERS,
    "doctors.specialty": DOCTORS,
    "doctors.languages": DOCTORS,
    "doctors.procedures": DOCTORS,
    "procedures.specialty": PROCEDURES,
    "procedures.providers": PROCEDURES,
    "provider_procedures.price_min_usd": OFFERS,
    "provider_procedures.price_max_usd": OFFERS,
    "mso_doctors.languages": MSO_DOCTORS,
    "mso_doctors.countries": MSO_DOCTORS,
    "mso_doctors.clerk_user_id": MSO_DOCTORS,
}

#: `neo4j` paths (a node's property, or a pattern starting at the node) → the label measured.
NEO4J_PATHS: Mapping[str, str] = {
    "(:Provider).country": PROVIDER_NODES,
    "(:Provider).city": PROVIDER_NODES,
    "(:Provider).specialties": PROVIDER_NODES,
    "(:Provider).languages": PROVIDER_NODES,
    "(:Provider)-[:ACCREDITED_BY]->(:Accreditation)": PROVIDER_NODES,
    "(:Provider)-[:OFFERS]->(:Procedure)": PROVIDER_NODES,
    "(:Provider)-[:OFFERS {price_min_usd}]->(:Procedure)": PROVIDER_NODES,
    "(:Provider)-[:OFFERS {price_max_usd}]->(:Procedure)": PROVIDER_NODES,
    "(:Provider)<-[:WORKS_AT]-(:Doctor)": PROVIDER_NODES,
    "(:Doctor).specialty": DOCTOR_NODES,
    "(:Doctor).languages": DOCTOR_NODES,
    "(:Doctor)-[:PERFORMS]->(:Procedure)": DOCTOR_NODES,
    "(:Procedure).specialty": PROCEDURE_NODES,
    "(:Procedure)<-[:OFFERS]-(:Provider)": PROCEDURE_NODES,
}

#: The measurable paths by source (`Source.value`).
MEASURABLE: Mapping[str, Mapping[str, str]] = {"postgres": POSTGRES_PATHS, "neo4j": NEO4J_PATHS}
