"""A synthetic provider directory of any size, for benchmarks and tests.

`entities` counts source rows that become nodes (accreditations, procedures, providers,
doctors); relationships come to about 3.2 × entities (each doctor works at one provider and
performs two procedures; each provider offers four procedures and holds one or two
accreditations). Generated lazily in batches, so memory does not grow with the size.
"""

from __future__ import annotations

from collections.abc import Iterator
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
from admin_core.directory.ports import DirectoryBulkLoader
from admin_core.kernel.runtime import Clock

SPECIALTIES = (
    "cardiology", "orthopedics", "oncology", "neurology", "fertility", "transplant",
    "ophthalmology", "bariatrics", "cosmetic", "dentistry",
)  # fmt: skip
LANGUAGES = ("en", "hi", "th", "tr", "ar", "ru", "zh", "es", "de", "ko", "ms", "ja")
COUNTRIES = (
    ("IN", "Chennai"), ("TH", "Bangkok"), ("TR", "Istanbul"), ("SG", "Singapore"),
    ("MY", "Kuala Lumpur"), ("AE", "Dubai"), ("KR", "Seoul"), ("DE", "Berlin"),
    ("MX", "Tijuana"), ("ES", "Madrid"),
)  # fmt: skip
OFFERS_PER_PROVIDER = 4
PROCEDURES_PER_DOCTOR = 2
MIN_ENTITIES = 30


@dataclass(frozen=True, slots=True, kw_only=True)
class SyntheticPlan:
    accreditations: int
    procedures: int
    providers: int
    doctors: int

    @classmethod
    def of(cls, entities: int) -> SyntheticPlan:
        if entities < MIN_ENTITIES:
            raise ValueError(f"a synthetic directory needs at least {MIN_ENTITIES} entities")
        accreditations = min(40, max(4, entities // 500))
        procedures = min(2000, max(10, entities // 100))
        providers = max(4, entities // 10)
        doctors = entities - accreditations - procedures - providers
        return cls(
            accreditations=accreditations,
            procedures=procedures,
            providers=providers,
            doctors=doctors,
        )

    @property
    def entities(self) -> int:
        return self.accreditations + self.procedures + self.providers + self.doctors

    @property
    def relationships(self) -> int:
        accredited = self.providers + self.providers // 2  # one, or two for every other one
        return (
            self.doctors * (1 + PROCEDURES_PER_DOCTOR)
            + self.providers * OFFERS_PER_PROVIDER
            + accredited
        )


def provider_id(i: int) -> str:
    return f"prv_syn_{i:08d}"


def doctor_id(i: int) -> str:
    return f"doc_syn_{i:08d}"


def procedure_code(i: int) -> str:
    return f"SYN{i:05d}"


def accreditation_name(i: int) -> str:
    return f"ACC-{i:03d}"


def synthetic_directory(entities: int, *, batch_size: int = 20_000) -> Iterator[DirectoryBatch]:
    """Batches of new rows, parents before children."""
    plan = SyntheticPlan.of(entities)
    yield DirectoryBatch(
        accreditations=tuple(accreditation_name(i) for i in range(plan.accreditations)),
        procedures=tuple(
            Procedure(
                code=procedure_code(i),
                name=f"Synthetic procedure {i}",
                specialty=SPECIALTIES[i % len(SPECIALTIES)],
            )
            for i in range(plan.procedures)
        ),
    )
    for start in range(0, plan.providers, batch_size):
        indexes = range(start, min(start + batch_size, plan.providers))
        providers = []
        offers = []
        for i in indexes:
            country, city = COUNTRIES[i % len(COUNTRIES)]
            providers.append(
                ProviderListing(
                    id=provider_id(i),
                    name=f"Synthetic Hospital {i}",
                    country=country,
                    city=city,
                    specialties=(
                        SPECIALTIES[i % len(SPECIALTIES)],
                        SPECIALTIES[(i + 3) % len(SPECIALTIES)],
                    ),
                    languages=("en", LANGUAGES[1 + i % (len(LANGUAGES) - 1)]),
                    accreditations=tuple(
                        accreditation_name((i + k) % plan.accreditations) for k in range(1 + i % 2)
                    ),
                )
            )
            for k in range(OFFERS_PER_PROVIDER):
                low = 1000 + (i * 37 + k * 101) % 20_000
                offers.append(
                    ProcedureOffer(
                        provider_id=provider_id(i),
                        procedure_code=procedure_code(
                            (i * OFFERS_PER_PROVIDER + k) % plan.procedures
                        ),
                        price_min_usd=Decimal(low),
                        price_max_usd=Decimal(low + 500 + (i * 13) % 5000),
                    )
                )
        yield DirectoryBatch(providers=tuple(providers), offers=tuple(offers))
    for start in range(0, plan.doctors, batch_size):
        indexes = range(start, min(start + batch_size, plan.doctors))
        doctors = []
        performed = []
        for i in indexes:
            doctors.append(
                ProviderDoctor(
                    id=doctor_id(i),
                    provider_id=provider_id(i % plan.providers),
                    full_name=f"Dr. Synthetic {i}",
                    specialty=SPECIALTIES[i % len(SPECIALTIES)],
                    languages=("en", LANGUAGES[1 + i % (len(LANGUAGES) - 1)]),
                )
            )
            for k in range(PROCEDURES_PER_DOCTOR):
                performed.append(
                    DoctorProcedure(
                        doctor_id=doctor_id(i),
                        procedure_code=procedure_code(
                            (i * PROCEDURES_PER_DOCTOR + k) % plan.procedures
                        ),
                    )
                )
        yield DirectoryBatch(doctors=tuple(doctors), doctor_procedures=tuple(performed))


class LoadSyntheticDirectory:
    """Append a synthetic directory of `entities` rows to an empty directory (benchmarks,
    tests). Returns the plan that was loaded."""

    def __init__(self, loader: DirectoryBulkLoader, clock: Clock) -> None:
        self._loader = loader
        self._clock = clock

    async def execute(self, entities: int, *, batch_size: int = 20_000) -> SyntheticPlan:
        plan = SyntheticPlan.of(entities)
        await self._loader.load(
            synthetic_directory(entities, batch_size=batch_size), now=self._clock.now()
        )
        return plan
