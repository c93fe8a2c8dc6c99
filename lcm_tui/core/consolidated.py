"""One book per asset across venues: where the liquidity is, what a market order would cost, how to split it.

Why it is built this way:

* Venues quote in different currencies (USD, USDT, USDC, ...). Every price is converted to one reference
  unit with ``consolidated.quote_rates`` (value of one unit of that quote; USD-equivalent by default) so
  the ladders can be merged. A quote with no rate cannot be compared, so that venue is left out and the
  result says so instead of silently mixing currencies.
* Only LIVE streams take part. A book that is resyncing, stale or down is either empty or wrong, and a
  venue outage must never look like liquidity leaving the market; excluded venues are listed with why.
* The venues' books are already sorted best-first (``BookSide.keys``), so consolidation never re-sorts
  a whole book and never steps through levels in Python: each venue side gets prefix sums of p*q built
  on demand by C-level ``accumulate``, depth in bands is a ``bisect`` into them, and a walk across venues
  is a water-filling search (``_fill``) over those prefix sums. Only the few top levels shown with their
  venues are merged entry by entry (``heapq.merge``). A tick costs what the walks and bands reach.
* Levels are merged, never netted: a price quoted by two venues is one consolidated level that remembers
  each venue's size, and venues that cross each other are reported as pairs (an arbitrage or a broken
  feed is information, not noise to cancel out).

The consolidated mid is (best consolidated bid + best consolidated ask) / 2 — the same formula as
metrics.md — also when venues cross: then the best bid is above the best ask, ``spread_bps`` is negative
and a small buy can fill below the mid (negative slippage), which is exactly the arbitrage on offer.
Single-venue slippage shown next to the consolidated one is measured against this same consolidated mid,
so the numbers rank venues by what an order would really cost; metrics.md's own-mid slippage per venue
is what the per-venue panels show.

Nothing here does I/O or imports asyncio or Textual. A ``ConsolidatedBook`` reads sizes from the live
books when it walks them: use it within one synchronous step (``consolidate`` returns plain data).
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, chain, repeat
from operator import itemgetter, mul, ne, neg
from typing import TYPE_CHECKING, Any, Protocol

from lcm_tui.core.model import Alert, Severity, Slippage, StreamStatus
from lcm_tui.core.symbols import parse_symbol

if TYPE_CHECKING:
    from lcm_tui.core.model import SymbolState
    from lcm_tui.core.settings import Settings

BUY = "buy"
SELL = "sell"
# The unit every consolidated price and notional is expressed in (what quote_rates convert to).
REFERENCE_QUOTE = "USD"
MARKET_VENUE = "market"
MARKET_DEPTH_SIGNAL = "market:depth"

# A walk whose remaining amount is below this fraction of its notional is filled: summing p*q in float
# must not turn an exactly-fillable order into an "unfillable" one.
_FILL_TOL = 1e-12
_size_of = itemgetter(0)


class HasZ(Protocol):
    """What the crunch signal reads from CORE's ``Detector``: the current z per signal."""

    z: Mapping[str, float | None]


# ----------------------------------------------------------------------------- plain results
@dataclass(slots=True, frozen=True)
class Source:
    """A venue+symbol that is part of the consolidated book, with its conversion and fee."""

    label: str  # the venue, or "venue:symbol" when one venue lists the asset twice
    venue: str
    symbol: str
    quote: str
    rate: float
    taker_fee_bps: float
    best_bid: float | None  # in the reference quote
    best_ask: float | None
    bid_levels: int
    ask_levels: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label, "venue": self.venue, "symbol": self.symbol, "quote": self.quote,
            "rate": self.rate, "taker_fee_bps": self.taker_fee_bps, "best_bid": self.best_bid,
            "best_ask": self.best_ask, "bid_levels": self.bid_levels, "ask_levels": self.ask_levels,
        }


@dataclass(slots=True, frozen=True)
class Excluded:
    venue: str
    symbol: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"venue": self.venue, "symbol": self.symbol, "reason": self.reason}


@dataclass(slots=True, frozen=True)
class Level:
    """One consolidated price level and where its size comes from."""

    price: float
    size: float
    venues: dict[str, float]  # source label -> size at this price

    def as_dict(self) -> dict[str, Any]:
        return {"price": self.price, "size": self.size, "venues": dict(self.venues)}


