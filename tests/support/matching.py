"""A synthetic provider directory whose coverage is known by construction, and its truth.

Row `i` has each field present, blank or absent by a rule on `i`; the truth is counted from
the generated rows with SPEC §6.3's definition of a non-empty value (text not blank, a list
with an item, a number not null, at least one related row), never with adapter code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from admin_core.directory.model import (
    DirectoryBatch,
    DoctorProcedure,
    Procedure,
    ProcedureOffer,
    ProviderDoctor,
    ProviderListing,
)

PROVIDERS = 60
PROCEDURES = 10


def _country(i: int) -> str | None:
    return None if i % 5 == 0 else "  " if i % 5 == 1 else "IN"


def synthetic_batch() -> DirectoryBatch:
    procedures = tuple(
        Procedure(
            code=f"P{k:02d}", name=f"Procedure {k}", specialty=None if k % 3 == 0 else "ortho"
        )
        for k in range(PROCEDURES)
    )
    providers = tuple(
        ProviderListing(
            id=f"prv_{i:03d}",
            name=f"Hospital {i}",
            country=_country(i),
            city="" if i % 4 == 0 else "Pune",
            specialties=None if i % 3 == 0 else ("cardiology",),
            languages=None if i % 2 == 0 else ("en", "hi"),
            accreditations=("JCI",) if i % 7 == 0 else (),
        )
        for i in range(PROVIDERS)
    )
    offers = tuple(
        ProcedureOffer(
            provider_id=f"prv_{i:03d}",
            procedure_code=f"P{i % 7:02d}",  # P07..P09 are offered by nobody
            price_min_usd=None if i % 6 == 0 else Decimal(1000 + i),
            price_max_usd=None if i % 4 == 0 else Decimal(5000 + i),
        )
        for i in range(PROVIDERS)
        if i % 3 != 2
    )
    doctors = tuple(
        ProviderDoctor(
            id=f"doc_{i:03d}",
            provider_id=f"prv_{i:03d}",
            full_name=f"Dr. {i}",
            specialty=None if i % 8 == 0 else "cardiology",
            languages=None if i % 4 == 0 else ("en",),
        )
        for i in range(PROVIDERS)
        if i % 2 == 0
    )
    performed = tuple(
        DoctorProcedure(doctor_id=d.id, procedure_code="P01")
        for d in doctors
        if int(d.id[4:]) % 8 != 6
    )
    return DirectoryBatch(
        accreditations=("JCI",),
        procedures=procedures,
        providers=providers,
        doctors=doctors,
        offers=offers,
        doctor_procedures=performed,
    )


@dataclass(frozen=True)
class Truth:
    entities: int
    covered: int

    @property
    def share(self) -> float | None:
        return self.covered / self.entities if self.entities else None


def _text(value: str | None) -> bool:
    return value is not None and value.strip() != ""


def synthetic_truth() -> Mapping[str, Truth]:
    """Coverage per path (postgres and neo4j spellings) of `synthetic_batch()`."""
    b = synthetic_batch()
    n, nd, np_, no = len(b.providers), len(b.doctors), len(b.procedures), len(b.offers)
    offering = {o.provider_id for o in b.offers}
    priced_min = {o.provider_id for o in b.offers if o.price_min_usd is not None}
    priced_max = {o.provider_id for o in b.offers if o.price_max_usd is not None}
    staffed = {d.provider_id for d in b.doctors}
    staff_lang = {d.provider_id for d in b.doctors if d.languages}
    performing = {dp.doctor_id for dp in b.doctor_procedures}
    offered = {o.procedure_code for o in b.offers}

    def providers(pred: object) -> Truth:
        return Truth(n, sum(1 for p in b.providers if pred(p)))  # type: ignore[operator]

    truth = {
        "providers.country": providers(lambda p: _text(p.country)),
        "providers.city": providers(lambda p: _text(p.city)),
        "providers.specialties": providers(lambda p: bool(p.specialties)),
        "providers.languages": providers(lambda p: bool(p.languages)),
        "providers.accreditations": providers(lambda p: bool(p.accreditations)),
        "providers.procedures": providers(lambda p: p.id in offering),
        "providers.procedures.price_min_usd": providers(lambda p: p.id in priced_min),
        "providers.procedures.price_max_usd": providers(lambda p: p.id in priced_max),
        "providers.doctors": providers(lambda p: p.id in staffed),
        "providers.doctors.languages": providers(lambda p: p.id in staff_lang),
        "providers.tenant": Truth(n, 0),
        "providers.tenant.settings.default_currency": Truth(n, 0),
        "providers.tenant.settings.timezone": Truth(n, 0),
        "providers.tenant.settings.data_residency_region": Truth(n, 0),
        "providers.tenant.settings.payments_provider": Truth(n, 0),
        "doctors.specialty": Truth(nd, sum(1 for d in b.doctors if _text(d.specialty))),
        "doctors.languages": Truth(nd, sum(1 for d in b.doctors if d.languages)),
        "doctors.procedures": Truth(nd, sum(1 for d in b.doctors if d.id in performing)),
        "procedures.specialty": Truth(np_, sum(1 for p in b.procedures if _text(p.specialty))),
        "procedures.providers": Truth(np_, sum(1 for p in b.procedures if p.code in offered)),
        "provider_procedures.price_min_usd": Truth(
            no, sum(1 for o in b.offers if o.price_min_usd is not None)
        ),
        "provider_procedures.price_max_usd": Truth(
            no, sum(1 for o in b.offers if o.price_max_usd is not None)
        ),
        "mso_doctors.languages": Truth(0, 0),
        "mso_doctors.countries": Truth(0, 0),
        "mso_doctors.clerk_user_id": Truth(0, 0),
    }
    same = {
        "(:Provider).country": "providers.country",
        "(:Provider).city": "providers.city",
        "(:Provider).specialties": "providers.specialties",
        "(:Provider).languages": "providers.languages",
        "(:Provider)-[:ACCREDITED_BY]->(:Accreditation)": "providers.accreditations",
        "(:Provider)-[:OFFERS]->(:Procedure)": "providers.procedures",
        "(:Provider)-[:OFFERS {price_min_usd}]->(:Procedure)": "providers.procedures.price_min_usd",
        "(:Provider)-[:OFFERS {price_max_usd}]->(:Procedure)": "providers.procedures.price_max_usd",
        "(:Provider)<-[:WORKS_AT]-(:Doctor)": "providers.doctors",
        "(:Doctor).specialty": "doctors.specialty",
        "(:Doctor).languages": "doctors.languages",
        "(:Doctor)-[:PERFORMS]->(:Procedure)": "doctors.procedures",
        "(:Procedure).specialty": "procedures.specialty",
        "(:Procedure)<-[:OFFERS]-(:Provider)": "procedures.providers",
    }
    return truth | {graph: truth[sql] for graph, sql in same.items()}
