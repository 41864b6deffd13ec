"""The embedding example runs as a service would run it, and composes only the core and our
adapters: no web framework, no CLI, no container (docs/embedding.md)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from admin_core.kernel.principal import Principal
from admin_core.tenants.use_cases import ListTenantsQuery
from entrypoints.container import aclose, build_container
from entrypoints.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "embedded_service.py"
FORBIDDEN = ("litestar", "entrypoints", "dependency_injector")


def test_the_example_runs_and_prints_what_the_core_did() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=EXAMPLE.parent,
    )
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


def test_the_example_imports_no_framework_cli_or_container() -> None:
    tree = ast.parse(EXAMPLE.read_text())
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
