"""Readiness when the schema cannot be read for a reason nobody worded, and what an external
dependency's unexpected HTTP answers are reported as: words for anyone who asks, the details
in the log only."""

from __future__ import annotations

import logging

import pytest

from adapters.memory.health import InMemoryDatabaseSchema
from adapters.memory.store import InMemoryStore
from adapters.memory.transaction import InMemoryTransactions
from adapters.system.runtime import SystemClock, UlidGenerator
from admin_core.health.errors import NotReady
from admin_core.health.model import SchemaRevision
from admin_core.health.ports import DependencyDown
from admin_core.health.use_cases import CheckReadiness

SECRET = "postgresql://admin:hunter2@db.internal/admin"


class BrokenSchema(InMemoryDatabaseSchema):
    """A schema read that fails with an error no adapter worded (a driver's own, carrying
    the address it was given), until mended."""

    def __init__(self) -> None:
        self.broken = True

    async def revision(self) -> SchemaRevision:
        if self.broken:
            raise RuntimeError(f"could not read alembic_version at {SECRET}")
        return await super().revision()


async def test_a_schema_that_cannot_be_read_is_not_ready_in_words_that_name_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    schema = BrokenSchema()
    readiness = CheckReadiness(
        InMemoryTransactions(InMemoryStore(), SystemClock(), UlidGenerator()),
        timeout_seconds=5,
        schema=schema,
    )
    caplog.set_level(logging.WARNING, logger="admin_core.health")
    with pytest.raises(NotReady) as refused:
        await readiness.execute()
    assert refused.value.message == "The database could not be read."
    assert SECRET not in f"{refused.value.message} {refused.value.details}"
    assert "alembic_version" in caplog.text  # the log has the details

    schema.broken = False
    await readiness.execute()  # ready again once it reads


@pytest.mark.parametrize(
    ("status", "reported"),
    [
        (401, "credentials refused (HTTP 401)"),
        (403, "credentials refused (HTTP 403)"),
        (429, "rate limited (HTTP 429)"),
        (500, "server error (HTTP 500)"),
        (503, "server error (HTTP 503)"),
        (404, "unexpected answer (HTTP 404)"),
        (302, "unexpected answer (HTTP 302)"),
    ],
)
def test_an_unexpected_http_answer_of_a_dependency_is_reported_by_its_kind(
    status: int, reported: str
) -> None:
    assert str(DependencyDown.answered(status)) == reported
