"""Pages of results: offset pages and the bounds every paged query shares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_OFFSET_LIMIT = 200
#: The deepest offset any list accepts: far beyond any real list, and well inside the 64-bit
#: integers both databases bind (a larger number is a 422, never a driver error).
MAX_OFFSET = 1_000_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetPage(Generic[T]):
    items: Sequence[T]
    total: int
    limit: int
    offset: int
    #: False when `total` is the database's estimate (a list too long to count on every
    #: page; see the list's docs).
    total_exact: bool = True