@dataclass(slots=True, frozen=True)
class CrossedPair:
    """One venue's best bid above another's best ask (in the reference quote)."""

    bid_venue: str
    bid_price: float
    ask_venue: str
    ask_price: float
    cross_bps: float  # 10^4 (bid - ask) / ((bid + ask) / 2)
    net_bps: float  # the same after both taker fees: sell at bid*(1-f_bid), buy at ask*(1+f_ask)

    def as_dict(self) -> dict[str, Any]:
        return {
            "bid_venue": self.bid_venue, "bid_price": self.bid_price, "ask_venue": self.ask_venue,
            "ask_price": self.ask_price, "cross_bps": self.cross_bps, "net_bps": self.net_bps,
        }


@dataclass(slots=True, frozen=True)
class Allocation:
    """One venue's part of a best-execution split.

    ``notional`` is the cash that leaves (buy) or arrives (sell) at this venue including its taker fee;
    ``gross`` is the same at book prices before the fee.
    """

    venue: str
    notional: float
    gross: float
    base: float
    share: float  # notional / the split's notional
    vwap: float  # gross / base: the venue's book VWAP, excluding the fee
    vwap_all_in: float  # notional / base: including the fee
    taker_fee_bps: float
    levels: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "venue": self.venue, "notional": self.notional, "gross": self.gross, "base": self.base,
            "share": self.share, "vwap": self.vwap, "vwap_all_in": self.vwap_all_in,
            "taker_fee_bps": self.taker_fee_bps, "levels": self.levels,
        }


@dataclass(slots=True, frozen=True)
class Split:
    """Best execution of a market order of ``notional`` (fees included) across the LIVE venues.

    A buy spends ``notional`` in total, fees included, and gets as much base as possible; a sell receives
    ``notional`` net of fees for as little base as possible. ``vwap_all_in`` is notional / base either way,
    so "lower is better" for a buy and "higher is better" for a sell, and ``saving_bps`` (>= 0) compares it
    with the best venue that could fill the whole order alone.
    """

    side: str
    notional: float
    filled: float  # cash placed, fees included (== notional when fillable)
    base: float
    vwap: float | None  # excluding fees; None when unfillable
    vwap_all_in: float | None
    allocations: list[Allocation]
    single_venue: dict[str, float | None]  # each venue's all-in VWAP alone; None when it cannot fill
    best_single_venue: str | None
    best_single_vwap_all_in: float | None
    saving_bps: float | None
    note: str = ""

    @property
    def fillable(self) -> bool:
        return self.vwap_all_in is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "side": self.side, "notional": self.notional, "filled": self.filled, "base": self.base,
            "vwap": self.vwap, "vwap_all_in": self.vwap_all_in,
            "allocations": [a.as_dict() for a in self.allocations],
            "single_venue": dict(self.single_venue), "best_single_venue": self.best_single_venue,
            "best_single_vwap_all_in": self.best_single_vwap_all_in, "saving_bps": self.saving_bps,
            "note": self.note,
        }


@dataclass(slots=True, frozen=True)
class MarketSignal:
    """How many LIVE venues of one asset are draining depth at the same sample."""

    live: int  # LIVE venues that take part
    required: int  # draining venues needed to fire: max(min_venues, ceil(min_fraction * live))
    draining: dict[str, float]  # label -> depth z, for venues with depth z <= -open_z
    z: dict[str, float | None]  # label -> depth z of every LIVE venue (None before warm-up)
    breadth_z: float | None  # the required-th most negative depth z: "at least `required` venues are this bad"
    firing: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "live": self.live, "required": self.required, "draining": dict(self.draining), "z": dict(self.z),
            "breadth_z": self.breadth_z, "firing": self.firing,
        }


