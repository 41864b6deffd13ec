"""In-memory user directory and user-role repositories."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from adapters.memory.store import InMemoryStore
from admin_core.users.model import UserContact, UserRole
from admin_core.users.ports import UserContacts, UserRoleRepository


class InMemoryUserContacts(UserContacts):
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    async def upsert(self, user: UserContact) -> None:
        self._store.users[user.id] = user

    async def get_many(self, user_ids: Collection[str]) -> dict[str, UserContact]:
        return {i: self._store.users[i] for i in user_ids if i in self._store.users}


class InMemoryUserRoleRepository(UserRoleRepository):
    """Grants keyed by (tenant, user, role). The store's single lock already serialises
    transactions, so `holders(lock=True)` needs nothing more."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    async def add(self, grant: UserRole) -> bool:
        key = (grant.tenant_id, grant.user_id, grant.role)
        if key in self._store.user_roles:
            return False
        self._store.user_roles[key] = grant
        return True

    async def get(self, tenant_id: str, user_id: str, role: str) -> UserRole | None:
        return self._store.user_roles.get((tenant_id, user_id, role))

    async def remove(self, tenant_id: str, user_id: str, role: str) -> bool:
        return self._store.user_roles.pop((tenant_id, user_id, role), None) is not None

    async def roles_of(
        self, tenant_id: str, user_id: str, *, lock: bool = False
    ) -> tuple[str, ...]:
        # A transaction holds the whole store until it ends: every read is locked.
        return tuple(
            sorted(r for t, u, r in self._store.user_roles if t == tenant_id and u == user_id)
        )

    async def for_tenant(self, tenant_id: str) -> Sequence[UserRole]:
        grants = [g for (t, _, _), g in self._store.user_roles.items() if t == tenant_id]
        return sorted(grants, key=lambda g: (g.user_id, g.role))

    async def holders(self, tenant_id: str, role: str, *, lock: bool = False) -> tuple[str, ...]:
        return tuple(
            sorted(u for t, u, r in self._store.user_roles if t == tenant_id and r == role)
        )
