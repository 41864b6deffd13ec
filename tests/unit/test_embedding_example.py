"""The embedding examples run as a service would run them, and compose only the core and our
adapters: no web framework, no CLI, no container (docs/embedding.md)."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from admin_core.kernel.principal import Principal
from admin_core.tenants.use_cases import ListTenantsQuery
from entrypoints.container import aclose, build_container
from entrypoints.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "embedded_service.py"
BACK_OFFICE = ROOT / "examples" / "back_office.py"
FORBIDDEN = ("litestar", "entrypoints", "dependency_injector")


def run_example(example: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(example)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=example.parent,
    )


def test_the_example_runs_and_prints_what_the_core_did() -> None:
    done = run_example(EXAMPLE)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "directory: 2 providers, 3 doctors, 3 procedures" in out
    assert "graph nodes: procedures=3, providers=2, accreditations=2, doctors=3" in out
    assert "graph relationships: offers=4, accredited_by=3, works_at=3, performs=3" in out
    assert "status: in sync" in out
    run = re.search(r"^rebuild (grb_\w+): scope=all, written=23$", out, re.MULTILINE)
    assert run is not None, out
    audit = re.search(
        r"^audit: graph\.rebuild by svc:directory-sync, request req_\w+, "
        r"resource (grb_\w+), outcome succeeded$",
        out,
        re.MULTILINE,
    )
    assert audit is not None, out
    assert audit.group(1) == run.group(1)  # the entry is the rebuild's own
    assert "refused: AUTH_INSUFFICIENT_PERMISSION" in out
    assert done.stderr == ""


def test_the_back_office_example_acts_on_four_areas_with_one_side_effect_runner() -> None:
    done = run_example(BACK_OFFICE)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"tenant: apollo-chennai of prv_\w+, organisation org_apollo", lines[0])
    assert lines[1:] == [
        "role: usr_meena holds org:admin (membership org:admin)",
        "flag: enable_mso_booking True -> False",
        "audit: provider.create, tenant.create, user_role.assign, flag.identity_override",
        "chain tenant:apollo-chennai: ok=True, entries=4",
        "reconcile: 0 completed, 0 unresolved",
        "refused: TENANT_NOT_FOUND",
    ]
    assert done.stderr == ""


@pytest.mark.parametrize("example", [EXAMPLE, BACK_OFFICE], ids=lambda p: p.stem)
def test_the_example_imports_no_framework_cli_or_container(example: Path) -> None:
    tree = ast.parse(example.read_text())
    modules = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    modules |= {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module is not None
    }
    assert modules, "the example imports nothing?"
    assert not [m for m in modules if m.split(".")[0] in FORBIDDEN]


async def test_reusing_our_container_as_the_embedding_guide_shows() -> None:
    container = build_container(Settings(database_url="memory://"))
    try:
        page = await container.tenants.list_tenants().execute(
            Principal.operator("billing", request_id="req-1"), ListTenantsQuery(limit=10)
        )
    finally:
        await aclose(container)
    assert (page.total, list(page.items)) == (0, [])


WAY_2 = """
import asyncio
from admin_core.kernel.principal import Principal
from admin_core.tenants.use_cases import ListTenantsQuery
from entrypoints.container import aclose, build_container
from entrypoints.settings import Settings

async def main() -> None:
    container = build_container(Settings(database_url="memory://"))
    try:
        page = await container.tenants.list_tenants().execute(
            Principal.operator("billing"), ListTenantsQuery()
        )
    finally:
        await aclose(container)
    print(page.total)

asyncio.run(main())
"""
#: Where the settings came from: the installed copy, not the source tree.
SETTINGS_FILE = "import entrypoints.settings; print(entrypoints.settings.__file__)"


def installed_as_the_wheel_lays_it_out(site: Path) -> None:
    """What the wheel holds, copied as pyproject's wheel target maps it (its packages by
    their last path component, then its `force-include`), without the source tree."""
    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
        "targets"
    ]["wheel"]
    for package in wheel["packages"]:
        shutil.copytree(ROOT / package, site / Path(package).name)
    for source, target in wheel.get("force-include", {}).items():
        shutil.copytree(ROOT / source, site / target)


def test_a_service_that_installed_the_package_reuses_our_container(tmp_path: Path) -> None:
    """The guide's Way 2 in a service that installed the package: the default settings find
    the flag catalogue and the matching registry the package carries, not the source tree's."""
    site, service = tmp_path / "site-packages", tmp_path / "service"
    installed_as_the_wheel_lays_it_out(site)
    service.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", WAY_2 + SETTINGS_FILE],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=service,
        env={**os.environ, "PYTHONPATH": str(site)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"0\n{site / 'entrypoints' / 'settings.py'}\n"


def test_the_back_office_example_copied_into_a_service_runs_on_the_installed_package(
    tmp_path: Path,
) -> None:
    """What a newcomer does with the example: copy it into their service, which installed the
    package. It finds the project's flag catalogue in the package."""
    site, service = tmp_path / "site-packages", tmp_path / "service"
    installed_as_the_wheel_lays_it_out(site)
    service.mkdir()
    shutil.copy(BACK_OFFICE, service / "back_office.py")
    done = subprocess.run(
        [sys.executable, "back_office.py"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=service,
        env={**os.environ, "PYTHONPATH": str(site)},
    )
    assert done.returncode == 0, done.stderr
    assert "flag: enable_mso_booking True -> False" in done.stdout.splitlines()
