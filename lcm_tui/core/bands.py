"""Depth bands, prefix sums and the book walk: the one definition every number that looks at depth uses.

The per-venue metrics (``core.metrics``), the consolidated book (``core.consolidated``), the ladder's band
markers, the depth chart and (through the samples) the recorder all read depth from here, so a level is
inside a band for all of them or for none. docs/metrics.md gives the definitions in full; what this
module adds is how they are computed fast and exactly:

* **Band membership is exact.** With m = (b1 + a1) / 2 taken from the exchange's decimal strings, a bid
  is inside band x when p >= m·(1 − x/10^4) and an ask when p <= m·(1 + x/10^4), a level sitting exactly
  on the edge included. A float threshold can land one ulp on the wrong side of a decimal edge (the
  Kraken SC/EUR ask at 0.043860 on the +200 bps edge of mid 0.043 is such a case), so the float test is
  only used where it cannot be wrong: a level further than ``_EDGE_TOL`` (relative, some 4,500 ulps,
  far more than the few roundings that separate a float key or the float edge from the exact value)
  from the float edge is decided by ``bisect``; the few levels within it are decided in exact rational
  arithmetic (``fractions.Fraction`` of the price strings). Almost every tick has none, so the exact
  path costs nothing on the hot path.
* **A band is the sum of what is inside it,** never the side's total minus what is outside: one far
  level of 1e10 × 1e12 would cancel every band of its side to 0, and 1e300 × 1e300 (an infinite
  product) would turn them into NaN. A band that covers the whole side is still summed in one
  unordered pass over the level dict, which is the side's own sum, not a difference.
* **Sums are prefix sums** in book order, grown on demand and shared by the bands and the walks of one
  tick, so no per-level Python loop runs: ``itertools.accumulate`` over C-level maps, or, when the optional
  C extension is built, ``_fastbook.prefix_extend``, which does the same additions in the same order
  (identical results) without the iterator steps (``LCM_PURE_PYTHON=1`` turns it off, as for the book).
  ``_fastbook.side_sample`` does one side of a per-venue sample (every band, then every walk) in one
  call, with the same operations in the same order as :class:`Ladder`; it hands the side back (None)
  whenever a level is near an edge, so the exact decision stays here.

Floats are fine for the sums themselves (docs/metrics.md, "Floating point"); the book keeps the exact
strings, and membership (which level counts) is decided exactly.
"""

from __future__ import annotations

import os
import sys
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import accumulate, repeat
from operator import itemgetter, mul, neg
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lcm_tui.core.book import BookSide, OrderBook

_PrefixExtend = Callable[[dict[float, tuple[float, str, str]], list[float], list[float], list[float], list[float],
                          int], None]
_c_prefix_extend: _PrefixExtend | None
try:
    from lcm_tui.core._fastbook import prefix_extend as _c_prefix_extend
except ImportError:  # the extension is optional (see core.book)
    _c_prefix_extend = None
_SideSample = Callable[[dict[float, tuple[float, str, str]], list[float], float, float, list[int], list[float]],
                       tuple[list[float], list[tuple[float | None, float, int]]] | None]
_c_side_sample: _SideSample | None
try:
    from lcm_tui.core._fastbook import side_sample as _c_side_sample
except ImportError:
    _c_side_sample = None
_PURE = os.environ.get("LCM_PURE_PYTHON") == "1"
# Module-level so tests and benches can swap them, like core.book._fast_apply.
_fast_prefix: _PrefixExtend | None = None if _PURE else _c_prefix_extend
# side_sample sums sizes with plain additions, as sum() of floats does up to CPython 3.11; 3.12's sum()
# compensates its rounding, so there the Python path is the only one that gives its numbers.
_fast_side: _SideSample | None = None if _PURE or sys.version_info >= (3, 12) else _c_side_sample

BUY = "buy"
SELL = "sell"
BPS = 10_000

