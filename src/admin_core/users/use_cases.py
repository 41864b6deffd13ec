"""Users and roles of a tenant (SPEC §6.9), checked against the identity provider. Each use
case takes the acting principal and one command defined beside it."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from admin_core.audit.recording import record_audit
from admin_core.auth.policy import RolePolicy
from admin_core.kernel.principal import PLATFORM_TENANT_ID, OrgKind, Permission, Principal
from admin_core.kernel.runtime import Clock
from admin_core.kernel.transaction import Transactions
from admin_core.kernel.validation import FieldChecks
from admin_core.tenants.errors import TenantNotFound
from admin_core.users.errors import RoleNotAllowed
from admin_core.users.grants import check_role_change, membership_role, org_kind
from admin_core.users.model import (
    ROLE,
    USER_ID,
    RoleChange,
    TenantUser,
    UserContact,
    UserRole,
    UserSource,
)
from admin_core.users.ports import (
    IdentityProvider,
    MembershipAlreadyExists,
    MembershipNotFound,
    OrgMembership,
    UsersTransaction,
)

log = logging.getLogger("admin_core.users")

PAGE = 100
MAX_PAGES = 100  # 10,000 members: beyond that, an organisation is not a tenant's staff list


def _check(user_id: str, role: str | None = None) -> None:
    checks = FieldChecks()
    checks.text(
        "user_id",
        user_id,
        max_length=128,
        pattern=USER_ID,
        pattern_hint="an identity provider user id such as user_2abc",
    )
    if role is not None:
        checks.text("role", role, max_length=64, pattern=ROLE, pattern_hint="a role like org:admin")
    checks.done()


async def _org_of(tx: UsersTransaction, tenant_id: str, platform_org: str | None) -> str | None:
    """The organisation whose memberships mirror the tenant's roles (None: roles are local
    only). Raises TENANT_NOT_FOUND."""
    if tenant_id == PLATFORM_TENANT_ID:
        return platform_org
    if await tx.tenants.get(tenant_id) is None:
        raise TenantNotFound(details={"tenant_id": tenant_id})
    mapping = await tx.org_mappings.for_tenant(tenant_id)
    return mapping.org_id if mapping else None


def _audit_tenant(tenant_id: str) -> str | None:
    """Platform roles are recorded in the platform chain."""
    return None if tenant_id == PLATFORM_TENANT_ID else tenant_id


class MembershipSync:
    """Makes a user's organisation membership carry a given role (or no membership), and can
    put back what was there before."""

    def __init__(self, identity: IdentityProvider) -> None:
        self._identity = identity

    async def current(self, org_id: str, user_id: str) -> str | None:
        page = await self._identity.list_memberships(org_id, user_ids=[user_id], limit=10)
        return next((m.role for m in page.memberships if m.user_id == user_id), None)

    async def _set(
        self, org_id: str, user_id: str, current: str | None, target: str | None
    ) -> None:
        if target == current:
            return
        if target is None:
            with contextlib.suppress(MembershipNotFound):
                await self._identity.delete_membership(org_id, user_id)
        elif current is None:
            try:
                await self._identity.create_membership(org_id, user_id, target)
            except MembershipAlreadyExists:  # a retried create that had gone through
                await self._identity.update_membership(org_id, user_id, target)
        else:
            try:
                await self._identity.update_membership(org_id, user_id, target)
            except MembershipNotFound:
                await self._identity.create_membership(org_id, user_id, target)

    async def apply(
        self, org_id: str, user_id: str, target_of: Callable[[str | None], str | None]
    ) -> tuple[str | None, str | None]:
        """Set the membership to `target_of(the role it has now)`; returns (the role it had,
        the role it has now), None meaning no membership. When the write fails its outcome is
        unknown (a timeout may hide a success), so the previous state is put back before the
        error is raised."""
        previous = await self.current(org_id, user_id)
        target = target_of(previous)
        try:
            await self._set(org_id, user_id, previous, target)
        except Exception:
            await self.restore(org_id, user_id, previous)
            raise
        return previous, target

    async def restore(self, org_id: str, user_id: str, previous: str | None) -> None:
        """Best effort: a failure here is logged, never raised over the original error."""
        try:
            await self._set(org_id, user_id, await self.current(org_id, user_id), previous)
        except Exception:  # compensation must not mask the error it handles
            log.exception(
                "could not restore the membership of %s in %s to %r", user_id, org_id, previous
            )


def _change_snapshot(user_id: str, roles: tuple[str, ...], org_role: str | None) -> dict[str, Any]:
    return {"user_id": user_id, "roles": list(roles), "org_role": org_role}


async def _commit_role_change(
    tx: UsersTransaction,
    principal: Principal,
    sync: MembershipSync,
    policy: RolePolicy,
    *,
    verb: str,
    tenant_id: str,
    user_id: str,
    role: str,
    kind: OrgKind,
    org_id: str | None,
    before: tuple[str, ...],
    after: tuple[str, ...],
) -> RoleChange:
    """The second half of a grant or revoke (ADR 0030): the local row is already written in
    `tx`; set the organisation membership, append the audit entry, commit — and put the
    membership back if anything after the Clerk write fails.

    The membership carries the strongest of the user's roles here; a grant also counts the
    role the membership already has, so granting never takes access away (a member made
    `org:admin` in Clerk directly stays one when given a weaker role here). A revoke falls
    back to the strongest role left here, or removes the membership with the last one."""

    def target_of(current: str | None) -> str | None:
        held = (*after, current) if verb == "assign" and current else after
        return membership_role(policy, kind, held)

    previous, target = await sync.apply(org_id, user_id, target_of) if org_id else (None, None)
    try:
        await record_audit(
            tx,
            principal,
            action=f"user_role.{verb}",
            event_type=f"ADMIN_USER_ROLE_{verb.upper()}",
            resource_type="user_role",
            resource_id=user_id,
            tenant_id=_audit_tenant(tenant_id),
            before=_change_snapshot(user_id, before, previous),
            after=_change_snapshot(user_id, after, target)
            | {"granted" if verb == "assign" else "revoked": role},
        )
        await tx.commit()
    except Exception:
        if org_id:
            await sync.restore(org_id, user_id, previous)
        raise
    return RoleChange(
        tenant_id=tenant_id,
        user_id=user_id,
        role=role,
        changed=True,
        roles=after,
        org_role=target,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ListTenantUsersQuery:
    tenant_id: str  # a tenant id, or `platform` for the platform organisation


class ListTenantUsers:
    """A tenant's users with their roles.

    Rules: `tenant:manage` reaching the tenant (`platform` names the platform organisation,
    which only platform callers reach); 404 for an unknown tenant. Users come from the roles
    granted here and from the members of the tenant's organisation at the identity provider;
    `source` says which (`local`, `clerk`, `both`). Identity provider down → 503.
    """

    def __init__(
        self,
        transactions: Transactions[UsersTransaction],
        identity: IdentityProvider,
        platform_org: str | None,
    ) -> None:
        self._transactions = transactions
        self._identity = identity
        self._platform_org = platform_org

    async def execute(self, principal: Principal, query: ListTenantUsersQuery) -> list[TenantUser]:
        tenant_id = query.tenant_id
        principal.require(Permission.TENANT_MANAGE, tenant_id=tenant_id)
        async with self._transactions() as tx:
            org_id = await _org_of(tx, tenant_id, self._platform_org)
            grants = await tx.user_roles.for_tenant(tenant_id)
            directory = await tx.users.get_many({g.user_id for g in grants})
        members = await self._members(org_id) if org_id else {}
        roles: dict[str, list[str]] = {}
        for grant in grants:
            roles.setdefault(grant.user_id, []).append(grant.role)
        result = []
        for user_id in sorted(set(roles) | set(members)):
            member = members.get(user_id)
            cached = directory.get(user_id)
            local = user_id in roles
            source = UserSource.BOTH if local and member else UserSource.LOCAL
            if not local:
                source = UserSource.CLERK
            result.append(
                TenantUser(
                    user_id=user_id,
                    email=(cached.email if cached else None) or (member.email if member else None),
                    name=(cached.name if cached else None) or (member.name if member else None),
                    roles=tuple(sorted(roles.get(user_id, ()))),
                    org_role=member.role if member else None,
                    source=source,
                )
            )
        return result

    async def _members(self, org_id: str) -> dict[str, OrgMembership]:
        members: dict[str, OrgMembership] = {}
        for page_number in range(MAX_PAGES):
            page = await self._identity.list_memberships(
                org_id, limit=PAGE, offset=page_number * PAGE
            )
            members.update((m.user_id, m) for m in page.memberships)
            if not page.memberships or (page_number + 1) * PAGE >= page.total:
                break
        return members


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleCommand:
    """One role of one user in one tenant (`platform`: the platform organisation)."""

    tenant_id: str
    user_id: str
    role: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GrantRoleCommand(RoleCommand):
    """Grant `role` to the user."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeRoleCommand(RoleCommand):
    """Revoke `role` from the user."""


