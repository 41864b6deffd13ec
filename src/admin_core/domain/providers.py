"""Providers: the hospitals and clinics whose data the marketplace lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Provider:
    id: str
    name: str
    country: str | None
    city: str | None
    created_at: datetime
    updated_at: datetime
