"""Providers: the hospitals and clinics whose data the marketplace lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
