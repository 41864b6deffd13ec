"""The provider directory: the hospitals and clinics the marketplace lists, their doctors,
the procedures they offer and their accreditations (the source of the graph, SPEC §6.1).

Its doctors (`ProviderDoctor`) are the hospitals' staff; the second-opinion doctors of
`admin_core.mso_doctors` are another thing."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from admin_core.kernel.errors import FieldError, ValidationFailed


@dataclass(frozen=True, slots=True, kw_only=True)
class Provider:
    """A hospital or clinic. `specialties` and `languages` keep the order they were given in;
    `accreditations` (names of accrediting bodies, e.g. `JCI`) are a set, kept sorted."""

    id: str
    name: str
    country: str | None
    city: str | None
    specialties: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    accreditations: tuple[str, ...] = ()
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderListing:
    """A provider's listing details as the directory is loaded with them. Writing one that
    exists keeps its name and location and fills in only the listing details it lacks."""

    id: str
    name: str
    country: str | None
    city: str | None
    specialties: tuple[str, ...] | None = None
    languages: tuple[str, ...] | None = None  # ISO 639-1
    accreditations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderDoctor:
    """A doctor on a provider's staff."""

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
class DirectoryBatch:
    """Rows for several directory tables, written parents first."""

    accreditations: tuple[str, ...] = ()
    procedures: tuple[Procedure, ...] = ()
    providers: tuple[ProviderListing, ...] = ()
    doctors: tuple[ProviderDoctor, ...] = ()
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

    def outside_references(self) -> Iterator[DirectoryReference]:
        """The providers, doctors and procedures its rows name that the batch itself does not
        hold: a writer keeps the batch only when the directory holds each of them already."""
        procedures = {p.code for p in self.procedures}
        providers = {p.id for p in self.providers}
        doctors = {d.id for d in self.doctors}
        for i, d in enumerate(self.doctors):
            if d.provider_id not in providers:
                yield DirectoryReference(f"doctors.{i}.provider_id", "provider", d.provider_id)
        for i, o in enumerate(self.offers):
            if o.provider_id not in providers:
                yield DirectoryReference(f"offers.{i}.provider_id", "provider", o.provider_id)
            if o.procedure_code not in procedures:
                yield DirectoryReference(
                    f"offers.{i}.procedure_code", "procedure", o.procedure_code
                )
        for i, dp in enumerate(self.doctor_procedures):
            if dp.doctor_id not in doctors:
                yield DirectoryReference(f"doctor_procedures.{i}.doctor_id", "doctor", dp.doctor_id)
            if dp.procedure_code not in procedures:
                yield DirectoryReference(
                    f"doctor_procedures.{i}.procedure_code", "procedure", dp.procedure_code
                )


DirectoryKind = Literal["provider", "doctor", "procedure"]


@dataclass(frozen=True, slots=True)
class DirectoryReference:
    """A batch's row naming a directory row by key: `field` is where (`doctors.0.provider_id`)."""

    field: str
    kind: DirectoryKind
    key: str


def refuse_missing(
    references: Collection[DirectoryReference], held: Mapping[DirectoryKind, Collection[str]]
) -> None:
    """Raise `ValidationFailed`, one `FieldError` per reference, when the directory (`held`:
    the referenced keys it has, by kind) lacks any row the references name."""
    missing = [r for r in references if r.key not in held.get(r.kind, ())]
    if missing:
        raise ValidationFailed(
            [
                FieldError(
                    field=r.field,
                    message=f"names {r.kind} {r.key}, which the directory does not hold",
                )
                for r in missing
            ]
        )
