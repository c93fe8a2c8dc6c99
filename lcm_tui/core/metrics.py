"""The per-venue numbers of docs/metrics.md (spread, depth bands, imbalance, slippage walks) over the WHOLE book.

Why it looks like this: a sample must cost well under a millisecond on a 1000+ level book, on a core
that is also parsing every venue's frames. Per-level Python loops cost ~50 ns a step per pass, so every
pass over the book is a C-level iterator and every search a ``bisect``; both live in ``core.bands``,
the one definition of band edges, prefix sums and the walk that the consolidated book and the
frontends share. Work is proportional to what the numbers need: depth reads levels up to the widest
band, a walk reads levels only until its notional is filled, and the two share one tick's prefix sums.

Floats are fine for the sums (docs/metrics.md, "Floating point"); which level is inside a band is
decided exactly, and the book keeps the exact strings.
"""

from __future__ import annotations

from collections.abc import Sequence

from lcm_tui.core import bands as _bands
from lcm_tui.core.bands import BUY, SELL, Ladder, WalkResult, book_mid2, lazy
from lcm_tui.core.book import OrderBook
from lcm_tui.core.model import MetricSample, Slippage

__all__ = ["BUY", "SELL", "compute_sample", "slippage", "walk"]


def slippage(side: str, notional: float, res: WalkResult, mid: float | None) -> Slippage:
    """A walk's result as docs/metrics.md slippage: bps of the VWAP against ``mid`` (None if unfillable)."""
    base, filled, levels = res
    if base is None or not base > 0.0:
        return Slippage(side, notional, None, None, levels, filled)
    vwap = notional / base
    bps = None
    if mid:
        bps = 1e4 * ((vwap - mid) if side == BUY else (mid - vwap)) / mid
    return Slippage(side, notional, vwap, bps, levels, notional)


def walk(prices: Sequence[float], sizes: Sequence[float], notional: float, mid: float, side: str) -> Slippage:
    """Walk one side given as positive prices and sizes, best first (e.g. a merged ladder).

    ``side`` is ``"buy"`` (walk asks, spending ``notional`` quote) or ``"sell"`` (walk bids until
    ``notional`` quote is received); slippage is in bps against ``mid`` (docs/metrics.md).
    """
    ladder = Ladder.of_lists(prices, sizes)
    return slippage(side, notional, ladder.walk([notional])[0], mid)


def compute_sample(
    book: OrderBook, venue: str, symbol: str, ts_ns: int, bands_bps: Sequence[int], notionals: Sequence[float]
) -> MetricSample:
    """Every docs/metrics.md number for ``book`` at ``ts_ns``.

    Without a two-sided top there is no mid, and every metric is defined against the mid: the sample
    then carries the best strings that exist and None/empty for everything else.
    """
    bb = book.bids.best()
    ba = book.asks.best()
    sample = MetricSample(venue, symbol, ts_ns, bb[0] if bb else None, ba[0] if ba else None, None, None)
    if bb is None or ba is None:
        return sample
    bk = book.bids.keys
    ak = book.asks.keys
    b1 = -bk[0]
    a1 = ak[0]
    mid = (a1 + b1) / 2.0
    sample.mid = mid
    sample.spread_bps = 1e4 * (a1 - b1) / mid
    bands = sorted(bands_bps)
    targets = sorted(set(notionals))

    fast = _bands._fast_side
    got_b = fast(book.bids.levels, bk, -1.0, mid, bands, targets) if fast is not None else None
    got_a = fast(book.asks.levels, ak, 1.0, mid, bands, targets) if got_b is not None and fast is not None else None
    if got_b is not None and got_a is not None:
        depth_bid = dict(zip(bands, got_b[0], strict=True))
        depth_ask = dict(zip(bands, got_a[0], strict=True))
        sells = dict(zip(targets, got_b[1], strict=True))
        buys = dict(zip(targets, got_a[1], strict=True))
    else:  # no C extension, or a level near a band edge: the exact path
        bids = Ladder.of(book.bids)
        asks = Ladder.of(book.asks)
        mid2 = lazy(lambda: book_mid2(book))
        depth_bid = bids.depths(bands, mid, mid2)
        depth_ask = asks.depths(bands, mid, mid2)
        buys = dict(zip(targets, asks.walk(targets), strict=True))
        sells = dict(zip(targets, bids.walk(targets), strict=True))
    imbalance = sample.imbalance
    for band in bands:
        db = depth_bid[band]
        da = depth_ask[band]
        total = db + da
        imbalance[band] = (db - da) / total if total else 0.0
    sample.depth_bid = {band: depth_bid[band] for band in bands}
    sample.depth_ask = {band: depth_ask[band] for band in bands}

    slips = sample.slippage
    for n in notionals:
        slips.append(slippage(BUY, n, buys[n], mid))
        slips.append(slippage(SELL, n, sells[n], mid))
    return sample
