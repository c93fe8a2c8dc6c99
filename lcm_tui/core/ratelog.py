"""The one rate-limited logger: a broken feed or a database outage must not flood the log.

Two shapes of the same idea:

- ``warn(key, msg, ...)``: at most one line per ``key`` per ``every`` seconds (a malformed frame
  every millisecond becomes one line every few seconds).
- ``changed(key, value, msg, ...)``: one line each time ``value`` differs from the last one logged for
  ``key`` (why a stream is down is said once per change of reason, not once per retry).

Pure: the clock is injectable (``time.monotonic`` by default), nothing here sleeps or schedules.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from typing import Any

# More distinct keys than this means keys carry unbounded data (a frame preview): forget the oldest
# half rather than grow without bound.
MAX_KEYS = 10_000


class RateLimitedLog:
    """Rate-limited lines on one logger (see the module docstring)."""

    def __init__(self, logger: logging.Logger, every: float = 5.0, *, level: int = logging.WARNING,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.every = every
        self.level = level
        self.clock = clock
        self.suppressed = 0  # lines not written because of the limit, for tests and diagnostics
        self._last: dict[str, float] = {}
        self._values: dict[str, Hashable] = {}

    def warn(self, key: str, msg: str, *args: object) -> bool:
        """Log ``msg % args`` unless ``key`` was logged less than ``every`` seconds ago; True if written."""
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.every:
            self.suppressed += 1
            return False
        if last is None:
            _bound(self._last)
        self._last[key] = now
        self.logger.log(self.level, msg, *args)
        return True

    def changed(self, key: str, value: Hashable, msg: str, *args: object) -> bool:
        """Log ``msg % args`` when ``value`` differs from the last value logged for ``key``; True if written."""
        if key in self._values and self._values[key] == value:
            self.suppressed += 1
            return False
        if key not in self._values:
            _bound(self._values)
        self._values[key] = value
        self.logger.log(self.level, msg, *args)
        return True

    def forget(self, key: str) -> None:
        """The next line for ``key`` is written whatever came before (e.g. the stream is live again)."""
        self._last.pop(key, None)
        self._values.pop(key, None)


def _bound(d: dict[str, Any]) -> None:
    if len(d) >= MAX_KEYS:
        for k in list(d)[: MAX_KEYS // 2]:
            del d[k]
