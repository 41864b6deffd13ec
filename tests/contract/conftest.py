"""Every contract suite runs against every adapter of its port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from admin_core.kernel.transaction import Transactions
from tests.support.databases import BACKENDS, database


@pytest.fixture(
    params=[
        pytest.param(b, marks=[pytest.mark.postgres] if b == "postgres" else []) for b in BACKENDS
    ]
)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def uow(backend: str, tmp_path: Path) -> AsyncIterator[Transactions]:
    async with database(backend, tmp_path) as factory:
        yield factory
