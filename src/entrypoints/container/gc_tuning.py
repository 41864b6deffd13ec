"""The garbage collector's settings while a graph rebuild runs: process-wide state, so it is
the process owner's business (this package), not the core's."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: Allocations between two young-generation collections while a rebuild runs (Python's
#: default is 700).
REBUILD_GC_THRESHOLD = 50_000

_holders = 0
_saved: tuple[int, int, int] | None = None
#: The threshold the first holder set: the last one restores `_saved` only over it.
_set: tuple[int, int, int] | None = None
#: Whether the first holder froze the heap (and so the last one thaws it).
_froze = False


@contextmanager
def collector_spares_older_objects() -> Iterator[None]:
    """A rebuild allocates millions of short-lived objects, and each of Python's full
    collections would also walk every object the process already held (modules, caches):
    about a third of the rebuild's Python CPU. `gc.freeze` keeps those older objects out of
    the collector's view while the rebuild runs; `gc.unfreeze` hands them back, so nothing is
    kept alive by this. The batches in flight (hundreds of thousands of objects, freed by
    reference counting) would still be walked by every collection that meets them: a higher
    young-generation threshold runs far fewer of them (cyclic garbage waits a little longer).

    Nested or overlapping holders (a second request that finds the rebuild lock taken) share
    one setting: the first sets it, the last restores what was there before. A heap the
    process froze already (`adminctl serve` freezes what start-up built) stays frozen: the
    rebuild does not freeze or thaw it, since `gc.unfreeze` would thaw it all. A threshold the
    process sets while a rebuild runs is left as it set it; a freeze it makes meanwhile is
    thawed with the rebuild's (`gc` has no way to thaw part of the frozen heap)."""
    global _holders, _saved, _set, _froze
    if _holders == 0:
        _saved = gc.get_threshold()
        _froze = gc.get_freeze_count() == 0
        if _froze:
            gc.freeze()
        _set = (max(_saved[0], REBUILD_GC_THRESHOLD), *_saved[1:])
        gc.set_threshold(*_set)
    _holders += 1
    try:
        yield
    finally:
        _holders -= 1
        if _holders == 0 and _saved is not None:
            if gc.get_threshold() == _set:
                gc.set_threshold(*_saved)
            if _froze:
                gc.unfreeze()
            _saved = _set = None
