"""`adminctl tenants ...`"""

from __future__ import annotations

import argparse
from typing import Any

from admin_core.domain.tenants import TenantQuery, TenantStatus
from entrypoints.cli.context import CommandContext
from entrypoints.cli.output import print_json, print_table


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser("tenants", help="manage tenants")
    commands = parser.add_subparsers(dest="tenants_command", required=True, metavar="COMMAND")

    list_parser = commands.add_parser("list", help="list tenants")
    list_parser.add_argument("--status", choices=[s.value for s in TenantStatus])
    list_parser.add_argument("--tenant-id")
    list_parser.add_argument("--limit", type=int, default=50)
    list_parser.add_argument("--offset", type=int, default=0)
    list_parser.set_defaults(handler=list_tenants)


async def list_tenants(ctx: CommandContext) -> None:
    a = ctx.args
    page = await ctx.container.list_tenants().execute(
        ctx.operator,
        TenantQuery(
            tenant_id=a.tenant_id,
            status=TenantStatus(a.status) if a.status else None,
            limit=a.limit,
            offset=a.offset,
        ),
    )
    if ctx.as_json:
        print_json(
            {"tenants": page.items, "total": page.total, "limit": page.limit, "offset": page.offset}
        )
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
