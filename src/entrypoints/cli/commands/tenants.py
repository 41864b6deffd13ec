"""`adminctl tenants list | create | update | map-org` and `adminctl providers create`"""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from admin_core.kernel.errors import FieldError, ValidationFailed
from admin_core.tenants.model import TenantStatus, TenantView
from admin_core.tenants.rules import SETTINGS_FIELDS
from admin_core.tenants.use_cases import (
    CreateProviderCommand,
    CreateTenantCommand,
    ListTenantsQuery,
    MapOrganizationCommand,
    NewProvider,
    NewTenant,
    UpdateTenantCommand,
)
from entrypoints.cli import options
from entrypoints.cli.context import CommandContext
from entrypoints.cli.output import print_json, print_next_page, print_table, stdout, styled
from entrypoints.http.presenters.tenants import (
    provider_with_tenant_out,
    tenant_list_out,
    tenant_view_out,
)

NEW_TENANT_ID = (
    "the new tenant's id: lowercase letters, digits and inner dashes, at most 64 (default:"
    " derived from the name)"
)
CLERK_ORG = "the Clerk organisation to map to the tenant (org_...)"


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser("tenants", help="manage tenants")
    commands = parser.add_subparsers(dest="tenants_command", required=True, metavar="COMMAND")

    list_parser = commands.add_parser("list", help="list tenants")
    list_parser.add_argument(
        "--status", choices=[s.value for s in TenantStatus], help="only tenants in this status"
    )
    list_parser.add_argument("--tenant-id", type=options.tenant_id, help="only this tenant")
    options.page(list_parser)
    list_parser.set_defaults(handler=list_tenants)

    create = commands.add_parser("create", help="create the tenant of an existing provider")
    create.add_argument(
        "--provider-id", required=True, help="the provider of the catalogue the tenant is"
    )
    create.add_argument("--tenant-id", help=NEW_TENANT_ID)
    create.add_argument("--name", help="the tenant's display name (default: the provider's name)")
    create.add_argument("--org", dest="clerk_org_id", help=CLERK_ORG)
    add_settings_arguments(create)
    create.set_defaults(handler=create_tenant)

    update = commands.add_parser("update", help="change a tenant's name, status or settings")
    update.add_argument("tenant_id", type=options.tenant_id, help="the tenant")
    update.add_argument("--name", help="a new display name")
    update.add_argument(
        "--status", choices=[s.value for s in TenantStatus], help="active or suspended"
    )
    add_settings_arguments(update, clearable=True)
    update.set_defaults(handler=update_tenant)

    map_org = commands.add_parser("map-org", help="map a Clerk organisation to a tenant")
    map_org.add_argument("tenant_id", type=options.tenant_id, help="the tenant")
    map_org.add_argument("clerk_org_id", help="the Clerk organisation (org_...)")
    map_org.set_defaults(handler=map_tenant_org)

    providers: argparse.ArgumentParser = groups.add_parser("providers", help="manage providers")
    provider_commands = providers.add_subparsers(
        dest="providers_command", required=True, metavar="COMMAND"
    )
    create_provider_parser = provider_commands.add_parser(
        "create", help="create a provider and its tenant in one transaction"
    )
    # Each option's destination is a field of `NewProvider`.
    p = create_provider_parser
    p.add_argument("--name", required=True, help="the provider's name")
    p.add_argument("--country", help="ISO 3166-1 alpha-2, e.g. IN")
    p.add_argument("--city", help="the city it is in")
    p.add_argument(
        "--specialty",
        action="append",
        default=[],
        dest="specialties",
        help="a specialty it offers, e.g. Cardiology; repeatable",
    )
    p.add_argument(
        "--language", action="append", default=[], dest="languages", help="ISO 639-1; repeatable"
    )
    p.add_argument(
        "--accreditation",
        action="append",
        default=[],
        dest="accreditations",
        help="an accreditation it holds, e.g. JCI; repeatable",
    )
    p.add_argument("--tenant-id", help=NEW_TENANT_ID)
    p.add_argument("--tenant-name", help="the tenant's display name (default: the provider's name)")
    p.add_argument("--org", dest="clerk_org_id", help=CLERK_ORG)
    add_settings_arguments(p)
    p.set_defaults(handler=create_provider)


def add_settings_arguments(parser: argparse.ArgumentParser, *, clearable: bool = False) -> None:
    keys = ", ".join(SETTINGS_FIELDS)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"a setting ({keys}); repeatable",
    )
    if clearable:
        parser.add_argument(
            "--clear",
            action="append",
            default=[],
            metavar="KEY",
            help=f"unset a setting ({keys}); repeatable",
        )


