"""The garbage-collector policy of a serving process (a burst or shard process, a worker, the API).

Measured (``bench/engine.py``, "GC"): 1,000 uncached runs, 40 at a time, with CPython's default
thresholds spent 4.5 s of 32 s in the collector, nine full collections pausing up to 474 ms
each, because every full collection walks the ~280k objects of the loaded indexes, models and
modules again. Once the engine is open those objects live as long as the process, so:

* ``gc.collect()`` then ``gc.freeze()``: startup garbage is freed, and what survives moves to
  the permanent generation, which no collection walks again;
* a young-generation threshold of 20,000 allocations (CPython's is 700): a run allocates
  thousands of short-lived dicts and lists, and collecting every 700 was mostly wasted work.

The same load then spent 0.9 s collecting, with pauses under 90 ms. Only entry points call this:
freezing in a test process would keep every test's garbage alive.

``paused()`` turns the collector off while an index is loaded or built: everything those allocate
lives on, so each full collection on the way walks a growing heap for nothing.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 20_000
OLDER_THRESHOLDS = (10, 10)


def tune_for_serving() -> None:
    """Freeze what startup left alive and collect young objects less often (see the module doc)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)


_lock = threading.Lock()
_pauses = 0
_was_enabled = False


@contextmanager
def paused() -> Iterator[None]:
    """The collector off for the block (loading the three indexes: 0.70 s -> 0.22 s, measured).

    Nests, across threads too (the sources open in parallel): the collector comes back when the
    last pause ends, and only if it was on when the first began.

    >>> with paused():
    ...     gc.isenabled()
    False
    """
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()
