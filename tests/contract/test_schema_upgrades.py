"""`adminctl db upgrade` on PostgreSQL as replicas run it when they start: several at once on
a fresh database take turns, and each says what it changed; run as a role that may not change
the schema, it names the setting to use."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa

from adapters.sql.engine import create_engine
from adapters.sql.migrate import schema_revision, upgrade
from entrypoints.cli.main import main
from tests.support.databases import APP_ROLE
from tests.support.services import _create_database, _drop_database, service_url

pytestmark = pytest.mark.postgres


async def test_upgrades_started_at_once_take_turns_and_one_does_the_work() -> None:
    super_url, owner_url = service_url("POSTGRES_SUPER"), service_url("POSTGRES_OWNER")
    owner = urlsplit(owner_url)
    name = f"upgrade_race_{secrets.token_hex(3)}"
    await _create_database(super_url, name, owner.path.lstrip("/"))
    try:
        fresh = urlunsplit(owner._replace(path=f"/{name}"))
        done = await asyncio.gather(*(upgrade(fresh) for _ in range(3)))
    finally:
        await _drop_database(super_url, name)
    assert sorted(d.changed for d in done) == [False, False, True]
    [first] = [d for d in done if d.changed]
    assert first.before is None
    assert {d.after for d in done} == {first.after}


def test_an_upgrade_as_the_app_role_names_the_owner_setting_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """On a database one revision behind: there is a change to make, which the app role
    (granted the tables and the revision, not the schema) may not."""
    super_url, owner_url = service_url("POSTGRES_SUPER"), service_url("POSTGRES_OWNER")
    owner = urlsplit(owner_url)
    name = f"upgrade_as_app_{secrets.token_hex(3)}"
    asyncio.run(_create_database(super_url, name, owner.path.lstrip("/")))
    try:
        asyncio.run(
            upgrade(urlunsplit(owner._replace(path=f"/{name}")), app_role=APP_ROLE, revision="0009")
        )
        app = urlsplit(service_url("POSTGRES"))
        monkeypatch.setenv("ADMIN_DATABASE_URL", urlunsplit(app._replace(path=f"/{name}")))
        monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "key.pem"))
        monkeypatch.delenv("ADMIN_MIGRATION_DATABASE_URL", raising=False)
        assert main(["db", "upgrade"]) == 78
    finally:
        asyncio.run(_drop_database(super_url, name))
    err = capsys.readouterr().err
    assert "ADMIN_MIGRATION_DATABASE_URL" in err
    assert "Traceback" not in err


def test_an_upgrade_granting_an_unknown_app_role_names_the_role_not_an_outage(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A mistyped `ADMIN_DATABASE_APP_ROLE`: the server's own answer (role does not exist),
    and nothing migrated; never "unreachable, try again"."""
    super_url, owner_url = service_url("POSTGRES_SUPER"), service_url("POSTGRES_OWNER")
    owner = urlsplit(owner_url)
    name = f"upgrade_role_{secrets.token_hex(3)}"
    asyncio.run(_create_database(super_url, name, owner.path.lstrip("/")))
    try:
        fresh = urlunsplit(owner._replace(path=f"/{name}"))
        monkeypatch.setenv("ADMIN_DATABASE_URL", fresh)
        monkeypatch.setenv("ADMIN_DATABASE_APP_ROLE", "admin_mistyped")
        monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "key.pem"))
        monkeypatch.delenv("ADMIN_MIGRATION_DATABASE_URL", raising=False)
        assert main(["db", "upgrade"]) == 78
        revision = asyncio.run(schema_revision(fresh))
    finally:
        asyncio.run(_drop_database(super_url, name))
    err = capsys.readouterr().err
    assert "admin_mistyped" in err
    assert "unreachable" not in err
    assert revision is None


#: The tables the application deletes from; every other table refuses the app role a DELETE.
DELETED_BY_THE_APP = {
    "tenant_org_mappings",
    "user_roles",
    "flag_overrides",
    "embedded_memberships",
}


async def test_the_app_role_may_delete_only_where_the_application_deletes() -> None:
    super_url, owner_url = service_url("POSTGRES_SUPER"), service_url("POSTGRES_OWNER")
    owner = urlsplit(owner_url)
    name = f"upgrade_grants_{secrets.token_hex(3)}"
    await _create_database(super_url, name, owner.path.lstrip("/"))
    try:
        await upgrade(urlunsplit(owner._replace(path=f"/{name}")), app_role=APP_ROLE)
        app = urlsplit(service_url("POSTGRES"))
        engine = create_engine(urlunsplit(app._replace(path=f"/{name}")))
        try:
            async with engine.connect() as connection:
                tables = (
                    await connection.execute(
                        sa.text(
                            "select tablename from pg_tables where schemaname = 'public'"
                            " and tablename <> 'alembic_version'"
                        )
                    )
                ).scalars()
                deletable = {
                    table
                    for table in tables
                    if await connection.scalar(
                        sa.text("select has_table_privilege(current_user, :t, 'DELETE')"),
                        {"t": table},
                    )
                }
        finally:
            await engine.dispose()
    finally:
        await _drop_database(super_url, name)
    assert deletable == DELETED_BY_THE_APP
