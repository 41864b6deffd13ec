"""Turn a bearer token into a `Principal`."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

from admin_core.auth.policy import RolePolicy, normalise_role
from admin_core.auth.ports import OrgLookupTransaction, SessionTokenVerifier
from admin_core.kernel.errors import AuthHeaderMissing
from admin_core.kernel.principal import OrgKind, Principal, Scope
from admin_core.kernel.runtime import Clock
from admin_core.kernel.transaction import Transactions


class Authenticate:
    """Verify the session token and resolve who the caller is and how far they reach.

    Rules:
    - no token → AUTH_HEADER_MISSING; the verifier decides invalid/expired;
    - an org listed as a platform org gives platform scope;
    - any other org gives scope over the one tenant it maps to through `tenant_org_mappings`
      (looked up at most once per `cache_ttl` per org); an unmapped org, or no org, reaches
      nothing;
    - permissions come from the role policy for that kind of org (`org:super_admin` counts
      only in a platform org).
    """

    def __init__(
        self,
        verifier: SessionTokenVerifier,
        transactions: Transactions[OrgLookupTransaction],
        policy: RolePolicy,
        platform_orgs: Collection[str],
        clock: Clock,
        cache_ttl: timedelta = timedelta(seconds=30),
    ) -> None:
        self._verifier = verifier
        self._transactions = transactions
        self._policy = policy
        self._platform_orgs = frozenset(platform_orgs)
        self._clock = clock
        self._cache_ttl = cache_ttl
        self._org_cache: dict[str, tuple[str | None, float]] = {}

    async def execute(self, token: str | None, *, request_id: str | None = None) -> Principal:
        """The caller of a request (`request_id` is the request it acts in)."""
        if not token:
            raise AuthHeaderMissing()
        claims = await self._verifier.verify(token)
        role = normalise_role(claims.org_role)
        if claims.org_id is None:
            return Principal(
                user_id=claims.user_id,
                org_id=None,
                role=role,
                tenant_id=None,
                scope=Scope.NONE,
                request_id=request_id,
            )
        if claims.org_id in self._platform_orgs:
            return Principal(
                user_id=claims.user_id,
                org_id=claims.org_id,
                role=role,
                tenant_id=None,
                scope=Scope.PLATFORM,
                permissions=self._policy.permissions(role, OrgKind.PLATFORM),
                request_id=request_id,
            )
        tenant_id = await self._tenant_for_org(claims.org_id)
        if tenant_id is None:
            return Principal(
                user_id=claims.user_id,
                org_id=claims.org_id,
                role=role,
                tenant_id=None,
                scope=Scope.NONE,
                request_id=request_id,
            )
        return Principal(
            user_id=claims.user_id,
            org_id=claims.org_id,
            role=role,
            tenant_id=tenant_id,
            scope=Scope.TENANT,
            permissions=self._policy.permissions(role, OrgKind.TENANT),
            request_id=request_id,
        )

    async def _tenant_for_org(self, org_id: str) -> str | None:
        now = self._clock.now().timestamp()
        cached = self._org_cache.get(org_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        async with self._transactions() as tx:
            tenant_id = await tx.org_mappings.tenant_for_org(org_id)
        self._org_cache[org_id] = (tenant_id, now + self._cache_ttl.total_seconds())
        return tenant_id

    def forget_org(self, org_id: str) -> None:
        """Drop a cached mapping on this replica (called after the mapping changes)."""
        self._org_cache.pop(org_id, None)