# A level whose float key is further than this (relative) from the float band edge is on the side of
# the edge that the float comparison says. Key and edge each carry a few roundings (< 10 ulps, 2e-15
# relative); 1e-12 leaves a wide margin and still catches essentially no level on a normal tick.
_EDGE_TOL = 1e-12
# ...and an absolute floor so that subnormal edges (absurd, but possible input) stay on the exact path.
_EDGE_ABS = 1e-300
# A walk whose remaining amount is below this fraction of its notional is filled: summing p*q in float
# must not turn an exactly fillable order into an "unfillable" one.
FILL_TOL = 1e-12

_size_of = itemgetter(0)
LevelValue = tuple[float, str, str]  # BookSide.levels values: (size, price string, size string)
# (base filled or None when unfillable, quote filled, levels touched) of one walk
WalkResult = tuple[float | None, float, int]


def exact(text: str, fallback: float) -> Fraction:
    """The exact value of a price string; its float key if the string is not a plain number.

    The book accepts whatever ``float()`` accepts; ``Fraction`` accepts the same decimal spellings, and
    for anything it refuses the float key (the exact value of a double) is the best value there is.
    """
    try:
        return Fraction(text)
    except (ValueError, TypeError):
        return Fraction(fallback)


class Ladder:
    """One side of a book, best first, in one quote unit, with prefix sums of p·q grown on demand.

    ``keys`` are signed like ``BookSide.keys`` (bids negated, so index 0 is the best level on both sides)
    and multiplied by ``rate`` when the side is converted to another quote (the consolidated book);
    ``orig`` are the book's own keys, through which sizes and price strings are found. ``cum`` holds the
    signed running Σ key·size of the best ``len(cum)`` levels, ``sizes`` their sizes.

    It reads the live book lazily: use it within one synchronous step.
    """

    __slots__ = ("_total", "cum", "keys", "levels", "orig", "rate", "sign", "sizes")

    def __init__(self, keys: list[float], levels: dict[float, LevelValue], sign: float, rate: float = 1.0) -> None:
        self.orig = keys
        self.keys = keys if rate == 1.0 else list(map(mul, keys, repeat(rate)))
        self.levels = levels
        self.sign = sign
        self.rate = rate
        self.sizes: list[float] = []
        self.cum: list[float] = []
        self._total: float | None = None

    @classmethod
    def of(cls, side: BookSide, rate: float = 1.0) -> Ladder:
        """A ladder over a live ``BookSide`` (bids or asks), converted by ``rate``."""
        return cls(side.keys, side.levels, side._sign, rate)

    @classmethod
    def of_lists(cls, prices: Sequence[float], sizes: Sequence[float], sign: float = 1.0) -> Ladder:
        """A ladder from positive prices and sizes, best first (no book behind it: no exact strings)."""
        keys = [sign * p for p in prices]
        ladder = cls(keys, {}, sign)
        ladder.sizes = list(sizes)
        ladder.cum = list(accumulate(map(mul, keys, ladder.sizes)))
        return ladder

    def __len__(self) -> int:
        return len(self.keys)

    def price(self, i: int) -> float:
        """The positive (converted) price of level ``i``."""
        return self.sign * self.keys[i]

    def exact_price(self, i: int) -> Fraction:
        """The exact (converted) price of level ``i``: its decimal string times the exact rate."""
        k = self.orig[i]
        lv = self.levels.get(k)
        p = exact(lv[1], self.sign * k) if lv is not None else Fraction(self.sign * k)
        return p if self.rate == 1.0 else p * Fraction(self.rate)

    def _sizes_of(self, lo: int, hi: int) -> list[float]:
        """Sizes of levels [lo, hi): ``itemgetter(*keys)`` does every dict lookup in one C call."""
        keys = self.orig[lo:hi]
        if len(keys) > 1:
            return list(map(_size_of, itemgetter(*keys)(self.levels)))
        return [self.levels[k][0] for k in keys]

    def extend(self, upto: int) -> None:
        """Grow the prefix sums to at least the best ``upto`` levels (at least doubling, up to the side)."""
        have = len(self.cum)
        n = len(self.keys)
        if upto <= have or have >= n:
            return
        upto = min(n, max(upto, 2 * have, 16))
        fast = _fast_prefix
        if fast is not None and self.levels:
            fast(self.levels, self.orig, self.keys, self.sizes, self.cum, upto)
            return
        sizes = self._sizes_of(have, upto)
        self.sizes += sizes
        cum = accumulate(map(mul, self.keys[have:upto], sizes), initial=self.cum[-1] if have else 0.0)
        next(cum)
        self.cum.extend(cum)

    def quote_within(self, n: int) -> float:
        """Σ p·q over the best ``n`` levels, as a positive quote amount; only what is inside is summed.

        The whole side (the usual case for a wide band) is one pass over the level dict in storage order:
        no hashing, half the cost of the ordered pass. Anything less is read from the prefix sums.
        """
        if n <= 0:
            return 0.0
        if n >= len(self.keys) and len(self.cum) < n and self.levels:
            if self._total is None:
                levels = self.levels
                self._total = self.rate * sum(map(mul, levels, map(_size_of, levels.values())))
            return self.sign * self._total
        self.extend(n)
        return self.sign * self.cum[min(n, len(self.cum)) - 1]

    def cumulative(self, n: int) -> list[float]:
        """Running Σ p·q (positive) of the best ``n`` levels: the same sums the bands are read from."""
        self.extend(n)
        return [self.sign * c for c in self.cum[:n]] if self.sign < 0 else self.cum[:n]

    # ---- bands
    def inside(self, band_bps: float, mid: float, mid2: Callable[[], Fraction]) -> int:
        """How many levels, from the top, lie inside ``band_bps`` of the mid (edge included).

        ``mid`` is the float mid; ``mid2`` returns the exact b1 + a1 (twice the mid) and is called only
        when a level lies so close to the edge that the float comparison could be wrong.
        """
        keys = self.keys
        sign = self.sign
        # In signed keys both sides read "key <= limit": bids -p <= -m(1 - x), asks p <= m(1 + x).
        limit = sign * mid * (BPS + sign * band_bps) / BPS
        tol = abs(limit) * _EDGE_TOL + _EDGE_ABS
        lo = bisect_left(keys, limit - tol)
        hi = bisect_right(keys, limit + tol, lo)
        if lo == hi:
            return lo
        # Exact: bids 2·10^4·p >= S·(10^4 − x), asks 2·10^4·p <= S·(10^4 + x), S = b1 + a1.
        x = Fraction(band_bps)
        edge = mid2() * (BPS + x if sign > 0 else BPS - x)
        i = lo
        while i < hi:
            p2 = 2 * BPS * self.exact_price(i)
            if not (p2 <= edge if sign > 0 else p2 >= edge):
                break
            i += 1
        return i

    def depths(self, bands_bps: Sequence[int], mid: float, mid2: Callable[[], Fraction]) -> dict[int, float]:
        """Σ p·q inside each band (docs/metrics.md ``depth_bid``/``depth_ask``), keyed by band."""
        return {x: self.quote_within(self.inside(x, mid, mid2)) for x in bands_bps}

    # ---- walks
    def walk(self, targets: Sequence[float]) -> list[WalkResult]:
        """The docs/metrics.md walk for each notional in ``targets`` (ascending): one ``bisect`` each.

        Spends (asks) or receives (bids) the notional from the top, the last level partially.
        """
        out: list[WalkResult] = []
        if not targets:
            return out
        cum = self.cum
        sign = self.sign
        goal = targets[-1] * (1.0 - FILL_TOL)
        while (not cum or sign * cum[-1] < goal) and len(cum) < len(self.keys):
            self.extend(len(cum) + 1)
        key = None if sign > 0 else neg
        for t in targets:
            if not t > 0.0:
                out.append((None, 0.0, 0))  # no trade to price (settings only allow positive notionals)
                continue
            j = bisect_left(cum, t * (1.0 - FILL_TOL), key=key)
            if j == len(cum):
                out.append((None, sign * cum[-1] if cum else 0.0, len(cum)))
                continue
            prev_q = sign * cum[j - 1] if j else 0.0
            p = sign * self.keys[j]
            out.append((sum(self.sizes[:j]) + min(t - prev_q, p * self.sizes[j]) / p, t, j + 1))
        return out


