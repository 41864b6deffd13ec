"""Checkpoints whose latest one is gone from the database, never published, or altered there
(ADR 0056): what a verify and the next write make of them, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest

from admin_core.audit.checkpoints import CheckpointIssue, TrustedCheckpoints
from admin_core.audit.errors import AuditChainBroken
from admin_core.audit.use_cases import WriteCheckpointCommand
from tests.contract.test_audit_tampering import (
    OPERATOR,
    Sealed,
    backend,
    sealed,
    sealed_in_pairs,
    verify_both_ways,
)
from tests.support.audit import tenant_update as record

__all__ = ["backend", "sealed"]  # the fixtures, shared with the tampering tests


async def test_the_latest_remembered_checkpoint_deleted_from_the_database_is_reported(
    sealed: Sealed,
) -> None:
    """The verify remembers checkpoint 8 as the latest it trusts; then checkpoints 8 and 9
    are deleted from the database (both still published): the next verify checks every
    checkpoint again and reports 8 missing from the database, as one that remembers nothing
    does, and trusts only the checkpoints before it from then on."""
    await sealed_in_pairs(sealed)
    await sealed.append(record(13))
    await sealed.checkpoint()
    trusted = TrustedCheckpoints()

    def both_agree() -> Any:
        return verify_both_ways(sealed, trusted)

    assert (await both_agree()).ok
    assert trusted.prefix is not None
    assert trusted.prefix.latest.seq == 8
    await sealed.append(record(14))
    assert await sealed.checkpoint() == 9
    await sealed.attacker.run(
        [("DELETE FROM audit_checkpoints WHERE seq >= 8", ())], without_triggers=True
    )
    result = await both_agree()
    problem = result.checkpoint_problem
    assert (problem.checkpoint_seq, problem.reason) == (8, CheckpointIssue.MISSING_IN_DATABASE)
    assert not result.ok
    assert trusted.prefix.latest.seq == 7


async def test_a_checkpoint_stored_but_never_published_is_published_by_the_next_write(
    sealed: Sealed,
) -> None:
    """The writer stored checkpoint 1 and died before publishing it: the next write
    publishes it (as stored) before its own, so the sink holds both and a verify finds them
    agreeing."""
    await sealed.append(record(1), record(2))
    assert await sealed.checkpoint() == 1
    first = sealed.sink.path(1)
    document = first.read_bytes()
    first.unlink()  # never published
    await sealed.append(record(3))
    assert await sealed.checkpoint() == 2
    assert sealed.sink.path(1).read_bytes() == document
    assert sealed.sink.path(2).exists()
    result = await sealed.verify()
    assert (result.ok, result.checkpoints_checked) == (True, 2)


async def test_a_latest_checkpoint_not_validly_signed_is_neither_published_nor_built_on(
    sealed: Sealed,
) -> None:
    """The latest checkpoint in the database, never published, was altered there (its
    signature no longer fits): the next write refuses with AUDIT_CHAIN_BROKEN naming it,
    publishes nothing and stores no checkpoint on top of it."""
    await sealed.append(record(1), record(2))
    assert await sealed.checkpoint() == 1
    published = sealed.sink.path(1)
    stored = json.loads(published.read_bytes())
    published.unlink()  # never published
    stored["created_at"] = stored["created_at"].replace("20", "19", 1)
    forged = json.dumps(stored, sort_keys=True, separators=(",", ":"))
    await sealed.attacker.run(
        [("UPDATE audit_checkpoints SET document = ? WHERE seq = 1", (forged,))],
        without_triggers=True,
    )
    await sealed.append(record(3))
    with pytest.raises(AuditChainBroken) as refused:
        await sealed.writer.execute(OPERATOR, WriteCheckpointCommand())
    assert "Checkpoint 1" in refused.value.message
    assert not sealed.sink.path(1).exists()
    assert not sealed.sink.path(2).exists()
    async with sealed.uow() as tx:
        latest = await tx.checkpoints.latest()
    assert latest is not None
    assert latest.seq == 1
