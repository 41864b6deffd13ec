"""`adminctl providers create`"""

from __future__ import annotations

import argparse
from typing import Any

from admin_core.domain.tenant_requests import ProviderDraft, TenantDraft
from entrypoints.cli.commands.tenants import add_settings_arguments, print_tenant, settings_from
from entrypoints.cli.context import CommandContext
from entrypoints.cli.output import print_json, stdout


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser("providers", help="manage providers")
    commands = parser.add_subparsers(dest="providers_command", required=True, metavar="COMMAND")
    create = commands.add_parser(
        "create", help="create a provider and its tenant in one transaction"
    )
    create.add_argument("--name", required=True)
    create.add_argument("--country", help="ISO 3166-1 alpha-2, e.g. IN")
    create.add_argument("--city")
    create.add_argument("--specialty", action="append", default=[], dest="specialties")
    create.add_argument("--language", action="append", default=[], dest="languages")
    create.add_argument("--accreditation", action="append", default=[], dest="accreditations")
    create.add_argument("--tenant-id", help="default: derived from the name")
    create.add_argument("--tenant-name", help="default: the provider's name")
    create.add_argument("--org", dest="clerk_org_id", help="Clerk organisation to map")
    add_settings_arguments(create)
    create.set_defaults(handler=create_provider)


async def create_provider(ctx: CommandContext) -> None:
    a = ctx.args
    created = await ctx.container.create_provider().execute(
        ctx.actor,
        provider=ProviderDraft(
            name=a.name,
            country=a.country,
            city=a.city,
            specialties=a.specialties,
            languages=a.languages,
            accreditations=a.accreditations,
        ),
        tenant=TenantDraft(id=a.tenant_id, name=a.tenant_name, settings=settings_from(a)),
        clerk_org_id=a.clerk_org_id,
    )
    if ctx.as_json:
        print_json(created)
        return
    stdout.print(f"provider [bold]{created.provider.id}[/bold] created")
    print_tenant(ctx, created.tenant, "created")
