"""What the health area needs from the outside: one probe per external dependency, and the
database's schema revision."""

from __future__ import annotations

from typing import Protocol

from admin_core.health.model import SchemaRevision


class DependencyDown(Exception):
    """The dependency did not answer as expected. The message is shown to operators: it
    names what failed (an HTTP status, a refused connection, an exception's class) and
    never a secret, a key or a URL carrying credentials."""

    @classmethod
    def unreachable(cls, error: BaseException) -> DependencyDown:
        """No answer at all: the connection failed or broke (the class, not the text, of
        the error: a driver's text may carry an address with credentials)."""
        return cls(f"unreachable ({type(error).__name__})")

    @classmethod
    def answered(cls, status: int) -> DependencyDown:
        """An HTTP answer other than the expected success."""
        if status in (401, 403):
            return cls(f"credentials refused (HTTP {status})")
        if status == 429:
            return cls("rate limited (HTTP 429)")
        if status >= 500:
            return cls(f"server error (HTTP {status})")
        return cls(f"unexpected answer (HTTP {status})")


class DependencyNotConfigured(Exception):
    """The dependency has no configuration here: reported `not_configured`, never down."""


class DependencyProbe(Protocol):
    """The cheapest read-only call that proves a dependency answers (and, where a call
    needs them, that our credentials are accepted)."""

    #: The dependency's name in the report (`postgres`, `stripe`, `daily_co`, ...).
    name: str

    async def check(self) -> None:
        """Return when the dependency answered as expected; raise `DependencyDown` when it
        did not (or `DependencyNotConfigured`). The caller bounds the time it may take."""
        ...


class UnconfiguredProbe(DependencyProbe):
    """Stands for a dependency without configuration: always `not_configured`."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def check(self) -> None:
        raise DependencyNotConfigured(self.name)


class DatabaseSchema(Protocol):
    """The revision of the database's schema, read as the application reads its tables."""

    async def revision(self) -> SchemaRevision:
        """The revision found, the one this code needs, how the two compare, and whether the
        database takes writes. Raises what a transaction would when it cannot be read."""
        ...
