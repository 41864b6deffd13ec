"""A checkpoint document altered in the database or the sink, whatever it was made into, is
told as not a checkpoint (CheckpointMalformed, reported by a verify), never a crash."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from admin_core.audit.checkpoints import (
    Checkpoint,
    CheckpointMalformed,
    SealedHead,
    parse_checkpoint,
    unsigned_checkpoint,
)

GENUINE = unsigned_checkpoint(
    None,
    [SealedHead("platform", 3, "a" * 64), SealedHead("tenant:apollo", 9, "b" * 64)],
    created_at=datetime(2026, 3, 1, tzinfo=UTC),
    key_id="0123456789abcdef",
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["2026-03-01T00:00:00", "2026-03-01T00:00:00+00:00", "a" * 64]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=8,
)


def genuine() -> dict[str, Any]:
    document = json.loads(GENUINE.document()) | {"signature": "c2ln"}
    assert parse_checkpoint(json.dumps(document)).seq == 1  # genuine as it stands
    return document


@given(
    changes=st.dictionaries(
        st.sampled_from(
            ["type", "v", "seq", "created_at", "prev_hash", "key_id", "signature", "heads"]
        ),
        json_values,
        min_size=1,
    ),
    dropped=st.sets(st.sampled_from(["seq", "heads", "created_at", "signature"]), max_size=1),
)
def test_a_checkpoint_document_altered_in_any_field_is_one_or_malformed(
    changes: dict[str, Any], dropped: set[str]
) -> None:
    document = genuine() | changes
    for field in dropped:
        document.pop(field, None)
    try:
        checkpoint = parse_checkpoint(json.dumps(document))
    except CheckpointMalformed:
        return
    assert isinstance(checkpoint, Checkpoint)
    assert checkpoint.seq >= 1
    assert list(checkpoint.heads) == sorted(checkpoint.heads)


@given(heads=json_values)
def test_a_checkpoints_heads_of_any_other_shape_are_malformed(heads: Any) -> None:
    document = genuine() | {"heads": heads}
    try:
        parse_checkpoint(json.dumps(document))
    except CheckpointMalformed:
        return
    assert heads == [] or isinstance(heads, list)


@given(raw=st.binary(max_size=64))
def test_any_bytes_as_a_checkpoint_are_malformed(raw: bytes) -> None:
    try:
        parse_checkpoint(raw)
    except CheckpointMalformed:
        return
    raise AssertionError(f"took {raw!r}")
