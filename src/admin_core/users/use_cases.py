"""Users and roles of a tenant (SPEC §6.9), checked against the identity provider. Each use
case takes the acting principal and one command defined beside it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from admin_core.audit.model import AuditRecord
from admin_core.audit.recording import audit_record
from admin_core.kernel.paging import OffsetPage
from admin_core.kernel.principal import PLATFORM_TENANT_ID, OrgKind, Permission, Principal
from admin_core.kernel.transaction import Transactions
from admin_core.kernel.validation import FieldChecks
from admin_core.side_effects.model import Intent
from admin_core.side_effects.runner import LeaseLost, SubjectBusy, wait_steps
from admin_core.tenants.errors import TenantNotFound
from admin_core.users import memberships
from admin_core.users.errors import IdentityProviderUnavailable, RoleNotAllowed, UserNotFound
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
    OrganizationNotFound,
    OrgMembership,
    UsersTransaction,
)
from admin_core.users.role_changes import RoleChanges

#: Members read per call to the identity provider: Clerk's largest page, so that a large
#: organisation costs as few of its rate-limited calls as it can.
PAGE = 500
#: The members read for one list, 10,000: beyond that, an organisation is not a tenant's staff
#: list, and reading it would cost every page of the list more rate-limited calls. A larger
#: one is listed from its first 10,000 members, and says so (`total_exact` false).
MAX_PAGES = 20


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


async def _org_of(
    tx: UsersTransaction, tenant_id: str, platform_org: str | None, *, lock: bool = False
) -> str | None:
    """The organisation whose memberships mirror the tenant's roles (None: roles are local
    only). Raises TENANT_NOT_FOUND. `lock`: the tenant's row stays locked until `tx` ends, so
    the answer holds until then (`MapOrganization` locks it too)."""
    if tenant_id == PLATFORM_TENANT_ID:
        return platform_org
    if await tx.tenants.get(tenant_id, lock=lock) is None:
        raise TenantNotFound(details={"tenant_id": tenant_id})
    mapping = await tx.org_mappings.for_tenant(tenant_id)
    return mapping.org_id if mapping else None


def _audit_tenant(tenant_id: str) -> str | None:
    """Platform roles are recorded in the platform chain."""
    return None if tenant_id == PLATFORM_TENANT_ID else tenant_id


@dataclass(frozen=True, slots=True, kw_only=True)
class ListTenantUsersQuery:
    tenant_id: str  # a tenant id, or `platform` for the platform organisation
    limit: int = 50
    offset: int = 0
    #: Where the page starts: the `next_cursor` of the page before (instead of `offset`).
    cursor: str | None = None


class ListTenantUsers:
    """A tenant's users with their roles.

    Rules: `tenant:manage` reaching the tenant (`platform` names the platform organisation,
    which only platform callers reach); 404 for an unknown tenant. Users come from the roles
    granted here and from the members of the tenant's organisation at the identity provider;
    `source` says which (`local`, `clerk`, `both`). Identity provider down → 503.

    A page of `limit` (1..200) users from `offset`, in user id order. An organisation with
    more members than one list reads (`MAX_PAGES` × `PAGE`) is listed from those it read:
    the page's `total` then estimates the whole (the members the identity provider counts,
    plus the users with local roles only) and `total_exact` is false. A page that has a next
    one gives its `next_cursor`: read with it (no offset), the next page starts right after
    this page's last user id, so users who join or leave meanwhile shift nothing.
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

    async def execute(
        self, principal: Principal, query: ListTenantUsersQuery
    ) -> OffsetPage[TenantUser]:
        tenant_id = query.tenant_id
        principal.require(Permission.TENANT_MANAGE, tenant_id=tenant_id)
        checks = FieldChecks()
        checks.page(query.limit, query.offset)
        scope = ("tenant_users", tenant_id)
        window = checks.window(query.cursor, query.limit, query.offset, scope=scope, shape=(str,))
        checks.done()
        async with self._transactions() as tx:
            org_id = await _org_of(tx, tenant_id, self._platform_org)
            grants = await tx.user_roles.for_tenant(tenant_id)
            directory = await tx.users.get_many({g.user_id for g in grants})
        members, unread = await self._members(org_id) if org_id else ({}, 0)
        roles: dict[str, list[str]] = {}
        for grant in grants:
            roles.setdefault(grant.user_id, []).append(grant.role)
        everyone = sorted(set(roles) | set(members))
        following = everyone
        if window.after is not None:
            following = [user_id for user_id in everyone if user_id > str(window.after[0])]
        result = []
        for user_id in following[window.offset : window.offset + window.reads]:
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
        found = OffsetPage(
            items=result,
            total=len(everyone) + unread,
            limit=query.limit,
            offset=query.offset,
            total_exact=not unread,
        )
        return window.page(found, key=lambda user: (user.user_id,))

    async def _members(self, org_id: str) -> tuple[dict[str, OrgMembership], int]:
        """The organisation's members, up to `MAX_PAGES` pages of them, and how many of its
        members were left unread (0: all were read)."""
        members: dict[str, OrgMembership] = {}
        read = total = 0
        for page_number in range(MAX_PAGES):
            try:
                page = await self._identity.list_memberships(
                    org_id, limit=PAGE, offset=page_number * PAGE
                )
            except OrganizationNotFound as error:
                raise memberships.organization_unknown(error) from error
            members.update((m.user_id, m) for m in page.memberships)
            read, total = page_number * PAGE + len(page.memberships), page.total
            if not page.memberships or read >= total:
                return members, 0
        return members, max(0, total - read)


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


