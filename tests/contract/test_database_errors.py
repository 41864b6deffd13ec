"""What a database error says when it reaches a log line or the CLI: the statement that
failed, never the values it carried (a doctor's name and email, a patient's id)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.sql.engine import create_engine
from tests.support.databases import postgres_urls

PERSONAL = {"full_name": "Jane Q. Patient", "email": "jane.patient@example.com"}


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
@pytest.mark.parametrize("pooled", [True, False], ids=["pooled", "unpooled"])
async def test_a_failed_statement_names_none_of_the_values_it_was_given(
    backend: str, pooled: bool, tmp_path: Path
) -> None:
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}"
        if backend == "sqlite"
        else postgres_urls()[0]
    )
    engine = create_engine(url, pooled=pooled)
    try:
        async with engine.connect() as connection:
            with pytest.raises(sa.exc.DBAPIError) as failed:
                await connection.execute(
                    sa.text(
                        "insert into no_such_table (full_name, email) values (:full_name, :email)"
                    ),
                    PERSONAL,
                )
    finally:
        await engine.dispose()
    told = str(failed.value)
    assert "no_such_table" in told  # the statement is still named
    for value in PERSONAL.values():
        assert value not in told