def settings_from(args: argparse.Namespace) -> dict[str, str | None]:
    """The settings `--set` and `--clear` change; a key given twice is refused, as the API
    refuses a body naming it twice: which value was meant is the operator's to say."""
    changes: dict[str, str | None] = {}
    twice: list[str] = []
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValidationFailed.single("set", f"expected KEY=VALUE, got {item!r}")
        if key.strip() in changes and key.strip() not in twice:
            twice.append(key.strip())
        changes[key.strip()] = value.strip()
    cleared: set[str] = set()
    for key in getattr(args, "clear", []):
        if key.strip() in cleared and key.strip() not in twice:
            twice.append(key.strip())
        elif key.strip() in changes and key.strip() not in cleared:
            raise ValidationFailed.single("clear", f"{key.strip()} is both set and cleared")
        cleared.add(key.strip())
        changes[key.strip()] = None
    if twice:
        raise ValidationFailed(
            [FieldError(field=f"settings.{key}", message="given more than once") for key in twice]
        )
    return changes


def print_tenant(ctx: CommandContext, view: TenantView, verb: str) -> None:
    if ctx.as_json:
        print_json(tenant_view_out(view))
        return
    t = view.tenant
    stdout.print(styled("tenant ", (t.id, "bold"), f" {verb}"))
    print_table(
        "",
        ["id", "name", "status", "provider", "org", "currency", "timezone", "payments"],
        [
            [
                t.id,
                t.name,
                t.status,
                t.provider_id,
                view.clerk_org_id,
                t.settings.default_currency,
                t.settings.timezone,
                t.settings.payments_provider,
            ]
        ],
    )


async def list_tenants(ctx: CommandContext) -> None:
    a = ctx.args
    page = await ctx.container.tenants.list_tenants().execute(
        ctx.principal,
        ListTenantsQuery(
            tenant_id=a.tenant_id,
            status=TenantStatus(a.status) if a.status else None,
            limit=a.limit,
            offset=a.offset,
            cursor=a.cursor,
        ),
    )
    if ctx.as_json:
        print_json(tenant_list_out(page))
        return
    print_table(
        f"Tenants ({len(page.items)} of {page.total})",
        ["id", "name", "status", "provider", "currency", "timezone"],
        (
            [
                t.id,
                t.name,
                t.status,
                t.provider_id,
                t.settings.default_currency,
                t.settings.timezone,
            ]
            for t in page.items
        ),
    )
    print_next_page(page)


async def create_tenant(ctx: CommandContext) -> None:
    a = ctx.args
    view = await ctx.container.tenants.create_tenant().execute(
        ctx.principal,
        CreateTenantCommand(
            provider_id=a.provider_id,
            tenant=NewTenant(id=a.tenant_id, name=a.name, settings=settings_from(a)),
            clerk_org_id=a.clerk_org_id,
        ),
    )
    print_tenant(ctx, view, "created")


async def update_tenant(ctx: CommandContext) -> None:
    a = ctx.args
    view = await ctx.container.tenants.update_tenant().execute(
        ctx.principal,
        UpdateTenantCommand(
            tenant_id=a.tenant_id,
            name=a.name,
            status=TenantStatus(a.status) if a.status else None,
            settings=settings_from(a),
        ),
    )
    print_tenant(ctx, view, "updated" if view.changed else "unchanged")


async def map_tenant_org(ctx: CommandContext) -> None:
    a = ctx.args
    view = await ctx.container.tenants.map_org().execute(
        ctx.principal, MapOrganizationCommand(tenant_id=a.tenant_id, clerk_org_id=a.clerk_org_id)
    )
    mapped = "mapped to" if view.changed else "already mapped to"
    print_tenant(ctx, view, f"{mapped} {a.clerk_org_id}")


async def create_provider(ctx: CommandContext) -> None:
    a = ctx.args
    created = await ctx.container.tenants.create_provider().execute(
        ctx.principal,
        CreateProviderCommand(
            provider=NewProvider(**{f.name: getattr(a, f.name) for f in fields(NewProvider)}),
            tenant=NewTenant(id=a.tenant_id, name=a.tenant_name, settings=settings_from(a)),
            clerk_org_id=a.clerk_org_id,
        ),
    )
    if ctx.as_json:
        print_json(provider_with_tenant_out(created))
        return
    stdout.print(styled("provider ", (created.provider.id, "bold"), " created"))
    print_tenant(ctx, created.tenant, "created")
