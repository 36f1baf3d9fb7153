"""Garbage collection in a sweep's process: none while it starts, rarer while it runs
(imported by the CLI before anything heavy)."""

from __future__ import annotations

import contextlib
import gc
from typing import Iterator

# objects allocated between two young collections while episodes run (Python's default
# is 700). Episodes in flight hold many short-lived containers, freed by reference
# counting; at the default, collections cost ~7% of the sweep's CPU (bench_http.py),
# at this threshold under 1%, each pause still a few ms.
RUN_GC_THRESHOLD = 10_000


@contextlib.contextmanager
def startup_gc() -> Iterator[None]:
    """Skip garbage collection while a sweep starts (imports, planning, the store): what
    it allocates is long-lived, and collections over it cost ~10% of the startup CPU.
    After, freeze it (no later collection walks it) and restore the previous state."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.freeze()
            gc.enable()


@contextlib.contextmanager
def running_gc() -> Iterator[None]:
    """Young collections every :data:`RUN_GC_THRESHOLD` allocations while episodes run;
    the previous thresholds after."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], RUN_GC_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


__all__ = ["RUN_GC_THRESHOLD", "running_gc", "startup_gc"]
