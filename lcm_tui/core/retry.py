"""The one backoff used for every retry: venue reconnects, snapshot fetches, the database recorder.

Exponential growth from ``min_s`` doubling per consecutive failure up to ``max_s``, with jitter so
that many clients that lost the same venue at the same moment do not reconnect in lockstep (a
reconnect storm). The delay for failure ``n`` is ``base * U(1 - jitter, 1) + min_s * U(0, jitter)``
with ``base = min(max_s, min_s * factor**n)``, clamped to ``[min_s, max_s]``: never below the floor a
venue asks for, never above the ceiling the user configured.

Pure: no clock, no sleeping, no asyncio. The caller sleeps; tests inject ``rand`` (any callable
returning floats in ``[0, 1)``, e.g. ``random.Random(seed).random``) to get exact delays.
"""

from __future__ import annotations

import random
from collections.abc import Callable

# 2**30 * min_s exceeds any sane ceiling; capping the exponent keeps the float finite forever.
_MAX_EXPONENT = 30


class Backoff:
    """Delays for consecutive failures; ``reset()`` after a success starts again from ``min_s``.

    ``failures`` is public so a caller that counts failures its own way (a connection that opened
    but never synced is a failure too) can set it directly.
    """

    __slots__ = ("_rand", "factor", "failures", "jitter", "max_s", "min_s")

    def __init__(self, min_s: float, max_s: float, *, factor: float = 2.0, jitter: float = 0.5,
                 rand: Callable[[], float] | None = None, seed: int | None = None) -> None:
        if not (min_s >= 0 and max_s >= min_s):
            raise ValueError(f"backoff: need 0 <= min_s <= max_s, got {min_s!r}, {max_s!r}")
        if not 0.0 <= jitter <= 1.0:
            raise ValueError(f"backoff: jitter must be within [0, 1], got {jitter!r}")
        if factor < 1.0:
            raise ValueError(f"backoff: factor must be >= 1, got {factor!r}")
        self.min_s = min_s
        self.max_s = max_s
        self.factor = factor
        self.jitter = jitter
        self.failures = 0
        self._rand = rand if rand is not None else random.Random(seed).random

    def delay(self, failures: int | None = None) -> float:
        """The delay after ``failures`` consecutive failures (default: the current count); draws jitter."""
        n = self.failures if failures is None else failures
        lo, hi = self.min_s, self.max_s
        base = min(hi, lo * self.factor ** min(max(n, 0), _MAX_EXPONENT))
        j = self.jitter
        d = base * (1.0 - j * self._rand()) + lo * j * self._rand()
        return max(lo, min(hi, d))

    def next(self) -> float:
        """Count one more failure and return the delay to wait before the next attempt.

        The first failure waits about ``min_s``: the count goes up after the delay is drawn.
        """
        d = self.delay()
        self.failures += 1
        return d

    def reset(self) -> None:
        """A success: the next failure waits about ``min_s`` again."""
        self.failures = 0
