"""`adminctl tenants create|update`, `providers create`, `users list|grant|revoke` on an
embedded SQLite database, acting as the operator and writing audit entries."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.sql.engine import create_engine
from entrypoints.cli.main import main


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}"
    monkeypatch.setenv("ADMIN_DATABASE_URL", url)
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "keys" / "signing.pem"))
    assert main(["db", "upgrade"]) == 0
    assert main(["demo", "seed"]) == 0
    return url


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    capsys.readouterr()
    assert main(["--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def audit_actions(url: str) -> list[tuple[str, str]]:
    """(action, actor kind) of the entries the CLI wrote, oldest first."""

    async def read() -> list[tuple[str, str]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    sa.text(
                        "select action, actor_id from audit_log "
                        "join audit_chain_links on entry_id = id "
                        "where actor_id like 'cli:%' order by occurred_at, seq"
                    )
                )
                return [(r.action, r.actor_id.split(":")[0]) for r in rows]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_providers_create_then_tenants_update(
    embedded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    created = run_json(
        capsys,
        "providers",
        "create",
        "--name",
        "Fortis Hospital Mohali",
        "--country",
        "IN",
        "--language",
        "en",
        "--accreditation",
        "JCI",
        "--set",
        "default_currency=INR",
        "--org",
        "org_fortis",
    )
    assert created["tenant"]["id"] == "fortis-hospital-mohali"
    assert created["tenant"]["clerk_org_id"] == "org_fortis"
    updated = run_json(
        capsys,
        "tenants",
        "update",
        "fortis-hospital-mohali",
        "--status",
        "suspended",
        "--set",
        "timezone=Asia/Kolkata",
        "--clear",
        "default_currency",
    )
    assert updated["status"] == "suspended"
    assert updated["settings"] == {
        "payments_provider": None,
        "data_residency_region": None,
        "default_currency": None,
        "timezone": "Asia/Kolkata",
    }
    assert audit_actions(embedded) == [
        ("provider.create", "cli"),
        ("tenant.create", "cli"),
        ("tenant.update", "cli"),
    ]


def test_tenants_create_for_a_provider_that_has_one_exits_5(
    embedded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["--json", "tenants", "create", "--provider-id", "prv_apollo_chennai"]) == 5
    assert json.loads(capsys.readouterr().err)["errors"][0]["code"] == "TENANT_ALREADY_EXISTS"


def test_bad_settings_exit_2_naming_the_fields(
    embedded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    argv = ["--json", "tenants", "update", "apollo-chennai", "--set", "default_currency=ABC"]
    assert main([*argv, "--set", "timezone=Nowhere/Town"]) == 2
    fields = [e["field"] for e in json.loads(capsys.readouterr().err)["errors"]]
    assert fields == ["settings.default_currency", "settings.timezone"]


def test_users_grant_list_revoke(embedded: str, capsys: pytest.CaptureFixture[str]) -> None:
    granted = run_json(capsys, "users", "grant", "apollo-chennai", "user_new_hire", "org:admin")
    assert (granted["changed"], granted["org_role"]) == (True, "org:admin")
    listing = run_json(capsys, "users", "list", "apollo-chennai")
    assert "user_new_hire" in {u["user_id"] for u in listing["users"]}
    revoked = run_json(capsys, "users", "revoke", "apollo-chennai", "user_new_hire", "org:admin")
    assert (revoked["changed"], revoked["roles"]) == (True, [])


def test_users_list_pages_as_the_api_does(
    embedded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    everyone = run_json(capsys, "users", "list", "apollo-chennai")
    page = run_json(capsys, "users", "list", "apollo-chennai", "--limit", "1", "--offset", "1")
    assert page["users"] == everyone["users"][1:2]
    assert (page["total"], page["total_exact"], page["limit"], page["offset"]) == (
        everyone["total"],
        True,
        1,
        1,
    )


def test_a_membership_granted_by_one_process_is_seen_by_the_next(
    embedded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each `adminctl` command is a process of its own (as the server is): the embedded
    identity provider's memberships are in the database, so the next one sees the grant."""
    run_json(capsys, "users", "grant", "apollo-chennai", "user_new_hire", "org:provider:staff")
    listing = run_json(capsys, "users", "list", "apollo-chennai")
    [hire] = [u for u in listing["users"] if u["user_id"] == "user_new_hire"]
    assert (hire["org_role"], hire["source"]) == ("org:provider:staff", "both")
    run_json(capsys, "users", "revoke", "apollo-chennai", "user_new_hire", "org:provider:staff")
    listing = run_json(capsys, "users", "list", "apollo-chennai")
    assert "user_new_hire" not in {u["user_id"] for u in listing["users"]}


def test_users_grant_to_an_unknown_user_exits_4(
    embedded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["users", "grant", "apollo-chennai", "user_ghost", "org:admin"]) == 4
    assert "USER_NOT_FOUND" in capsys.readouterr().err


def test_the_last_super_admin_cannot_be_revoked(
    embedded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["users", "revoke", "platform", "user_platform_owner", "org:super_admin"]) == 3
    assert "ROLE_NOT_ALLOWED" in capsys.readouterr().err


MARKUP_LIKE = "Bumrungrad [/] [bold]x[/bold] :smile: [link=http://x]y[/link]"


def test_names_are_printed_as_they_are_never_as_markup(
    embedded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A name a tenant admin may set holds brackets or an emoji code: the operator's tables
    print it as it is (it once broke `tenants list` with a markup error)."""
    assert main(["tenants", "update", "bumrungrad-bangkok", "--name", MARKUP_LIKE]) == 0
    [doctor] = run_json(capsys, "doctors", "list", "--tenant-id", "apollo-chennai", "--limit", "1")[
        "doctors"
    ]
    assert main(["doctors", "update", doctor["id"], "--full-name", f"Dr {MARKUP_LIKE}"]) == 0
    for argv in (["tenants", "list"], ["doctors", "list", "--tenant-id", "apollo-chennai"]):
        capsys.readouterr()
        assert main(argv) == 0, argv
        printed = capsys.readouterr().out
        assert "Bumrungrad [/] [bold]x[/bold]" in printed.replace("\n", " "), argv
        assert ":smile:" in printed, argv


@pytest.mark.parametrize(
    ("command", "rows"),
    [
        (["tenants", "list"], "tenants"),
        (["users", "list", "apollo-chennai"], "users"),
        (["sessions", "list"], "sessions"),
        (["doctors", "list"], "doctors"),
    ],
)
def test_a_list_is_walked_by_the_cursor_each_page_prints(
    embedded: str, capsys: pytest.CaptureFixture[str], command: list[str], rows: str
) -> None:
    """Each page of one row says how to read the next (`--cursor`, under the table and as
    `next_cursor` in `--json`); following it reads the whole list, each row once."""
    everyone = run_json(capsys, *command, "--limit", "200")[rows]
    walked: list[Any] = []
    cursor: list[str] = []
    while True:
        page = run_json(capsys, *command, "--limit", "1", *cursor)
        walked += page[rows]
        assert main([*command, "--limit", "1", *cursor]) == 0
        printed = capsys.readouterr().out
        if page["next_cursor"] is None:
            assert "next page" not in printed
            break
        assert f"next page: --cursor {page['next_cursor']}" in printed
        cursor = ["--cursor", page["next_cursor"]]
    assert walked == everyone
    assert len(everyone) > 1
