"""`adminctl users list | grant | revoke` (tenant id `platform`: the platform organisation)"""

from __future__ import annotations

import argparse
from typing import Any

from admin_core.auth.policy import ROLES
from admin_core.users.model import RoleChange
from admin_core.users.use_cases import GrantRoleCommand, ListTenantUsersQuery, RevokeRoleCommand
from entrypoints.cli import options
from entrypoints.cli.context import CommandContext
from entrypoints.cli.output import print_json, print_next_page, print_table, stdout
from entrypoints.http.presenters.users import role_change_out, tenant_users_out


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser("users", help="users and roles")
    commands = parser.add_subparsers(dest="users_command", required=True, metavar="COMMAND")

    list_parser = commands.add_parser("list", help="a tenant's users and their roles")
    list_parser.add_argument("tenant_id", type=options.tenant_id, help="a tenant id, or 'platform'")
    options.page(list_parser)
    list_parser.set_defaults(handler=list_users)

    for name, handler, text in (
        ("grant", grant_role, "grant a role (checked with the identity provider)"),
        ("revoke", revoke_role, "revoke a role"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("tenant_id", type=options.tenant_id, help="a tenant id, or 'platform'")
        command.add_argument("user_id", type=options.user_id, help="the user (user_...)")
        command.add_argument(
            "role",
            help=f"a role of the role policy: {', '.join(ROLES)}, unless ADMIN_ROLE_POLICY_FILE"
            " names others",
        )
        command.set_defaults(handler=handler)


async def list_users(ctx: CommandContext) -> None:
    a = ctx.args
    page = await ctx.container.users.list_tenant_users().execute(
        ctx.principal,
        ListTenantUsersQuery(
            tenant_id=a.tenant_id, limit=a.limit, offset=a.offset, cursor=a.cursor
        ),
    )
    if ctx.as_json:
        print_json(tenant_users_out(a.tenant_id, page))
        return
    total = f"{page.total}" if page.total_exact else f"about {page.total}"
    print_table(
        f"Users of {a.tenant_id} ({len(page.items)} of {total})",
        ["user", "email", "name", "roles", "org role", "source"],
        (
            [u.user_id, u.email, u.name, ", ".join(u.roles), u.org_role, u.source]
            for u in page.items
        ),
    )
    print_next_page(page)


def _report(ctx: CommandContext, change: RoleChange, done: str, unchanged: str) -> None:
    if ctx.as_json:
        print_json(role_change_out(change))
        return
    what = done if change.changed else unchanged
    roles = ", ".join(change.roles) or "none"
    stdout.print(f"{change.user_id} in {change.tenant_id}: {change.role} {what} (roles: {roles})")


async def grant_role(ctx: CommandContext) -> None:
    a = ctx.args
    change = await ctx.container.users.grant_role().execute(
        ctx.principal, GrantRoleCommand(tenant_id=a.tenant_id, user_id=a.user_id, role=a.role)
    )
    _report(ctx, change, "granted", "already held")


async def revoke_role(ctx: CommandContext) -> None:
    a = ctx.args
    change = await ctx.container.users.revoke_role().execute(
        ctx.principal, RevokeRoleCommand(tenant_id=a.tenant_id, user_id=a.user_id, role=a.role)
    )
    _report(ctx, change, "revoked", "was not held")
