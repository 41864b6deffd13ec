"""Rules of the tree's shape that import-linter cannot state (docs/adr/0041): what the
entrypoints take from use-case modules, what areas take from each other, and a core that
holds business rules only."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
CORE = SRC / "admin_core"
AREAS = sorted(p.name for p in CORE.iterdir() if p.is_dir() and (p / "__init__.py").exists())


def _imports(path: Path) -> Iterator[tuple[str, str]]:
    """(module, name) of every `from module import name` in the file."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                yield node.module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ""


def _files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py"))


def test_entrypoints_take_only_use_cases_and_their_commands_from_use_case_modules() -> None:
    offenders = []
    for path in _files(SRC / "entrypoints"):
        for module, name in _imports(path):
            if not (module.startswith("admin_core.") and module.endswith(".use_cases")):
                continue
            thing = getattr(importlib.import_module(module), name)
            is_use_case = isinstance(thing, type) and callable(getattr(thing, "execute", None))
            is_command = (
                isinstance(thing, type)
                and dataclasses.is_dataclass(thing)
                and thing.__dataclass_params__.frozen  # type: ignore[attr-defined]
                and thing.__module__ == module
            )
            if not (is_use_case or is_command):
                offenders.append(f"{path.relative_to(SRC)}: {module}.{name}")
    assert offenders == []


@pytest.mark.parametrize("area", AREAS)
def test_an_area_takes_no_use_case_of_another_area(area: str) -> None:
    offenders = [
        f"{path.relative_to(SRC)}: {module}"
        for path in _files(CORE / area)
        for module, _ in _imports(path)
        if module.startswith("admin_core.")
        and module.endswith(".use_cases")
        and module.split(".")[1] != area
    ]
    assert offenders == []


PROCESS_WIDE = ("gc", "signal", "logging.config", "atexit", "faulthandler", "resource")


def test_the_core_holds_business_rules_only() -> None:
    """No demo or benchmark data, nothing that changes process-wide state."""
    modules = {p.relative_to(CORE).as_posix() for p in _files(CORE)}
    assert not [m for m in modules if "demo" in m or "synthetic" in m or "fixture" in m]
    offenders = [
        f"{path.relative_to(SRC)}: {module}"
        for path in _files(CORE)
        for module, _ in _imports(path)
        if module in PROCESS_WIDE or module.split(".")[0] in {"entrypoints", "bench", "tests"}
    ]
    assert offenders == []


def test_every_use_case_takes_the_principal_and_one_command() -> None:
    """`execute(principal, command)`; authentication and readiness, which act before any
    principal exists, and status reads without input are the exceptions."""
    exceptions = {"Authenticate", "CheckReadiness"}
    offenders = []
    for path in _files(CORE):
        if path.name != "use_cases.py":
            continue
        module = importlib.import_module(
            "admin_core." + path.relative_to(CORE).with_suffix("").as_posix().replace("/", ".")
        )
        for name, thing in vars(module).items():
            if not (isinstance(thing, type) and thing.__module__ == module.__name__):
                continue
            execute = getattr(thing, "execute", None)
            if execute is None or name in exceptions:
                continue
            params = list(execute.__code__.co_varnames[: execute.__code__.co_argcount])
            if params[:2] != ["self", "principal"] or len(params) > 3:
                offenders.append(f"{module.__name__}.{name}{tuple(params)}")
    assert offenders == []


#: Adapter packages every adapter may use: not adapters of a service themselves.
SHARED_ADAPTER_PACKAGES = {"http"}


def test_every_adapter_package_is_kept_apart_from_the_others() -> None:
    """A new adapter package is in import-linter's independence contract, so that it cannot
    come to import another adapter unnoticed."""
    config = tomllib.loads((SRC.parent / "pyproject.toml").read_text())
    [independence] = [
        c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "independence"
    ]
    listed = {m.removeprefix("adapters.") for m in independence["modules"]}
    packages = {p.name for p in (SRC / "adapters").iterdir() if (p / "__init__.py").exists()}
    assert packages - SHARED_ADAPTER_PACKAGES == listed


BENCH = SRC.parent / "bench"


@pytest.mark.parametrize("module", sorted(p.stem for p in BENCH.glob("*.py")))
def test_every_benchmark_module_imports(module: str) -> None:
    """The benchmarks are not type-checked with the library and run outside `make test`: a
    name the library renames or removes must still fail here, not at `make bench`."""
    importlib.import_module(f"bench.{module}")


@pytest.mark.parametrize("package", ["admin_core", "adapters", "entrypoints"])
def test_every_package_says_it_is_typed_so_a_host_type_checks_against_it(package: str) -> None:
    assert (SRC / package / "py.typed").is_file()
