"""The metrics.md numbers (spread, depth bands, imbalance, slippage walks) over the WHOLE book.

Why it looks like this: a sample must cost well under a millisecond on a 1000+ level book, on a
core that is also parsing every venue's frames. Per-level Python loops cost ~50 ns a step per pass,
so every pass over the book here is a C-level iterator (``map``/``itertools.accumulate``/``sum``)
and every search is ``bisect`` over ``BookSide.keys`` (asks: prices; bids: negated prices, both
sorted best-first). Work is proportional to what the numbers need: depth reads levels up to the
widest band, a slippage walk reads levels in growing chunks only until the notional is filled.

Floats are fine for metrics (metrics.md); the book keeps the exact strings.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from itertools import accumulate
from operator import itemgetter, mul, neg

from lcm_tui.core.book import OrderBook
from lcm_tui.core.model import MetricSample, Slippage

BUY = "buy"
SELL = "sell"

_size_of = itemgetter(0)
Level = tuple[float, str, str]  # BookSide.levels values: (size, price string, size string)
# A walk first reads this many levels, then 4x more each round: short walks (the usual case on
# a liquid book) touch a handful of levels, an unfillable walk still costs only O(levels).
_FIRST_CHUNK = 32


class _SideView:
    """Float sizes of one side in book order, read lazily and only as far as the metrics need."""

    __slots__ = ("_total", "keys", "levels", "sign", "sizes")

    def __init__(self, keys: list[float], levels: dict[float, Level], sign: float,
                 sizes: list[float] | None = None) -> None:
        self.keys = keys  # BookSide.keys: sorted best-first, bids negated (sign -1)
        self.levels = levels
        self.sign = sign
        self.sizes: list[float] = sizes if sizes is not None else []  # sizes of the best len(sizes) levels
        self._total: float | None = None

    def need(self, n: int) -> list[float]:
        """Sizes of (at least) the best ``n`` levels; one C pass over the levels not read yet."""
        have = len(self.sizes)
        if n > have:
            self.sizes += _sizes(self.levels, self.keys[have:n])
        return self.sizes

    def ordered(self, start: int, stop: int) -> float:
        """Σ p·q over levels [start, stop) in book order, as a positive quote amount."""
        if stop <= start:
            return 0.0
        sizes = self.sizes[start:stop] if stop <= len(self.sizes) else _sizes(self.levels, self.keys[start:stop])
        return self.sign * sum(map(mul, self.keys[start:stop], sizes))

    def total(self) -> float:
        """Σ p·q over the whole side. Iterating the dict needs no hashing: half the cost of an ordered pass."""
        if self._total is None:
            levels = self.levels
            self._total = self.sign * sum(map(mul, levels, map(_size_of, levels.values())))
        return self._total

    def depths(self, idxs: Sequence[int]) -> dict[int, float]:
        """Σ p·q over the best ``idx`` levels for each idx; O(side) in total however many bands.

        A band reaching past the middle of the side is computed as total minus the levels outside it,
        so a band covering the whole book (the usual case for wide bands) costs one unordered pass.
        """
        n = len(self.keys)
        out: dict[int, float] = {}
        ordered_idxs = sorted(set(idxs))
        acc = 0.0
        pos = 0
        for idx in ordered_idxs:
            if idx <= n - idx:
                acc += self.ordered(pos, idx)
                out[idx] = acc
                pos = idx
        tail = 0.0
        pos = n
        for idx in reversed(ordered_idxs):
            if idx > n - idx:
                tail += self.ordered(idx, pos)
                out[idx] = self.total() - tail
                pos = idx
        return out


def _sizes(levels: dict[float, Level], keys: list[float]) -> list[float]:
    """Sizes for ``keys``: itemgetter(*keys) does every dict lookup in C (one key gives a bare value)."""
    if len(keys) > 1:
        return list(map(_size_of, itemgetter(*keys)(levels)))
    return [levels[k][0] for k in keys]


def _walk(view: _SideView, notional: float) -> tuple[float | None, int, float]:
    """(vwap or None if unfillable, levels touched, quote filled) for spending/receiving ``notional``."""
    if not notional > 0.0:
        return None, 0, 0.0  # no trade to price (settings only allow positive notionals)
    keys = view.keys
    sign = view.sign
    n = len(keys)
    filled_quote = 0.0
    filled_base = 0.0
    start = 0
    chunk = _FIRST_CHUNK
    while start < n:
        stop = min(n, start + chunk)
        sizes = view.need(stop)
        prices = keys[start:stop] if sign > 0 else list(map(neg, keys[start:stop]))
        # cum[i] = quote filled after the first i levels of this chunk (cum[0] = before it).
        cum = list(accumulate(map(mul, prices, sizes[start:stop]), initial=filled_quote))
        j = bisect_left(cum, notional, 1)
        if j < len(cum):
            # Level start+j-1 fills the rest, partially: its quote covers notional - cum[j-1].
            base = filled_base + sum(sizes[start:start + j - 1]) + (notional - cum[j - 1]) / prices[j - 1]
            return notional / base, start + j, notional
        filled_quote = cum[-1]
        filled_base += sum(sizes[start:stop])
        start = stop
        chunk *= 4
    return None, n, filled_quote


def _slippage(side: str, notional: float, vwap: float | None, levels: int, filled: float, mid: float) -> Slippage:
    if vwap is None:
        return Slippage(side, notional, None, None, levels, filled)
    bps = 1e4 * (vwap - mid) / mid if side == BUY else 1e4 * (mid - vwap) / mid
    return Slippage(side, notional, vwap, bps, levels, filled)


def walk(prices: Sequence[float], sizes: Sequence[float], notional: float, mid: float, side: str) -> Slippage:
    """Walk one side given as positive prices and sizes, best first (e.g. a consolidated book).

    ``side`` is ``"buy"`` (walk asks, spending ``notional`` quote) or ``"sell"`` (walk bids until
    ``notional`` quote is received); slippage is in bps against ``mid`` per metrics.md.
    """
    vwap, levels, filled = _walk(_SideView(list(prices), {}, 1.0, list(sizes)), notional)
    return _slippage(side, notional, vwap, levels, filled, mid)


def band_thresholds(mid: float, band_bps: int) -> tuple[float, float]:
    """(lowest bid price, highest ask price) inside ``band_bps`` of ``mid``.

    Computed as m·(10^4 ∓ x)/10^4 rather than m·(1 ∓ x/10^4): one rounding instead of three, so a level
    sitting exactly on a decimal band edge is counted as metrics.md says (p ≥ …, p ≤ …).
    """
    return mid * (10_000 - band_bps) / 10_000, mid * (10_000 + band_bps) / 10_000


def compute_sample(
    book: OrderBook, venue: str, symbol: str, ts_ns: int, bands_bps: Sequence[int], notionals: Sequence[float]
) -> MetricSample:
    """Every metrics.md number for ``book`` at ``ts_ns``.

    Without a two-sided top there is no mid, and every metric is defined against the mid: the sample
    then carries the best strings that exist and None/empty for everything else.
    """
    bb = book.bids.best()
    ba = book.asks.best()
    sample = MetricSample(venue, symbol, ts_ns, bb[0] if bb else None, ba[0] if ba else None, None, None)
    if bb is None or ba is None:
        return sample
    bid_keys = book.bids.keys
    ask_keys = book.asks.keys
    b1 = -bid_keys[0]
    a1 = ask_keys[0]
    mid = (a1 + b1) / 2.0
    sample.mid = mid
    sample.spread_bps = 1e4 * (a1 - b1) / mid

    bids = _SideView(bid_keys, book.bids.levels, -1.0)
    asks = _SideView(ask_keys, book.asks.levels, 1.0)
    bands = sorted(bands_bps)
    edges = [band_thresholds(mid, band) for band in bands]
    # bisect_right: bids with -p <= -lo (p >= lo), asks with p <= hi; a level on the edge is inside.
    jb = [bisect_right(bid_keys, -lo) for lo, _ in edges]
    ja = [bisect_right(ask_keys, hi) for _, hi in edges]
    bid_depth = bids.depths(jb)
    ask_depth = asks.depths(ja)
    for band, ib, ia in zip(bands, jb, ja, strict=True):
        db = bid_depth[ib]
        da = ask_depth[ia]
        sample.depth_bid[band] = db
        sample.depth_ask[band] = da
        total = db + da
        sample.imbalance[band] = (db - da) / total if total else 0.0

    slips = sample.slippage
    for n in notionals:
        vwap, levels, filled = _walk(asks, n)
        slips.append(_slippage(BUY, n, vwap, levels, filled, mid))
        vwap, levels, filled = _walk(bids, n)
        slips.append(_slippage(SELL, n, vwap, levels, filled, mid))
    return sample
