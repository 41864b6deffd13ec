"""The transaction boundary: one transaction over whatever repositories a use case names.

The kernel knows no repository. Each area declares the protocol of the transaction its use
cases work in (`TenantsTransaction`, `UsersTransaction`, ...): `Transaction` plus the
repositories it reads and writes. A use case asks for `Transactions[ThatProtocol]` and sees
only those; the SQL and memory adapters compose every repository on one connection and
satisfy each area's protocol.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeVar


class Transaction(Protocol):
    """One transaction. Leaving its block without `commit()` rolls everything back."""

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


T_co = TypeVar("T_co", bound=Transaction, covariant=True)


class Transactions(Protocol[T_co]):
    """Opens transactions: `async with transactions() as tx: ...; await tx.commit()`."""

    def __call__(self) -> AbstractAsyncContextManager[T_co]: ...