@dataclass(slots=True)
class ConsolidatedMetrics:
    """Everything the consolidated view, ``--json`` and ``--headless`` show for one asset."""

    asset: str
    quote: str
    sources: list[Source]
    excluded: list[Excluded]
    best_bid: float | None
    best_ask: float | None
    best_bid_venues: list[str]
    best_ask_venues: list[str]
    mid: float | None
    spread_bps: float | None  # negative when venues cross
    crossed: list[CrossedPair]
    depth_bid: dict[int, float] = field(default_factory=dict)
    depth_ask: dict[int, float] = field(default_factory=dict)
    slippage: list[Slippage] = field(default_factory=list)
    venue_slippage: dict[str, list[Slippage]] = field(default_factory=dict)  # vs the consolidated mid
    splits: list[Split] = field(default_factory=list)
    top_bids: list[Level] = field(default_factory=list)
    top_asks: list[Level] = field(default_factory=list)
    market: MarketSignal | None = None

    def split(self, side: str, notional: float) -> Split | None:
        for s in self.splits:
            if s.side == side and s.notional == notional:
                return s
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "asset": self.asset,
            "quote": self.quote,
            "sources": [s.as_dict() for s in self.sources],
            "excluded": [e.as_dict() for e in self.excluded],
            "best_bid": self.best_bid,
            "best_ask": self.best_ask,
            "best_bid_venues": list(self.best_bid_venues),
            "best_ask_venues": list(self.best_ask_venues),
            "mid": self.mid,
            "spread_bps": self.spread_bps,
            "crossed": [c.as_dict() for c in self.crossed],
            "depth_bid": {str(k): v for k, v in self.depth_bid.items()},
            "depth_ask": {str(k): v for k, v in self.depth_ask.items()},
            "slippage": [s.as_dict() for s in self.slippage],
            "venue_slippage": {k: [s.as_dict() for s in v] for k, v in self.venue_slippage.items()},
            "splits": [s.as_dict() for s in self.splits],
            "top_bids": [lv.as_dict() for lv in self.top_bids],
            "top_asks": [lv.as_dict() for lv in self.top_asks],
            "market": self.market.as_dict() if self.market else None,
        }


# ----------------------------------------------------------------------------- grouping
@dataclass(slots=True)
class Member:
    """A LIVE, convertible venue+symbol of an asset, before its ladders are built."""

    label: str
    state: SymbolState
    quote: str
    rate: float
    fee: float  # taker fee as a fraction (10 bps -> 0.001)


def _sort_key(st: SymbolState, order: Mapping[str, int]) -> tuple[int, str, str]:
    return (order.get(st.venue, len(order)), st.venue, st.symbol)


def classify(states: Iterable[SymbolState], settings: Settings,
             assets: Iterable[str] | None = None) -> dict[str, tuple[list[Member], list[Excluded]]]:
    """Group states by base asset and decide who takes part; the excluded ones carry the reason.

    Assets come out sorted by name and members in venue order (the order of ``settings.venues``), so
    output never depends on the order the feeds happened to start in.
    """
    rates = settings.consolidated.quote_rates
    wanted = {a.upper() for a in assets} if assets is not None else None
    groups: dict[str, tuple[list[Member], list[Excluded]]] = {}
    seen: set[tuple[str, str]] = set()
    order = settings.venue_order()
    for st in sorted(states, key=lambda st: _sort_key(st, order)):
        if st.key in seen:
            continue
        seen.add(st.key)
        base, quote = parse_symbol(st.venue, st.symbol)
        if wanted is not None and base not in wanted:
            continue
        members, excluded = groups.setdefault(base, ([], []))
        parts = st.symbol.replace("/", "-").split("-")
        if st.status is not StreamStatus.LIVE:
            detail = f": {st.status_detail}" if st.status_detail else ""
            excluded.append(Excluded(st.venue, st.symbol, f"{st.status.value}{detail}"))
        elif len(parts) > 2:
            # OKX BTC-USDT-SWAP and dated futures quote sizes in contracts, not in the base asset.
            excluded.append(Excluded(st.venue, st.symbol, "derivative contract: sizes are contracts, not base units"))
        elif not quote or quote not in rates:
            excluded.append(Excluded(st.venue, st.symbol,
                                     f"quote {quote or '?'} has no rate in consolidated.quote_rates"))
        elif st.book.is_empty():
            excluded.append(Excluded(st.venue, st.symbol, "book empty"))
        else:
            fee = settings.venue(st.venue).taker_fee_bps / 1e4
            members.append(Member(st.venue, st, quote, rates[quote], fee))
    for members, _ in groups.values():
        counts: dict[str, int] = {}
        for m in members:
            counts[m.state.venue] = counts.get(m.state.venue, 0) + 1
        for m in members:
            if counts[m.state.venue] > 1:
                m.label = f"{m.state.venue}:{m.state.symbol}"
    return dict(sorted(groups.items()))


# ----------------------------------------------------------------------------- ladders and walks
# (base filled, quote filled, distinct levels touched) per target; base is None when unfillable
_WalkResult = tuple[float | None, float, int]


