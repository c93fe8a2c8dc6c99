"""Number and time formatting shared by the widgets, so every panel spells a value the same way."""

from __future__ import annotations

import math
import time


def compact(x: float | None, digits: int = 1) -> str:
    """1234567 -> '1.2M': quote amounts span 10^2..10^9 and columns are narrow."""
    if x is None or not math.isfinite(x):
        return "n/a"
    a = abs(x)
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{x / div:.{digits}f}{suffix}"
    return f"{x:.0f}"


def notional(x: float) -> str:
    """Configured notionals are round numbers: '10k', '1M', '250k'."""
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            v = x / div
            return f"{v:g}{suffix}"
    return f"{x:g}"


def bps(x: float | None, width: int = 0) -> str:
    """Basis points to 2 decimals; a value that rounds to zero is '0.00', never '-0.00'."""
    if x is None or not math.isfinite(x):
        return "n/a".rjust(width)
    text = f"{x:.2f}" if abs(x) < 1000 else f"{x:.0f}"
    if text.startswith("-") and not text.strip("-0."):
        text = text[1:]
    return text.rjust(width)


def price(x: float | None) -> str:
    """A computed price (VWAP): as many decimals as its magnitude needs to show ~7 significant digits."""
    if x is None or not math.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    decimals = max(0, 6 - math.floor(math.log10(abs(x))))
    return f"{x:.{min(decimals, 10)}f}"


def size(x: float) -> str:
    """Sizes in base units: 5 significant digits, no exponent."""
    if x >= 100_000:
        return compact(x, 1)
    if x >= 1000:
        return f"{x:.0f}"
    if x >= 1:
        return f"{x:.3f}"
    return f"{x:.5f}" if x >= 0.001 else f"{x:.2e}"


def age(now_ns: int, then_ns: int) -> str:
    """Time since the last applied frame; '-' before the first one."""
    if then_ns <= 0:
        return "-"
    s = max(0.0, (now_ns - then_ns) / 1e9)
    if s < 10:
        return f"{s:.1f}s"
    if s < 3600:
        return f"{s:.0f}s"
    return f"{s / 3600:.1f}h"


def clock_time(ts_ns: int) -> str:
    """HH:MM:SS in UTC: monitors are compared across machines and with exchange logs, which use UTC.

    A time the C library cannot convert (a corrupt capture's year 10^283) is shown as ``??:??:??``.
    """
    try:
        return time.strftime("%H:%M:%S", time.gmtime(ts_ns / 1e9))
    except (OverflowError, OSError, ValueError):
        return "??:??:??"


def duration(s: float) -> str:
    """A length of time for a human: '42s', '3.5min', '7.2h', '12d'; beyond ~3000 years just 'ages'."""
    if not math.isfinite(s) or s >= 1e11:
        return "ages"
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{s / 60:.1f}min"
    if s < 86_400:
        return f"{s / 3600:.1f}h"
    return f"{s / 86_400:.0f}d"