def book_mid2(book: OrderBook) -> Fraction:
    """b1 + a1 of a two-sided book, exactly, from the exchange's strings (twice the mid)."""
    b = book.bids
    a = book.asks
    kb = b.keys[0]
    ka = a.keys[0]
    return exact(b.levels[kb][1], -kb) + exact(a.levels[ka][1], ka)


def lazy(fn: Callable[[], Fraction]) -> Callable[[], Fraction]:
    """``fn`` computed at most once: the exact mid is needed only on the rare tick with a level on an edge."""
    box: list[Fraction] = []

    def get() -> Fraction:
        if not box:
            box.append(fn())
        return box[0]

    return get


# ----------------------------------------------------------------------------- what the frontends read
# The ladder's band markers: ``bb = book_bands(book, settings.metrics.depth_bands_bps)``; for each
# ``band in bb.bands``, the bid marker goes on bid row ``band.bid_levels - 1`` and the ask marker on ask
# row ``band.ask_levels - 1`` (when that row is shown, the index is >= 0, and a level follows outside the
# band, i.e. ``band.ask_levels < len(book.asks)``); the widest band wins a row. The depth chart:
# ``prices, cum = cumulative_depth(book.asks, widest.ask_levels)`` (and the same for the bids) gives
# the points up to the widest band's edge, the bps axis being ``1e4 * (p - bb.mid) / bb.mid``. The
# ladder's cumulative column: ``cumulative_depth(side, rows)[1]``.
@dataclass(frozen=True, slots=True)
class Band:
    """One depth band of one book: its exact edges and how many levels of each side it holds."""

    bps: int
    lower: Fraction  # bids at or above this price are inside: m·(1 − x/10^4)
    upper: Fraction  # asks at or below this price are inside: m·(1 + x/10^4)
    bid_levels: int  # the best ``bid_levels`` bids are inside, the rest outside
    ask_levels: int