class _Ladder:
    """One venue's side in the reference quote: ``keys`` sorted best-first (bids negated, like BookSide).

    Prefix sums of p*q grow on demand (C-level ``accumulate``, doubling), so a single-venue walk costs a
    ``bisect`` plus C-level work for the levels it reaches, never a Python step per level. They are kept
    signed like the keys (negative on the bid side) to spare a negation pass.
    """

    __slots__ = ("_total", "cum", "keys", "levels", "orig", "rate", "sign", "sizes")

    def __init__(self, keys: list[float], levels: dict[float, tuple[float, str, str]], rate: float,
                 sign: float) -> None:
        self.orig = list(keys)  # the book's own keys: how to find a level's size
        self.keys = self.orig if rate == 1.0 else list(map(mul, self.orig, repeat(rate)))
        self.levels = levels
        self.rate = rate
        self.sign = sign
        self.sizes: list[float] = []
        self.cum: list[float] = []  # signed cumulative key * size
        self._total: float | None = None

    def entries(self, i: int) -> Iterator[tuple[float, int, float]]:
        return zip(self.keys, repeat(i), self.orig)

    def _sizes_of(self, lo: int, hi: int | None = None) -> list[float]:
        """Sizes of levels [lo, hi): ``itemgetter(*keys)`` does every dict lookup in one C call."""
        keys = self.orig[lo:hi]
        if len(keys) > 1:
            return list(map(_size_of, itemgetter(*keys)(self.levels)))
        return [self.levels[k][0] for k in keys]

    def extend(self, upto: int) -> None:
        """Grow the prefix sums to at least the best ``upto`` levels (at least doubling)."""
        have = len(self.cum)
        if upto <= have or have == len(self.keys):
            return
        upto = min(len(self.keys), max(upto, 2 * have, 16))
        sizes = self._sizes_of(have, upto)
        self.sizes += sizes
        cum = accumulate(map(mul, self.keys[have:upto], sizes), initial=self.cum[-1] if have else 0.0)
        next(cum)
        self.cum.extend(cum)

    def quote_within(self, n: int) -> float:
        """Sum of p*q over the best ``n`` levels.

        When most of the side is wanted (the 200 bps band often covers a whole book) it is the side's
        total, from one pass over the level dict in storage order (no hashing), minus the few levels beyond.
        """
        if n <= 0:
            return 0.0
        if n <= len(self.cum) or 2 * n <= len(self.keys):
            self.extend(n)
            return self.sign * self.cum[n - 1]
        if self._total is None:
            self._total = self.rate * sum(map(mul, self.levels.keys(), map(_size_of, self.levels.values())))
        return self.sign * (self._total - sum(map(mul, self.keys[n:], self._sizes_of(n))))

    def walk(self, targets: Sequence[float]) -> list[_WalkResult]:
        """metrics.md walks of this ladder alone for each target (sorted ascending): one ``bisect`` each."""
        out: list[_WalkResult] = []
        if not targets:
            return out
        cum = self.cum
        sign = self.sign
        goal = targets[-1] * (1.0 - _FILL_TOL)
        while (not cum or sign * cum[-1] < goal) and len(cum) < len(self.keys):
            self.extend(len(cum) + 1)
        key = None if sign > 0 else neg
        for t in targets:
            j = bisect_left(cum, t * (1.0 - _FILL_TOL), key=key)
            if j == len(cum):
                out.append((None, sign * cum[-1] if cum else 0.0, len(cum)))
                continue
            prev_q = sign * cum[j - 1] if j else 0.0
            p = sign * self.keys[j]
            out.append((sum(self.sizes[:j]) + min(t - prev_q, p * self.sizes[j]) / p, t, j + 1))
        return out


@dataclass(slots=True)
class _Fill:
    """A greedy fill over merged ladders: per venue cash (at adjusted prices), base and levels touched."""

    filled: float
    cash: list[float]
    base: list[float]
    levels: list[int]
    distinct: int  # distinct adjusted prices touched across all venues
    complete: bool