#: The local side of one role change, written in the change's transaction: the user's roles
#: before it, and the grant it added or removed (None: nothing to change).
LocalWrite = Callable[[UsersTransaction], Awaitable[tuple[tuple[str, ...], UserRole | None]]]


def _snapshot(user_id: str, roles: tuple[str, ...], org_role: str | None) -> dict[str, Any]:
    return {"user_id": user_id, "roles": list(roles), "org_role": org_role}


@dataclass(frozen=True, slots=True)
class _Planned:
    """A role change as its transaction found it: the answer, and — when something changes —
    the grant added or removed and the audit entry that records the change."""

    change: RoleChange
    grant: UserRole | None = None
    record: AuditRecord | None = None


def _plan(
    changes: RoleChanges,
    principal: Principal,
    *,
    verb: str,
    command: RoleCommand,
    written: tuple[tuple[str, ...], UserRole | None],
    org_id: str | None,
    previous: str | None,
) -> _Planned:
    """What a change whose local side is `written` (the roles before it, the grant added or
    removed) answers and records, and what the membership becomes.

    The membership carries the strongest of the user's roles here; a grant also counts the
    role the membership already has (`previous`), so granting never takes access away (a
    member made `org:admin` at the provider directly stays one when given a weaker role
    here). A revoke falls back to the strongest role left here, or removes the membership
    with the last one."""
    tenant_id, user_id, role = command.tenant_id, command.user_id, command.role
    kind = org_kind(tenant_id)
    before, grant = written
    if grant is None:
        org_role = membership_role(changes.policy, kind, before) if org_id else None
        return _Planned(
            RoleChange(
                tenant_id=tenant_id,
                user_id=user_id,
                role=role,
                changed=False,
                roles=before,
                org_role=org_role,
            )
        )
    if verb == memberships.ASSIGN:
        after = tuple(sorted({*before, role}))
        held = (*after, previous) if previous else after
    else:
        after = tuple(r for r in before if r != role)
        held = after
    target = membership_role(changes.policy, kind, held) if org_id else None
    record = audit_record(
        principal,
        action=f"user_role.{verb}",
        event_type=f"ADMIN_USER_ROLE_{verb.upper()}",
        resource_type="user_role",
        resource_id=user_id,
        tenant_id=_audit_tenant(tenant_id),
        before=_snapshot(user_id, before, previous),
        after=_snapshot(user_id, after, target)
        | {"granted" if verb == memberships.ASSIGN else "revoked": role},
    )
    change = RoleChange(
        tenant_id=tenant_id,
        user_id=user_id,
        role=role,
        changed=True,
        roles=after,
        org_role=target,
    )
    return _Planned(change, grant, record)


