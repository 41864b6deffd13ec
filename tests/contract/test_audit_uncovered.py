"""A verify that remembers the checkpoints it checked, when the latest of them is gone from
the database (ADR 0056), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from admin_core.audit.checkpoints import CheckpointIssue, TrustedCheckpoints
from tests.contract.test_audit_tampering import Sealed, backend, sealed, sealed_in_pairs
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

    async def both_agree() -> Any:
        remembered = await sealed.verify(trusted=trusted)
        assert remembered == await sealed.verify()
        return remembered

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