def _fill(ladders: Sequence[_Ladder], mults: Sequence[float], targets: Sequence[float]) -> list[_Fill]:
    """Greedy fill of each target (sorted ascending) over the venues' ladders merged by adjusted price.

    The adjusted price of a level is ``mult * price`` (1 for the plain consolidated walk, 1 +/- fee for
    the split). Instead of popping levels one by one this fills like water: for a target N it takes in
    full every level better than the threshold λ*, and the level(s) at λ* in part, where λ* is the best
    adjusted price at which the cumulative cash F(λ) reaches N. F is a sum of per-venue prefix sums
    (a ``bisect`` each), so λ* is found by galloping over prefix lengths and then bisecting over the
    candidate prices: O(venues · log² levels) Python steps however deep the order goes. Ties at λ* fill
    in venue order, as a level-by-level merge would.
    """
    if not targets:
        return []
    sign = ladders[0].sign if ladders else 1.0
    goal = targets[-1] * (1.0 - _FILL_TOL)
    scale = [c * sign for c in mults]  # adjusted cash of a level = scale * key * size
    cums = [ld.cum for ld in ladders]  # grown in place by extend()
    adj: list[list[float]] = [[] for _ in ladders]  # adjusted keys of the prefix considered so far

    def cash_within(v: int, k: int) -> float:
        return scale[v] * cums[v][k - 1] if k else 0.0

    def cash_at(lam: float) -> float:
        total = 0.0
        for a, cum, sc in zip(adj, cums, scale, strict=True):
            k = bisect_right(a, lam)
            if k:
                total += sc * cum[k - 1]
        return total

    m = 4
    while True:
        m *= 2
        for ld, a, c in zip(ladders, adj, mults, strict=True):
            ld.extend(m)
            more = ld.keys[len(a):m]
            a.extend(more if c == 1.0 else map(mul, more, repeat(c)))
        # Past this price some venue may hold levels beyond the prefix: the bound must stay below it.
        frontier = [a[-1] for ld, a in zip(ladders, adj, strict=True) if len(ld.keys) > m]
        if not frontier:
            bound = math.inf
            break
        bound = min(frontier)
        if cash_at(bound) >= goal:
            break
    # Sorting already-sorted runs is a C-level merge; duplicates (venues quoting the same price) stay in.
    candidates = sorted(chain.from_iterable(a[: bisect_right(a, bound)] for a in adj))
    out = []
    for t in targets:
        g = t * (1.0 - _FILL_TOL)
        idx = bisect_left(candidates, True, key=lambda lam, g=g: cash_at(lam) >= g)
        complete = idx < len(candidates)
        lam = candidates[idx] if complete else math.inf
        counts = [bisect_left(a, lam) for a in adj]
        cash = [cash_within(v, k) for v, k in enumerate(counts)]
        base = [sum(ld.sizes[:k]) for ld, k in zip(ladders, counts, strict=True)]
        levels = list(counts)
        if complete:
            rest = t - sum(cash)
            for v, (a, k) in enumerate(zip(adj, counts, strict=True)):
                if rest <= t * _FILL_TOL:
                    break
                if k < len(a) and a[k] == lam:
                    price = sign * lam
                    take = min(rest, price * ladders[v].sizes[k])
                    cash[v] += take
                    base[v] += take / price
                    levels[v] += 1
                    rest -= take
        # Distinct prices up to λ* (inclusive): 1 + the number of steps in the sorted candidates.
        upto = idx + 1 if complete else len(candidates)
        distinct = 1 + sum(map(ne, candidates[1:upto], candidates[: upto - 1])) if upto else 0
        out.append(_Fill(t if complete else sum(cash), cash, base, levels, distinct, complete))
    return out


