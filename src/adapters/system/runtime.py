"""The system clock and a ULID-style id generator."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

from admin_core.kernel.runtime import Clock, IdGenerator

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC)


class UlidGenerator(IdGenerator):
    """`<prefix>_<ULID>`: sortable by creation time, unique across replicas."""

    def new_id(self, prefix: str) -> str:
        value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
        chars = []
        for _ in range(26):
            chars.append(_CROCKFORD[value & 31])
            value >>= 5
        return f"{prefix}_{''.join(reversed(chars))}"
