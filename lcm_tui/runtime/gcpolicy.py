"""Garbage collection for the processes without a screen (``--headless``, ``collect``).

Why: a sample tick over hundreds of streams allocates hundreds of thousands of short-lived objects
(samples, walks, JSON entries). With CPython's default thresholds a young collection runs every 700
allocations and traverses objects that their reference counts would free a moment later, and the
occasional full collection traverses every book in the process: at 900 streams the collector took
45-120 ms of CPU a second, up to a fifth of the process (``benches/scale.py`` reports it). A larger
young threshold lets most of them die by reference count first, and everything alive after the first
tick (the engine, the synced books, the sockets) is frozen out of the collector's reach, as the TUI
freezes its own start-up heap. Reference cycles are still collected, only less often.

The TUI keeps its own policy (``frontends.tui.app``): full collections after a frame is on screen.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator

YOUNG_THRESHOLD = 20_000  # allocations between young collections (CPython's default: 700)
MIDDLE_THRESHOLD = 20  # young collections per middle one (default 10)
OLD_THRESHOLD = 100  # middle collections per full one (default 10)


@contextlib.contextmanager
def service_gc() -> Iterator[Callable[[], None]]:
    """The thresholds above while the block runs; call the yielded function once the heap has settled
    (after the first sample) to freeze what is alive then. Everything is as before on exit."""
    before = gc.get_threshold()
    frozen = [False]

    def settle() -> None:
        if not frozen[0]:
            frozen[0] = True
            gc.collect()
            gc.freeze()

    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
    try:
        yield settle
    finally:
        gc.set_threshold(*before)
        if frozen[0]:
            gc.unfreeze()