async def _change_role(
    changes: RoleChanges,
    principal: Principal,
    *,
    verb: str,
    command: RoleCommand,
    write: LocalWrite,
) -> RoleChange:
    """One grant or revoke (ADR 0030, 0058), once its rules have passed.

    Without an organisation the roles are kept here only: the local write and its audit
    entry commit together. With one, the membership is an external side effect. One
    transaction writes the local side (which locks the user), and then:
    - when a change of this membership is still pending (another replica's, or one a crash
      left), rolls back, and the change waits for it, or finishes it when its caller is gone,
      before starting again;
    - otherwise reads the membership as the provider has it now (no other change of it can
      begin meanwhile) and commits the local write with the intent to set the membership,
      which carries the audit entry.
    Then the membership is set and the entry appended; when the provider did not take it,
    the local write is undone and the provider's error raised. A crash anywhere after the
    commit is finished by the next change of this membership, or by reconcile.

    The transaction that commits holds the tenant's row and finds the organisation it was
    planned for still the tenant's; when the tenant was mapped to another one meanwhile
    (`MapOrganization` locks that row too), the change starts again for the new one.
    """
    while True:
        async with changes.transactions() as tx:
            org_id = await _org_of(tx, command.tenant_id, changes.platform_org)
        if org_id is None:
            change = await _change_local_role(changes, principal, verb, command, write)
        else:
            change = await _change_membership(changes, principal, verb, command, write, org_id)
        if change is not None:
            return change


async def _still_org(
    tx: UsersTransaction, changes: RoleChanges, tenant_id: str, org_id: str | None
) -> bool:
    """Whether `org_id` is still the tenant's organisation, and stays so until `tx` ends."""
    return await _org_of(tx, tenant_id, changes.platform_org, lock=True) == org_id


async def _change_local_role(
    changes: RoleChanges,
    principal: Principal,
    verb: str,
    command: RoleCommand,
    write: LocalWrite,
) -> RoleChange | None:
    """The change of a tenant without an organisation; None when it was given one meanwhile."""
    async with changes.transactions() as tx:
        if not await _still_org(tx, changes, command.tenant_id, None):
            return None
        planned = _plan(
            changes,
            principal,
            verb=verb,
            command=command,
            written=await write(tx),
            org_id=None,
            previous=None,
        )
        if planned.record is not None:
            await tx.audit.append(planned.record)
            await tx.commit()
    return planned.change


async def _change_membership(
    changes: RoleChanges,
    principal: Principal,
    verb: str,
    command: RoleCommand,
    write: LocalWrite,
    org_id: str,
) -> RoleChange | None:
    """The change with the membership of `org_id`; None when the tenant was mapped to another
    organisation meanwhile. One change of the membership at a time in this process, then
    attempts until one commits (see `_MembershipChange`), all within the patience, counted
    from the call: waiting in this process's queue counts."""
    change = _MembershipChange(changes, principal, verb, command, write, org_id)
    until = asyncio.get_running_loop().time() + changes.patience_seconds
    # SubjectBusy: the changes queued ahead in this process took the patience.
    with contextlib.suppress(SubjectBusy):
        async with changes.side_effects.serialized(
            change.subject, patience_seconds=changes.patience_seconds
        ):
            return await change.attempts(until)
    raise change.still_busy()


@dataclass(frozen=True, slots=True)
class _Attempt:
    """How one attempt's transaction ended: `planned`, the answer, with the `intent` it
    committed to set the membership (None: nothing to set); or `busy`, another change of the
    membership still pending, to wait for; or `remapped`: the tenant has another organisation
    now."""

    planned: _Planned | None = None
    intent: Intent | None = None
    busy: Intent | None = None
    remapped: bool = False