def _slippage(side: str, notional: float, res: _WalkResult, mid: float | None) -> Slippage:
    base, filled, levels = res
    if base is None or base <= 0.0:
        return Slippage(side, notional, None, None, levels, filled)
    vwap = notional / base
    bps = None
    if mid:
        bps = 1e4 * ((vwap - mid) if side == BUY else (mid - vwap)) / mid
    return Slippage(side, notional, vwap, bps, levels, notional)


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
        self.bids = [_Ladder(m.state.book.bids.keys, m.state.book.bids.levels, m.rate, -1.0) for m in self.members]
        self.asks = [_Ladder(m.state.book.asks.keys, m.state.book.asks.levels, m.rate, 1.0) for m in self.members]

    # ---- top of book
    def _side(self, side: str) -> tuple[list[_Ladder], float]:
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
    def _merged(self, ladders: list[_Ladder]) -> Iterator[tuple[float, int, float]]:
        return heapq.merge(*(ld.entries(i) for i, ld in enumerate(ladders)))

    def levels(self, book_side: str, n: int | None = None) -> list[Level]:
        """The best ``n`` consolidated levels of "bids" or "asks" (all when None), each with its venues."""
        ladders = self.bids if book_side == "bids" else self.asks
        sign = -1.0 if book_side == "bids" else 1.0
        out: list[Level] = []
        last = None
        venues: dict[str, float] = {}
        total = 0.0
        for key, i, orig in self._merged(ladders):
            if key != last:
                if last is not None:
                    out.append(Level(sign * last, total, venues))
                    if n is not None and len(out) >= n:
                        return out
                last, venues, total = key, {}, 0.0
            q = ladders[i].levels[orig][0]
            label = self.labels[i]
            venues[label] = venues.get(label, 0.0) + q
            total += q
        if last is not None and (n is None or len(out) < n):
            out.append(Level(sign * last, total, venues))
        return out

    # ---- metrics.md numbers on the consolidated book
    def depth(self, bands_bps: Sequence[int], mid: float | None = None) -> tuple[dict[int, float], dict[int, float]]:
        """metrics.md depth bands around the consolidated mid: the sum of each venue's p*q inside the band."""
        mid = self.mid() if mid is None else mid
        if mid is None:
            return {}, {}
        bands = sorted(bands_bps)
        out = []
        for ladders, sign in ((self.bids, -1.0), (self.asks, 1.0)):
            # Bids: p >= m(1 - x) <=> key = -p <= -m(1 - x). Asks: key = p <= m(1 + x).
            limits = [sign * mid * (1.0 + sign * x / 1e4) for x in bands]
            depth = dict.fromkeys(bands, 0.0)
            for ld in ladders:
                ends = [bisect_right(ld.keys, lim) for lim in limits]
                if not ends[-1]:
                    continue
                for x, e in zip(bands, ends, strict=True):
                    depth[x] += ld.quote_within(e)
            out.append(depth)
        return out[0], out[1]

    def slippage(self, side: str, notionals: Sequence[float], mid: float | None = None) -> list[Slippage]:
        """metrics.md slippage of the consolidated book for each notional, vs the consolidated mid."""
        mid = self.mid() if mid is None else mid
        ladders = self._side(side)[0]
        targets = sorted(notionals)
        fills = _fill(ladders, [1.0] * len(ladders), targets)
        by_n: dict[float, _WalkResult] = {}
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
        "a venue's better levels go first". ``_fill`` computes that greedy fill without a per-level loop.
        """
        ladders = self._side(side)[0]
        mult = [(1.0 + f) if side == BUY else (1.0 - f) for f in self.fees]
        targets = sorted(notionals)
        by_n = dict(zip(targets, _fill(ladders, mult, targets), strict=True))
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
            gross = sorted({n / m for n in targets})
            res = dict(zip(gross, ld.walk(gross), strict=True))
            vw = {}
            for n in targets:
                b = res[n / m][0]
                if b:
                    vw[n] = n / b
            out.append(vw)
        return out

    def _make_split(self, side: str, notional: float, fill: _Fill, mult: Sequence[float],
                    singles: list[dict[float, float]]) -> Split:
        filled, cash, base, lv = fill.filled, fill.cash, fill.base, fill.levels
        allocs = []
        for i, label in enumerate(self.labels):
            if cash[i] > 0.0 and base[i] > 0.0:
                gross = cash[i] / mult[i]
                allocs.append(Allocation(label, cash[i], gross, base[i], cash[i] / notional, gross / base[i],
                                         cash[i] / base[i], self.fees[i] * 1e4, lv[i]))
        allocs.sort(key=lambda a: -a.notional)
        total_base = sum(base)
        fillable = fill.complete and total_base > 0.0
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


# ----------------------------------------------------------------------------- market-wide crunch
def market_signal(members: Sequence[Member], detectors: Mapping[tuple[str, str], HasZ], settings: Settings,
                  threshold_z: float | None = None) -> MarketSignal:
    """Depth draining on several LIVE venues of one asset at the same sample.

    Only LIVE venues count, in the numerator and the denominator: a venue that drops out is excluded
    (and listed by the caller), so one venue's outage can neither fire the signal nor dilute it.
    """
    cfg = settings.consolidated
    thr = settings.detector.open_z if threshold_z is None else threshold_z
    zs: dict[str, float | None] = {}
    for m in members:
        det = detectors.get(m.state.key)
        zs[m.label] = det.z.get("depth") if det is not None else None
    live = len(members)
    required = max(cfg.market_min_venues, math.ceil(cfg.market_min_fraction * live - 1e-9))
    draining = {k: z for k, z in zs.items() if z is not None and z <= -thr}
    firing = live >= required and len(draining) >= required
    breadth = sorted(draining.values())[required - 1] if len(draining) >= required else None
    return MarketSignal(live, required, draining, zs, breadth, firing)


class MarketCrunchDetector:
    """Opens a ``market:depth`` alert per asset when depth drains on several LIVE venues at once.

    Call ``update`` once per sample clock tick, right after ``Monitor.sample``, so every detector's z is
    from the same sample. Same discipline as the per-venue detector: it opens after ``consecutive``
    samples that fire, and closes only when fewer than the required venues stay below ``-close_z``
    (hysteresis), so one noisy tick neither opens nor flaps it.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.open_alerts: dict[str, Alert] = {}
        self.signals: dict[str, MarketSignal] = {}
        self._streak: dict[str, int] = {}

    def update(self, states: Iterable[SymbolState], detectors: Mapping[tuple[str, str], HasZ],
               t_ns: int) -> tuple[list[Alert], list[Alert]]:
        d = self.settings.detector
        opened: list[Alert] = []
        closed: list[Alert] = []
        groups = classify(states, self.settings)
        for asset, (members, _excluded) in groups.items():
            sig = market_signal(members, detectors, self.settings)
            self.signals[asset] = sig
            alert = self.open_alerts.get(asset)
            if alert is None:
                self._streak[asset] = self._streak.get(asset, 0) + 1 if sig.firing else 0
                if self._streak[asset] >= d.consecutive and sig.breadth_z is not None:
                    alert = Alert(MARKET_VENUE, asset, MARKET_DEPTH_SIGNAL, t_ns, sig.breadth_z,
                                  _severity(sig.breadth_z, self.settings))
                    self.open_alerts[asset] = alert
                    opened.append(alert)
                continue
            holding = market_signal(members, detectors, self.settings, threshold_z=d.close_z)
            if holding.firing and holding.breadth_z is not None:
                if sig.breadth_z is not None and sig.breadth_z < alert.peak_z:
                    alert.peak_z = sig.breadth_z
                    alert.severity = _severity(alert.peak_z, self.settings)
            else:
                alert.closed_ns = t_ns
                del self.open_alerts[asset]
                self._streak[asset] = 0
                closed.append(alert)
        for asset in [a for a in self.open_alerts if a not in groups]:
            alert = self.open_alerts.pop(asset)
            alert.closed_ns = t_ns
            closed.append(alert)
        return opened, closed


