"""Process memory the engine gives back: freed heap pages and untouched padding.

Two allocator habits would otherwise keep memory resident that the engine no longer
uses, so a long replay's peak would be the sum of what the feeds held and what
SessionData holds, not the larger of the two:

- glibc keeps freed small blocks (a replay feed's delivered pieces) in its heap rather
  than returning them to the OS; :func:`return_freed_memory` asks it to (``malloc_trim``);
- numpy asks for transparent huge pages on big arrays, so the first write into a block
  sized for the whole session makes 2 MiB of it resident at a time; :func:`lazy_zeros`
  allocates without that, so only the pages written are resident.

Both are no-ops where they do not apply (another C library, another numpy).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["freeze_startup_heap", "lazy_zeros", "return_freed_memory"]


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


_TRIM = _malloc_trim()


def return_freed_memory() -> None:
    """Hand the heap's free pages back to the OS (after a feed let go of what it delivered)."""
    if _TRIM is not None:
        _TRIM(0)


def _hugepage_switch() -> Callable[[bool], bool] | None:
    multiarray: Any = getattr(getattr(np, "_core", None), "multiarray", None)
    switch = getattr(multiarray, "_set_madvise_hugepage", None)
    return switch if callable(switch) else None


_HUGEPAGES = _hugepage_switch()


def lazy_zeros(shape: tuple[int, ...], dtype: np.dtype[Any] | type) -> np.ndarray:
    """Zeros whose pages become resident only when written (no huge pages for this array)."""
    if _HUGEPAGES is None:
        return np.zeros(shape, dtype)
    before = _HUGEPAGES(False)
    try:
        return np.zeros(shape, dtype)
    finally:
        _HUGEPAGES(before)


def freeze_startup_heap() -> None:
    """Move everything alive after a headless engine's start-up out of the collector's sight.

    With 1,000 symbols loaded the heap is millions of objects that live until exit, and
    every full collection walked them all: 100-200 ms stalls every few seconds in the
    middle of a tick, which a desk reader saw as late bars. Frozen, a full collection sees
    only what was allocated since, a few milliseconds. (The window does the same after its
    start-up: ``gui.app.freeze_startup_heap``.)
    """
    gc.collect()
    gc.freeze()