class GrantRole:
    """Grant a role to a user in a tenant (or, with tenant id `platform`, in the platform
    organisation).

    Rules:
    - `tenant:manage` reaching the tenant; the role rules of `admin_core.users.grants` (unknown role
      422; no escalation 403; tenant-scoped callers only tenant roles). A refused request
      writes nothing, not even an audit entry;
    - the user is verified with the identity provider before anything is written
      (USER_NOT_FOUND 404; provider down 503);
    - a role the user already has is a no-op that succeeds (no write, no audit entry);
    - when the tenant has an organisation, the user's membership there carries the strongest
      of their roles. Order (ADR 0030): the local grant is written in an open transaction, then
      the membership is set, then the audit entry, then commit. A provider failure rolls the
      transaction back and puts the membership back as it was; a failure after the provider
      call does the same. Audit `user_role.assign`.
    """

    def __init__(
        self,
        transactions: Transactions[UsersTransaction],
        identity: IdentityProvider,
        policy: RolePolicy,
        clock: Clock,
        platform_org: str | None,
    ) -> None:
        self._transactions = transactions
        self._identity = identity
        self._sync = MembershipSync(identity)
        self._policy = policy
        self._clock = clock
        self._platform_org = platform_org

    async def execute(self, principal: Principal, command: GrantRoleCommand) -> RoleChange:
        tenant_id, user_id, role = command.tenant_id, command.user_id, command.role
        principal.require(Permission.TENANT_MANAGE, tenant_id=tenant_id)
        _check(user_id, role)
        kind = org_kind(tenant_id)
        check_role_change(principal, self._policy, role, kind, granting=True)
        async with self._transactions() as tx:
            org_id = await _org_of(tx, tenant_id, self._platform_org)
            held = await tx.user_roles.roles_of(tenant_id, user_id)
        if role in held:
            return self._unchanged(tenant_id, user_id, role, held, kind, org_id)
        user = await self._identity.get_user(user_id)
        async with self._transactions() as tx:
            org_id = await _org_of(tx, tenant_id, self._platform_org)
            now = self._clock.now()
            await tx.users.upsert(
                UserContact(id=user.id, email=user.email, name=user.name, updated_at=now)
            )
            before = await tx.user_roles.roles_of(tenant_id, user_id, lock=True)
            added = await tx.user_roles.add(
                UserRole(
                    tenant_id=tenant_id,
                    user_id=user_id,
                    role=role,
                    granted_by=principal.user_id,
                    granted_at=now,
                )
            )
            if not added:  # granted meanwhile by a concurrent request
                return self._unchanged(tenant_id, user_id, role, before, kind, org_id)
            return await _commit_role_change(
                tx,
                principal,
                self._sync,
                self._policy,
                verb="assign",
                tenant_id=tenant_id,
                user_id=user_id,
                role=role,
                kind=kind,
                org_id=org_id,
                before=before,
                after=tuple(sorted({*before, role})),
            )

    def _unchanged(
        self,
        tenant_id: str,
        user_id: str,
        role: str,
        roles: tuple[str, ...],
        kind: OrgKind,
        org_id: str | None,
    ) -> RoleChange:
        return RoleChange(
            tenant_id=tenant_id,
            user_id=user_id,
            role=role,
            changed=False,
            roles=roles,
            org_role=membership_role(self._policy, kind, roles) if org_id else None,
        )


