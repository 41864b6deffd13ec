"""`adminctl doctors list | onboard | update` (SPEC §6.5).

Options are the wire's field names (`--consultation-fee-minor`); `--language` and `--country`
repeat, and in `update` the ones given replace the whole list. `update --unlink-clerk-user`
is the wire's `"clerk_user_id": null`.
"""

from __future__ import annotations

import argparse
from typing import Any

from admin_core.mso_doctors.model import MsoDoctor
from admin_core.mso_doctors.rules import MAX_FEE_MINOR, UPDATABLE_FIELDS
from admin_core.mso_doctors.use_cases import (
    ListMsoDoctorsQuery,
    OnboardMsoDoctorCommand,
    UpdateMsoDoctorCommand,
)
from entrypoints.cli import options
from entrypoints.cli.context import CommandContext
from entrypoints.cli.options import bounded_int
from entrypoints.cli.output import print_json, print_next_page, print_table, stdout, styled
from entrypoints.http.presenters.mso_doctors import mso_doctor_list_out, mso_doctor_out

_COLUMNS = ["id", "tenant", "name", "specialty", "languages", "fee", "from", "active"]


def _doctor_arguments(parser: argparse.ArgumentParser, *, update: bool) -> None:
    """The doctor's fields; each option's destination is the command's field."""
    required = not update
    replaces = "; an update replaces the whole list" if update else ""
    parser.add_argument("--full-name", required=required, help="the doctor's full name")
    parser.add_argument("--email", required=required, help="stored lower-cased")
    parser.add_argument("--specialty", required=required, help="the doctor's specialty")
    parser.add_argument(
        "--language",
        action="append",
        dest="languages",
        required=required,
        help=f"ISO 639-1, e.g. en; repeatable{replaces}",
    )
    parser.add_argument(
        "--country",
        action="append",
        dest="countries",
        required=required,
        help=f"ISO 3166-1 alpha-2, e.g. IN; repeatable{replaces}",
    )
    parser.add_argument("--license-number", required=required, help="the medical licence number")
    parser.add_argument(
        "--consultation-fee-minor",
        type=bounded_int("consultation_fee_minor", 0, MAX_FEE_MINOR),
        required=required,
        metavar="MINOR_UNITS",
        help="the fee in the currency's minor units (4500 = 45.00)",
    )
    parser.add_argument("--currency", required=required, help="ISO 4217, e.g. INR")
    parser.add_argument(
        "--available-from", required=required, metavar="YYYY-MM-DD", help="first bookable day"
    )
    parser.add_argument("--timezone", required=required, help="IANA, e.g. Asia/Kolkata")
    parser.add_argument(
        "--active",
        action=argparse.BooleanOptionalAction,
        default=None if update else True,
        help="whether the doctor takes consultations" + ("" if update else " (default: --active)"),
    )


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser(
        "doctors", help="second-opinion (MSO) doctors"
    )
    commands = parser.add_subparsers(dest="doctors_command", required=True, metavar="COMMAND")

    listing = commands.add_parser("list", help="doctors by full name")
    listing.add_argument("--tenant-id", type=options.tenant_id, help="only this tenant's doctors")
    listing.add_argument("--specialty", help="exactly this specialty")
    listing.add_argument("--language", help="speaks this ISO 639-1 language")
    listing.add_argument(
        "--available-from",
        metavar="YYYY-MM-DD",
        help="active and available on this day (available_from on or before it)",
    )
    options.page(listing)
    listing.set_defaults(handler=list_doctors)

    onboard = commands.add_parser("onboard", help="onboard a doctor into a tenant")
    onboard.add_argument(
        "--tenant-id", required=True, type=options.tenant_id, help="the tenant the doctor joins"
    )
    _doctor_arguments(onboard, update=False)
    onboard.add_argument("--clerk-user-id", help="the doctor's Clerk user, e.g. user_2abc")
    onboard.set_defaults(handler=onboard_doctor)

    update = commands.add_parser("update", help="change some of a doctor's fields")
    update.add_argument("doctor_id", help="the doctor (msd_...)")
    _doctor_arguments(update, update=True)
    clerk = update.add_mutually_exclusive_group()
    clerk.add_argument("--clerk-user-id", help="link the doctor's Clerk user")
    clerk.add_argument(
        "--unlink-clerk-user", action="store_true", help="clear the doctor's Clerk user"
    )
    update.set_defaults(handler=update_doctor)


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    return {name: getattr(args, name) for name in UPDATABLE_FIELDS}


def _row(d: MsoDoctor) -> list[Any]:
    return [
        d.id,
        d.tenant_id,
        d.full_name,
        d.specialty,
        " ".join(d.languages),
        f"{d.consultation_fee_minor} {d.currency}",
        d.available_from.isoformat(),
        "yes" if d.active else "no",
    ]


def print_doctor(ctx: CommandContext, doctor: MsoDoctor, verb: str) -> None:
    if ctx.as_json:
        print_json(mso_doctor_out(doctor))
        return
    stdout.print(styled("doctor ", (doctor.id, "bold"), f" {verb}"))
    print_table("", _COLUMNS, [_row(doctor)])


async def list_doctors(ctx: CommandContext) -> None:
    a = ctx.args
    page = await ctx.container.mso_doctors.list_mso_doctors().execute(
        ctx.principal,
        ListMsoDoctorsQuery(
            tenant_id=a.tenant_id,
            specialty=a.specialty,
            language=a.language,
            available_from=a.available_from,
            limit=a.limit,
            offset=a.offset,
            cursor=a.cursor,
        ),
    )
    if ctx.as_json:
        print_json(mso_doctor_list_out(page))
        return
    print_table(
        f"Second-opinion doctors ({len(page.items)} of {page.total})",
        _COLUMNS,
        (_row(d) for d in page.items),
    )
    print_next_page(page)


async def onboard_doctor(ctx: CommandContext) -> None:
    a = ctx.args
    doctor = await ctx.container.mso_doctors.onboard_mso_doctor().execute(
        ctx.principal, OnboardMsoDoctorCommand(tenant_id=a.tenant_id, **_fields(a))
    )
    print_doctor(ctx, doctor, "onboarded")


async def update_doctor(ctx: CommandContext) -> None:
    a = ctx.args
    update = await ctx.container.mso_doctors.update_mso_doctor().execute(
        ctx.principal,
        UpdateMsoDoctorCommand(
            doctor_id=a.doctor_id, unlink_clerk_user=a.unlink_clerk_user, **_fields(a)
        ),
    )
    print_doctor(ctx, update.doctor, "updated" if update.changed else "unchanged")
