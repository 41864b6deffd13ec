"""A graph rebuild's collector settings give back exactly what they found: the threshold, and
a heap frozen by `adminctl serve` at start-up stays frozen after the rebuild."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from entrypoints.container.gc_tuning import REBUILD_GC_THRESHOLD, collector_spares_older_objects


@pytest.fixture
def thawed() -> Iterator[None]:
    gc.unfreeze()
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_a_rebuild_freezes_and_thaws_only_what_it_froze(thawed: None) -> None:
    before = gc.get_threshold()
    with collector_spares_older_objects():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] >= REBUILD_GC_THRESHOLD
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_a_heap_frozen_at_start_up_stays_frozen_after_a_rebuild(thawed: None) -> None:
    gc.collect()
    gc.freeze()  # what `create_app(..., freeze_after_start=True)` does
    frozen = gc.get_freeze_count()
    with collector_spares_older_objects(), collector_spares_older_objects():
        pass
    assert gc.get_freeze_count() >= frozen > 0


def test_a_threshold_the_process_sets_during_a_rebuild_is_left_as_it_set_it(
    thawed: None,
) -> None:
    with collector_spares_older_objects():
        gc.set_threshold(2_000, 20, 20)  # the host tunes its collector meanwhile
    assert gc.get_threshold() == (2_000, 20, 20)