@dataclass(frozen=True, slots=True)
class BookBands:
    """The bands of one book at one instant (see :func:`book_bands`)."""

    mid: float
    mid_exact: Fraction
    bands: tuple[Band, ...]  # ascending by bps

    def band(self, bps: int) -> Band | None:
        return next((b for b in self.bands if b.bps == bps), None)


def book_bands(book: OrderBook, bands_bps: Sequence[int]) -> BookBands | None:
    """Exact band edges and the number of levels inside each band, per side; None without a two-sided top.

    This is what the ladder's band markers use: band x ends at bid index ``bid_levels - 1`` and ask index
    ``ask_levels - 1`` (a side with ``bid_levels == len(book.bids)`` has no level beyond that band), the
    same membership the metrics and the consolidated book count. Edges are exact ``Fraction`` prices;
    ``float(edge)`` is the nearest double for display.
    """
    if not book.bids.keys or not book.asks.keys:
        return None
    bids = Ladder.of(book.bids)
    asks = Ladder.of(book.asks)
    mid = (asks.keys[0] - bids.keys[0]) / 2.0
    mid2 = lazy(lambda: book_mid2(book))
    out = []
    for x in sorted(set(bands_bps)):
        s = mid2()
        out.append(Band(x, s * (BPS - x) / (2 * BPS), s * (BPS + x) / (2 * BPS),
                        bids.inside(x, mid, mid2), asks.inside(x, mid, mid2)))
    return BookBands(mid, mid2() / 2, tuple(out))


def cumulative_depth(side: BookSide, n: int) -> tuple[list[float], list[float]]:
    """(prices, running Σ p·q) of the best ``n`` levels of ``side``, best first, both positive.

    The depth chart and the ladder's cumulative column read these: they are the prefix sums the depth
    bands are summed from, so the chart's value at a band's last level equals that band's depth (up to
    the order of float additions when the band covers the whole side).
    """
    ladder = Ladder.of(side)
    n = min(n, len(ladder))
    cum = ladder.cumulative(n)
    prices = side.keys[:n] if side._sign > 0 else [-k for k in side.keys[:n]]
    return prices, cum