class _MembershipChange:
    """One grant or revoke with the membership of `org_id` (`_change_role` says how)."""

    def __init__(
        self,
        changes: RoleChanges,
        principal: Principal,
        verb: str,
        command: RoleCommand,
        write: LocalWrite,
        org_id: str,
    ) -> None:
        self._changes = changes
        self._plan = partial(_plan, changes, principal, verb=verb, command=command)
        self._verb = verb
        self._command = command
        self._write = write
        self._org_id = org_id
        self.subject = memberships.subject(org_id, command.user_id)

    async def attempts(self, until: float) -> RoleChange | None:
        """Attempt the change until one attempt commits it (and then set the membership) or
        finds nothing to change, waiting between attempts for the change of the membership
        still pending; past `until`, the membership is still busy."""
        loop = asyncio.get_running_loop()
        for attempt in range(wait_steps(self._changes.patience_seconds)):
            if attempt and loop.time() > until:
                break
            begun = await self._begin()
            if begun.remapped:
                return None
            if begun.intent is not None:
                await self._set_membership(begun.intent)
            if begun.planned is not None:
                return begun.planned.change
            assert begun.busy is not None  # remapped, planned or busy: nothing else
            await self._wait_for(begun.busy)
        raise self.still_busy()

    async def _begin(self) -> _Attempt:
        """One transaction: the local write (which locks the user), and, when no other change
        of the membership is pending, the change planned on the membership as the provider
        has it now and committed with its intent. Cancelled once the intent may be committing,
        the intent is withdrawn (docs/adr/0064-cancellation.md)."""
        changes, command = self._changes, self._command
        committing: Intent | None = None
        try:
            async with changes.transactions() as tx:
                if not await _still_org(tx, changes, command.tenant_id, self._org_id):
                    return _Attempt(remapped=True)
                written = await self._write(tx)
                busy = await tx.intents.pending_of(self.subject)
                if busy is not None:
                    return _Attempt(busy=busy)
                planned, intent = await self._planned(written)
                if intent is None:
                    return _Attempt(planned=planned)
                committing = intent
                # No other change of the membership can add its intent meanwhile: each
                # locks the user's row (a role's row needs it) before reading the pending one.
                await tx.intents.add(intent)
                await tx.commit()
        except asyncio.CancelledError:
            if committing is not None:  # its commit may have landed: withdrawn
                await changes.side_effects.abandon(changes.memberships, committing, claimed=False)
            raise
        return _Attempt(planned=planned, intent=intent)

    async def _planned(
        self, written: tuple[tuple[str, ...], UserRole | None]
    ) -> tuple[_Planned, Intent | None]:
        """The change whose local side is `written`, planned on the membership as the
        provider has it now, and the intent to set the membership (None: nothing changes)."""
        user_id = self._command.user_id
        previous = await self._changes.memberships.sync.current(self._org_id, user_id)
        # A revoke for a user the provider deleted sets no membership.
        gone = (
            self._verb == memberships.REVOKE
            and previous is None
            and not await _known(self._changes, user_id)
        )
        planned = self._plan(
            written=written, org_id=None if gone else self._org_id, previous=previous
        )
        if planned.grant is None or planned.record is None:
            return planned, None
        intent = self._changes.side_effects.new_intent(
            kind=memberships.KIND,
            tenant_id=_audit_tenant(self._command.tenant_id),
            payload=memberships.payload(
                org_id=self._org_id,
                verb=self._verb,
                grant=planned.grant,
                previous=previous,
                target=planned.change.org_role,
            ),
            audit=[planned.record],
            subject=self.subject,
        )
        return planned, intent

    async def _set_membership(self, intent: Intent) -> None:
        """Set the membership as the committed `intent` says, and record the outcome."""
        try:
            await self._changes.side_effects.drive(self._changes.memberships, intent)
        except LeaseLost as error:
            raise IdentityProviderUnavailable(
                "The identity provider took longer than this change's lease, and "
                "another caller settled it; read the user's roles and try again.",
                details={"intent_id": intent.id},
            ) from error

    async def _wait_for(self, busy: Intent) -> None:
        """One step of waiting for `busy`, the other change of the membership still pending
        (finished now when its caller is gone)."""
        try:
            await self._changes.side_effects.step_aside(self._changes.memberships, busy)
        except SubjectBusy as error:
            raise IdentityProviderUnavailable(
                "An earlier change of this user's roles cannot be confirmed with the "
                "identity provider now; try again shortly.",
                details={"intent_id": busy.id},
            ) from error

    def still_busy(self) -> IdentityProviderUnavailable:
        """What a change kept waiting past its patience answers."""
        return IdentityProviderUnavailable(
            "Another change of this user's roles is still waiting for the identity provider; "
            "try again shortly.",
            details={"tenant_id": self._command.tenant_id, "user_id": self._command.user_id},
        )


async def _known(changes: RoleChanges, user_id: str) -> bool:
    """Whether the identity provider knows the user. A revoke for a user without a membership
    asks: one the provider deleted (with their memberships) keeps none, so the revoke plans no
    membership for the roles left rather than one the provider cannot create."""
    try:
        await changes.identity.get_user(user_id)
    except UserNotFound:
        return False
    return True


