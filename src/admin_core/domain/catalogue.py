"""The provider catalogue the graph is projected from: providers' listing details,
accreditations, doctors, procedures, and what links them (SPEC §6.1)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogueProvider:
    """A provider as listed in the catalogue. Writing one that exists keeps its name and
    location and fills in only the listing details it lacks."""

    id: str
    name: str
    country: str | None
    city: str | None
    specialties: tuple[str, ...] | None = None
    languages: tuple[str, ...] | None = None  # ISO 639-1
    accreditations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Doctor:
    id: str
    provider_id: str
    full_name: str
    specialty: str | None
    languages: tuple[str, ...] | None = None  # ISO 639-1


@dataclass(frozen=True, slots=True, kw_only=True)
class Procedure:
    code: str
    name: str
    specialty: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcedureOffer:
    """A provider offers a procedure, at a price range in USD."""

    provider_id: str
    procedure_code: str
    price_min_usd: Decimal | None
    price_max_usd: Decimal | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DoctorProcedure:
    doctor_id: str
    procedure_code: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogueBatch:
    """Rows for several catalogue tables, written parents first."""

    accreditations: tuple[str, ...] = ()
    procedures: tuple[Procedure, ...] = ()
    providers: tuple[CatalogueProvider, ...] = ()
    doctors: tuple[Doctor, ...] = ()
    offers: tuple[ProcedureOffer, ...] = ()
    doctor_procedures: tuple[DoctorProcedure, ...] = ()

    @property
    def size(self) -> int:
        return (
            len(self.accreditations)
            + len(self.procedures)
            + len(self.providers)
            + len(self.doctors)
            + len(self.offers)
            + len(self.doctor_procedures)
            + sum(len(p.accreditations) for p in self.providers)
        )
