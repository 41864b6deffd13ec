"""Every Python block of the embedding guide (README's "Embedding" section and the
docs/embedding.md it points to) runs as written, and every adapter the guide names comes with
the module it is imported from, so the text cannot drift from the code."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "embedding.md"
README = ROOT / "README.md"
_BLOCK = re.compile(r"^(?P<indent>[ ]*)```python\n(?P<code>.*?)^(?P=indent)```$", re.M | re.S)


def readme_section() -> str:
    text = README.read_text()
    start = text.index("\n## Embedding\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def blocks() -> list[Any]:
    found = []
    texts = {"README.md#embedding": readme_section(), "docs/embedding.md": GUIDE.read_text()}
    for name, text in texts.items():
        for match in _BLOCK.finditer(text):
            line = text[: match.start()].count("\n") + 1
            code = textwrap.dedent(match.group("code"))
            found.append(pytest.param(code, id=f"{name}:{line}"))
    return found


def test_the_readme_section_points_to_the_guide_and_the_guide_has_both_ways() -> None:
    assert "docs/embedding.md" in readme_section()
    codes = [p.values[0] for p in blocks()]
    assert any("RebuildProjection(" in c for c in codes)  # Way 1
    assert any("build_container(" in c for c in codes)  # Way 2


@pytest.mark.parametrize("code", blocks())
async def test_each_block_of_the_embedding_guide_runs_as_written(
    code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a service of its own, not this checkout
    compiled = compile(code, "<embedding guide>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace: dict[str, Any] = {"__name__": "embedding_guide"}
    ran = eval(compiled, namespace)  # the guide's own code
    if inspect.iscoroutine(ran):
        await ran
    if "page" in namespace:  # what each way reads back
        page = namespace["page"]
        assert getattr(page, "entries", None) or getattr(page, "total", None) == 0


def adapter_modules() -> dict[str, set[str]]:
    """Every class the `adapters` package defines, by name: the modules that define it (the
    migrations left out, which are scripts of alembic's)."""
    import importlib
    import pkgutil

    import adapters

    found: dict[str, set[str]] = {}
    for info in pkgutil.walk_packages(adapters.__path__, "adapters."):
        if ".migrations" in info.name:
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and value.__module__ == info.name:
                found.setdefault(name, set()).add(info.name)
    return found


def test_each_adapter_the_guide_names_comes_with_the_module_to_import_it_from() -> None:
    """An embedder composing adapters (Way 1) reads where each one is imported from: no
    adapter is named without its module somewhere in the guide."""
    text = GUIDE.read_text()
    named = set(re.findall(r"`([A-Z]\w*)[(`]", text))
    unplaced = {
        name: sorted(modules)
        for name, modules in adapter_modules().items()
        if name in named and not any(module in text for module in modules)
    }
    assert not unplaced