class GrantRole:
    """Grant a role to a user in a tenant (or, with tenant id `platform`, in the platform
    organisation).

    Rules:
    - `tenant:manage` reaching the tenant; the role rules of `admin_core.users.grants` (unknown
      role 422; no escalation 403; tenant-scoped callers only tenant roles). A refused request
      writes nothing, not even an audit entry;
    - the user is verified with the identity provider before anything is written
      (USER_NOT_FOUND 404; provider down 503);
    - a role the user already has is a no-op that succeeds (no write, no audit entry);
    - when the tenant has an organisation, the user's membership there carries the strongest
      of their roles, set as an external side effect (ADR 0058): the grant and its intent
      commit first; the provider not taking the membership undoes the grant and answers its
      error (503), with no audit entry. Audit `user_role.assign`.
    """

    def __init__(self, changes: RoleChanges) -> None:
        self._changes = changes

    async def execute(self, principal: Principal, command: GrantRoleCommand) -> RoleChange:
        changes = self._changes
        tenant_id, user_id, role = command.tenant_id, command.user_id, command.role
        principal.require(Permission.TENANT_MANAGE, tenant_id=tenant_id)
        _check(user_id, role)
        kind = org_kind(tenant_id)
        check_role_change(principal, changes.policy, role, kind, granting=True)
        async with changes.transactions() as tx:
            org_id = await _org_of(tx, tenant_id, changes.platform_org)
            held = await tx.user_roles.roles_of(tenant_id, user_id)
        if role in held:
            return RoleChange(
                tenant_id=tenant_id,
                user_id=user_id,
                role=role,
                changed=False,
                roles=held,
                org_role=membership_role(changes.policy, kind, held) if org_id else None,
            )
        user = await changes.identity.get_user(user_id)

        async def write(tx: UsersTransaction) -> tuple[tuple[str, ...], UserRole | None]:
            now = changes.clock.now()
            await tx.users.upsert(
                UserContact(id=user.id, email=user.email, name=user.name, updated_at=now)
            )
            before = await tx.user_roles.roles_of(tenant_id, user_id, lock=True)
            grant = UserRole(
                tenant_id=tenant_id,
                user_id=user_id,
                role=role,
                granted_by=principal.user_id,
                granted_at=now,
            )
            # The key is the concurrency point: a concurrent grant of the role waits on it
            # and then finds it taken (a no-op).
            return before, grant if await tx.user_roles.add(grant) else None

        return await _change_role(
            changes, principal, verb=memberships.ASSIGN, command=command, write=write
        )


class RevokeRole:
    """Revoke a role from a user in a tenant (or in the platform organisation).

    Rules: the same permission and role rules as `GrantRole` (nobody revokes a role stronger
    than their own); revoking a role the user does not have is a no-op that succeeds; the last
    platform super-admin cannot be revoked (403 ROLE_NOT_ALLOWED; concurrent revokes of the
    last two wait on each other, so one of them is refused; a grant whose membership is still
    pending with the provider is not counted, as the provider may refuse it); the membership
    in the tenant's organisation falls back to the strongest remaining role, or is removed
    with the last one, as an external side effect like `GrantRole`'s (the provider not taking
    it puts the role back); a user the provider no longer knows keeps no membership, so their
    roles are revoked one by one with none set. Audit `user_role.revoke`.
    """

    def __init__(self, changes: RoleChanges) -> None:
        self._changes = changes

    async def execute(self, principal: Principal, command: RevokeRoleCommand) -> RoleChange:
        changes = self._changes
        tenant_id, user_id, role = command.tenant_id, command.user_id, command.role
        principal.require(Permission.TENANT_MANAGE, tenant_id=tenant_id)
        _check(user_id, role)
        kind = org_kind(tenant_id)
        check_role_change(principal, changes.policy, role, kind, granting=False)

        async def write(tx: UsersTransaction) -> tuple[tuple[str, ...], UserRole | None]:
            # The user first, then the role's holders: the order every role change locks in.
            before = await tx.user_roles.roles_of(tenant_id, user_id, lock=True)
            if kind is OrgKind.PLATFORM and Permission.SUPER_ADMIN in changes.policy.permissions(
                role, kind
            ):
                holders = await tx.user_roles.holders(tenant_id, role, lock=True)
                org_id = changes.platform_org
                settled = [
                    holder
                    for holder in holders
                    if org_id is None
                    or not memberships.grants_pending(
                        await tx.intents.pending_of(memberships.subject(org_id, holder)), role
                    )
                ]
                if user_id in settled and len(settled) <= 1:
                    raise RoleNotAllowed(
                        "The last platform super-admin cannot be revoked (a grant still "
                        "waiting for the identity provider does not count).",
                        unknown=False,
                        details={"role": role, "user_id": user_id},
                    )
            grant = await tx.user_roles.get(tenant_id, user_id, role)
            if grant is None or not await tx.user_roles.remove(tenant_id, user_id, role):
                return before, None
            return before, grant

        return await _change_role(
            changes, principal, verb=memberships.REVOKE, command=command, write=write
        )