class RevokeRole:
    """Revoke a role from a user in a tenant (or in the platform organisation).

    Rules: the same permission and role rules as `GrantRole` (nobody revokes a role stronger
    than their own); revoking a role the user does not have is a no-op that succeeds; the last
    platform super-admin cannot be revoked (403 ROLE_NOT_ALLOWED; concurrent revokes of the
    last two wait on each other, so one of them is refused); the membership in the tenant's
    organisation falls back to the strongest remaining role, or is removed with the last one,
    in the same order and with the same compensation as `GrantRole`. Audit `user_role.revoke`.
    """

    def __init__(
        self,
        transactions: Transactions[UsersTransaction],
        identity: IdentityProvider,
        policy: RolePolicy,
        platform_org: str | None,
    ) -> None:
        self._transactions = transactions
        self._sync = MembershipSync(identity)
        self._policy = policy
        self._platform_org = platform_org

    async def execute(self, principal: Principal, command: RevokeRoleCommand) -> RoleChange:
        tenant_id, user_id, role = command.tenant_id, command.user_id, command.role
        principal.require(Permission.TENANT_MANAGE, tenant_id=tenant_id)
        _check(user_id, role)
        kind = org_kind(tenant_id)
        check_role_change(principal, self._policy, role, kind, granting=False)
        async with self._transactions() as tx:
            org_id = await _org_of(tx, tenant_id, self._platform_org)
            # The user first, then the role's holders: the order every role change locks in.
            before = await tx.user_roles.roles_of(tenant_id, user_id, lock=True)
            if kind is OrgKind.PLATFORM and Permission.SUPER_ADMIN in self._policy.permissions(
                role, kind
            ):
                holders = await tx.user_roles.holders(tenant_id, role, lock=True)
                if user_id in holders and len(holders) <= 1:
                    raise RoleNotAllowed(
                        "The last platform super-admin cannot be revoked.",
                        unknown=False,
                        details={"role": role, "user_id": user_id},
                    )
            if not await tx.user_roles.remove(tenant_id, user_id, role):
                return RoleChange(
                    tenant_id=tenant_id,
                    user_id=user_id,
                    role=role,
                    changed=False,
                    roles=before,
                    org_role=membership_role(self._policy, kind, before) if org_id else None,
                )
            return await _commit_role_change(
                tx,
                principal,
                self._sync,
                self._policy,
                verb="revoke",
                tenant_id=tenant_id,
                user_id=user_id,
                role=role,
                kind=kind,
                org_id=org_id,
                before=before,
                after=tuple(r for r in before if r != role),
            )