def _severity(z: float, settings: Settings) -> Severity:
    d = settings.detector
    a = abs(z)
    if a >= d.critical_z:
        return Severity.CRITICAL
    if a >= d.high_z:
        return Severity.HIGH
    return Severity.WARNING


# ----------------------------------------------------------------------------- entry points
def consolidate(states: Iterable[SymbolState], settings: Settings,
                detectors: Mapping[tuple[str, str], HasZ] | None = None, *, top: int = 10,
                assets: Iterable[str] | None = None) -> list[ConsolidatedMetrics]:
    """Consolidated metrics, splits for every configured notional and both sides, and top levels per asset."""
    notionals = list(settings.metrics.notionals)
    bands = list(settings.metrics.depth_bands_bps)
    out = []
    for asset, (members, excluded) in classify(states, settings, assets).items():
        book = ConsolidatedBook(asset, members, excluded)
        bid, ask = book.best_bid(), book.best_ask()
        mid = None if bid is None or ask is None else (bid + ask) / 2.0
        depth_bid, depth_ask = book.depth(bands, mid)
        venue_slip = book.venue_slippage(BUY, notionals, mid)
        for label, sl in book.venue_slippage(SELL, notionals, mid).items():
            venue_slip[label] = venue_slip[label] + sl
        out.append(ConsolidatedMetrics(
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
            splits=book.split(BUY, notionals) + book.split(SELL, notionals),
            top_bids=book.levels("bids", top),
            top_asks=book.levels("asks", top),
            market=market_signal(members, detectors, settings) if detectors is not None else None,
        ))
    return out


def consolidated_json(states: Iterable[SymbolState], settings: Settings,
                      detectors: Mapping[tuple[str, str], HasZ] | None = None) -> list[dict[str, Any]]:
    """JSON-ready consolidated metrics, one dict per asset, for ``--json`` and ``--headless``."""
    return [m.as_dict() for m in consolidate(states, settings, detectors)]
