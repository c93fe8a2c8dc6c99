"""The cross-venue book of one asset: merged ladders, consolidated metrics, crossings and best execution.

Every venue side is a ``core.bands.Ladder`` converted to the reference quote, so depth bands, prefix sums
and walks are the same definition the per-venue metrics use, band edges decided exactly around the
consolidated mid (docs/metrics.md, "Consolidated book").
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence
from fractions import Fraction
from itertools import chain, repeat
from typing import TYPE_CHECKING, Any

import orjson

from lcm_tui.core.bands import Ladder, WalkResult, lazy
from lcm_tui.core.consolidated.fill import Fill, greedy_fill
from lcm_tui.core.consolidated.market import HasZ, market_signal
from lcm_tui.core.consolidated.members import Member, classify
from lcm_tui.core.consolidated.types import (
    BUY,
    REFERENCE_QUOTE,
    SELL,
    Allocation,
    ConsolidatedMetrics,
    CrossedPair,
    Excluded,
    Level,
    Source,
    Split,
)
from lcm_tui.core.metrics import slippage as _slippage
from lcm_tui.core.model import Slippage

if TYPE_CHECKING:
    from lcm_tui.core.model import SymbolState
    from lcm_tui.core.settings import Settings


class ConsolidatedBook:
    """The merged ladders of one asset's LIVE venues, in the reference quote.

    Built in O(venues) plus one copy of each side's key list (a C-level memcpy); sizes are read from the
    venues' books only as far as a walk or band reaches.
    """

    def __init__(self, asset: str, members: Sequence[Member], excluded: Sequence[Excluded] = ()) -> None:
        self.asset = asset
        self.members = list(members)
        self.excluded = list(excluded)
        self.labels = [m.label for m in self.members]
        self.fees = [m.fee for m in self.members]
        # Copies of the key lists: the heapq merge of the top levels reads them lazily.
        self.bids = [Ladder(list(m.state.book.bids.keys), m.state.book.bids.levels, -1.0, m.rate)
                     for m in self.members]
        self.asks = [Ladder(list(m.state.book.asks.keys), m.state.book.asks.levels, 1.0, m.rate)
                     for m in self.members]

    # ---- top of book
    def _side(self, side: str) -> tuple[list[Ladder], float]:
        """(ladders, sign) of the side a ``side`` order walks: buy -> asks, sell -> bids."""
        return (self.asks, 1.0) if side == BUY else (self.bids, -1.0)

    def best_bid(self) -> float | None:
        keys = [ld.keys[0] for ld in self.bids if ld.keys]
        return -min(keys) if keys else None

    def best_ask(self) -> float | None:
        keys = [ld.keys[0] for ld in self.asks if ld.keys]
        return min(keys) if keys else None

    def mid(self) -> float | None:
        """(b1 + a1) / 2 over all venues, also when they cross (see the module docstring)."""
        b, a = self.best_bid(), self.best_ask()
        return None if b is None or a is None else (a + b) / 2.0

    def best_venues(self, book_side: str) -> list[str]:
        """Labels of the venues at the consolidated best "bids" or "asks" price."""
        ladders = self.bids if book_side == "bids" else self.asks
        tops = [ld.keys[0] for ld in ladders if ld.keys]
        if not tops:
            return []
        best = min(tops)
        return [self.labels[i] for i, ld in enumerate(ladders) if ld.keys and ld.keys[0] == best]

    def sources(self) -> list[Source]:
        out = []
        for m, b, a in zip(self.members, self.bids, self.asks, strict=True):
            out.append(Source(m.label, m.state.venue, m.state.symbol, m.quote, m.rate, m.fee * 1e4,
                              -b.keys[0] if b.keys else None, a.keys[0] if a.keys else None,
                              len(b.keys), len(a.keys)))
        return out

    # ---- provenance
    def _merged(self, ladders: list[Ladder]) -> Iterator[tuple[float, int, float]]:
        """(converted key, ladder index, the book's own key) of every level, merged best first."""
        return heapq.merge(*(zip(ld.keys, repeat(i), ld.orig) for i, ld in enumerate(ladders)))

    def levels(self, book_side: str, n: int | None = None) -> list[Level]:
        """The best ``n`` consolidated levels of "bids" or "asks" (all when None), each with its venues."""
        ladders = self.bids if book_side == "bids" else self.asks
        sign = -1.0 if book_side == "bids" else 1.0
        merged = self._top(ladders, n) if n is not None and n > 0 else None
        out: list[Level] = []
        last = None
        venues: dict[str, float] = {}
        total = 0.0
        labels = self.labels
        for key, i, orig in merged if merged is not None else self._merged(ladders):
            if key != last:
                if last is not None:
                    out.append(Level(sign * last, total, venues))
                    if n is not None and len(out) >= n:
                        return out
                last, venues, total = key, {}, 0.0
            q = ladders[i].levels[orig][0]
            label = labels[i]
            venues[label] = venues.get(label, 0.0) + q
            total += q
        if last is not None and (n is None or len(out) < n):
            out.append(Level(sign * last, total, venues))
        return out

    @staticmethod
    def _top(ladders: list[Ladder], n: int) -> list[tuple[float, int, float]] | None:
        """The levels of the best ``n`` consolidated prices and a few more, merged (None: merge them all).

        Each venue's first ``n`` keys hold every level of it at or above the n-th best consolidated
        price when those keys are distinct (always, unless a conversion rounded two prices together),
        so sorting those few entries gives the same order as merging whole books; a venue whose first
        keys repeat is left to the full merge.
        """
        parts = []
        for i, ld in enumerate(ladders):
            keys = ld.keys
            cut = min(n, len(keys))
            if ld.rate != 1.0 and len(set(keys[:cut])) < cut:
                return None
            while cut < len(keys) and keys[cut] == keys[cut - 1]:
                cut += 1
            parts.append(zip(keys[:cut], repeat(i), ld.orig[:cut]))
        return sorted(chain.from_iterable(parts))

    # ---- docs/metrics.md numbers on the consolidated book
    def mid2(self) -> Fraction | None:
        """Exactly b1 + a1 of the consolidated book (twice its mid), from the venues' price strings."""
        bids = [ld.exact_price(0) for ld in self.bids if ld.keys]
        asks = [ld.exact_price(0) for ld in self.asks if ld.keys]
        return max(bids) + min(asks) if bids and asks else None

    def depth(self, bands_bps: Sequence[int], mid: float | None = None) -> tuple[dict[int, float], dict[int, float]]:
        """docs/metrics.md depth bands around the consolidated mid: each venue's p*q inside the band, summed.

        Membership is ``core.bands``' exact rule, so a level on an edge counts here exactly as it does in
        its venue's own metrics. ``mid`` defaults to the book's own (and must be it when given).
        """
        mid = self.mid() if mid is None else mid
        if mid is None:
            return {}, {}
        bands = sorted(bands_bps)
        mid2 = lazy(lambda: self.mid2() or Fraction(2 * mid))
        out = []
        for ladders in (self.bids, self.asks):
            depth = dict.fromkeys(bands, 0.0)
            for ld in ladders:
                for x, v in ld.depths(bands, mid, mid2).items():
                    depth[x] += v
            out.append(depth)
        return out[0], out[1]

    def slippage(self, side: str, notionals: Sequence[float], mid: float | None = None) -> list[Slippage]:
        """docs/metrics.md slippage of the consolidated book for each notional, vs the consolidated mid."""
        mid = self.mid() if mid is None else mid
        ladders = self._side(side)[0]
        targets = sorted(notionals)
        fills = greedy_fill(ladders, [1.0] * len(ladders), targets)
        by_n: dict[float, WalkResult] = {}
        for t, f in zip(targets, fills, strict=True):
            by_n[t] = (sum(f.base) if f.complete else None, f.filled, f.distinct)
        return [_slippage(side, n, by_n[n], mid) for n in notionals]

    def venue_slippage(self, side: str, notionals: Sequence[float],
                       mid: float | None = None) -> dict[str, list[Slippage]]:
        """The same walk on each venue alone, against the consolidated mid (comparable across venues)."""
        mid = self.mid() if mid is None else mid
        ladders = self._side(side)[0]
        targets = sorted(notionals)
        out = {}
        for label, ld in zip(self.labels, ladders, strict=True):
            by_n = dict(zip(targets, ld.walk(targets), strict=True))
            out[label] = [_slippage(side, n, by_n[n], mid) for n in notionals]
        return out

    # ---- crossing venues
    def crossed(self) -> list[CrossedPair]:
        """Every (A, B) where A's best bid is strictly above B's best ask; listed, never netted."""
        out = []
        for i, b in enumerate(self.bids):
            if not b.keys:
                continue
            bid = -b.keys[0]
            for j, a in enumerate(self.asks):
                if i == j or not a.keys or not bid > a.keys[0]:
                    continue
                ask = a.keys[0]
                mid = (bid + ask) / 2.0
                net = bid * (1.0 - self.fees[i]) - ask * (1.0 + self.fees[j])
                out.append(CrossedPair(self.labels[i], bid, self.labels[j], ask,
                                       1e4 * (bid - ask) / mid, 1e4 * net / mid))
        out.sort(key=lambda c: -c.cross_bps)
        return out

    # ---- best execution
    def split(self, side: str, notionals: Sequence[float]) -> list[Split]:
        """Best-execution splits of a ``side`` order for each notional, taker fees included.

        Cost model: at venue v a buy pays p*(1+f_v) per base and a sell receives p*(1-f_v), so every level
        is a "good" with a fixed fee-adjusted price and a capacity, and the problem (place N cash for the
        most base) is a fractional knapsack whose objective and constraints are separable and linear. The
        greedy that takes levels in order of fee-adjusted price over the merged ladder is therefore optimal:
        any allocation that leaves a better fee-adjusted level unfilled while using a worse one gains base
        by moving cash from the worse to the better one (an exchange argument), and because a venue's fee
        is a constant factor, its fee-adjusted ladder keeps its book order, so the greedy also respects
        "a venue's better levels go first". ``greedy_fill`` computes it without a per-level loop.
        """
        ladders = self._side(side)[0]
        mult = [(1.0 + f) if side == BUY else (1.0 - f) for f in self.fees]
        targets = sorted(notionals)
        by_n = dict(zip(targets, greedy_fill(ladders, mult, targets, count_distinct=False), strict=True))
        singles = self._single_all_in(side, targets, mult)
        return [self._make_split(side, n, by_n[n], mult, singles) for n in notionals]

    def _single_all_in(self, side: str, targets: Sequence[float], mult: Sequence[float]) -> list[dict[float, float]]:
        """Each venue's all-in VWAP alone for each notional it can fill.

        With a constant fee, placing N cash at venue v is placing N / (1 +/- f_v) at book prices, so one plain
        walk per venue answers it.
        """
        ladders = self._side(side)[0]
        out = []
        for ld, m in zip(ladders, mult, strict=True):
            # ``targets`` ascend, so do their gross amounts; each walk target is answered on its own.
            walks = ld.walk([n / m for n in targets])
            out.append({n: n / b for n, (b, _q, _k) in zip(targets, walks, strict=True) if b})
        return out

    def _make_split(self, side: str, notional: float, result: Fill, mult: Sequence[float],
                    singles: list[dict[float, float]]) -> Split:
        filled, cash, base, lv = result.filled, result.cash, result.base, result.levels
        allocs = []
        for i, label in enumerate(self.labels):
            if cash[i] > 0.0 and base[i] > 0.0:
                gross = cash[i] / mult[i]
                allocs.append(Allocation(label, cash[i], gross, base[i], cash[i] / notional, gross / base[i],
                                         cash[i] / base[i], self.fees[i] * 1e4, lv[i]))
        allocs.sort(key=lambda a: -a.notional)
        total_base = sum(base)
        fillable = result.complete and total_base > 0.0
        single = {label: singles[i].get(notional) for i, label in enumerate(self.labels)}
        candidates = [(v, k) for k, v in single.items() if v is not None]
        best_label = best_vw = saving = None
        note = ""
        if candidates:
            best_vw, best_label = min(candidates) if side == BUY else max(candidates)
        if not fillable:
            note = f"the LIVE venues together can fill only {filled:,.0f} of {notional:,.0f}"
        elif best_vw is None:
            note = "no single venue can fill this order alone"
        vwap_all_in = notional / total_base if fillable else None
        vwap = sum(a.gross for a in allocs) / total_base if fillable else None
        if vwap_all_in is not None and best_vw is not None:
            diff = (best_vw - vwap_all_in) if side == BUY else (vwap_all_in - best_vw)
            saving = 1e4 * diff / best_vw
        return Split(side, notional, filled, total_base, vwap, vwap_all_in, allocs, single, best_label, best_vw,
                     saving, note)


def consolidate(states: Iterable[SymbolState], settings: Settings,
                detectors: Mapping[tuple[str, str], HasZ] | None = None, *, top: int = 10,
                assets: Iterable[str] | None = None,
                split_notionals: Sequence[float] = ()) -> list[ConsolidatedMetrics]:
    """Consolidated metrics, splits for every configured notional and both sides, and top levels per asset."""
    return [consolidated_entry(asset, members, excluded, settings, detectors, top=top, split_notionals=split_notionals)
            for asset, (members, excluded) in classify(states, settings, assets).items()]


def consolidated_entry(asset: str, members: Sequence[Member], excluded: Sequence[Excluded], settings: Settings,
                       detectors: Mapping[tuple[str, str], HasZ] | None = None, *,
                       top: int = 10, split_notionals: Sequence[float] = ()) -> ConsolidatedMetrics:
    """One asset's entry of :func:`consolidate`, from its ``classify`` group (a caller that caches groups).

    ``split_notionals``: more order sizes to split (a size typed in the TUI), besides the configured ones.
    """
    notionals = list(settings.metrics.notionals)
    split_at = sorted(set(notionals) | {float(x) for x in split_notionals if x > 0})
    bands = list(settings.metrics.depth_bands_bps)
    book = ConsolidatedBook(asset, members, excluded)
    bid, ask = book.best_bid(), book.best_ask()
    mid = None if bid is None or ask is None else (bid + ask) / 2.0
    depth_bid, depth_ask = book.depth(bands, mid)
    venue_slip = book.venue_slippage(BUY, notionals, mid)
    for label, sl in book.venue_slippage(SELL, notionals, mid).items():
        venue_slip[label] = venue_slip[label] + sl
    return ConsolidatedMetrics(
        asset=asset,
        quote=REFERENCE_QUOTE,
        sources=book.sources(),
        excluded=list(excluded),
        best_bid=bid,
        best_ask=ask,
        best_bid_venues=book.best_venues("bids"),
        best_ask_venues=book.best_venues("asks"),
        mid=mid,
        spread_bps=None if mid is None or bid is None or ask is None else 1e4 * (ask - bid) / mid,
        crossed=book.crossed(),
        depth_bid=depth_bid,
        depth_ask=depth_ask,
        slippage=book.slippage(BUY, notionals, mid) + book.slippage(SELL, notionals, mid),
        venue_slippage=venue_slip,
        splits=book.split(BUY, split_at) + book.split(SELL, split_at),
        top_bids=book.levels("bids", top),
        top_asks=book.levels("asks", top),
        market=market_signal(members, detectors, settings) if detectors is not None else None,
    )


def consolidated_json(states: Iterable[SymbolState], settings: Settings,
                      detectors: Mapping[tuple[str, str], HasZ] | None = None) -> list[dict[str, Any]]:
    """Consolidated metrics as plain JSON values (dicts, lists, str keys), one dict per asset.

    The dataclasses serialise themselves (orjson, as ``frontends.jsonout`` prints them); this is the same
    form read back, for callers that want plain data rather than text.
    """
    data = orjson.dumps(consolidate(states, settings, detectors), option=orjson.OPT_NON_STR_KEYS)
    out: list[dict[str, Any]] = orjson.loads(data)
    return out
