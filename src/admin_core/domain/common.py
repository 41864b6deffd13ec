"""Small shared shapes: pages of results."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_OFFSET_LIMIT = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetPage(Generic[T]):
    items: Sequence[T]
    total: int
    limit: int
    offset: int
