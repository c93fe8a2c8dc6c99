"""The plain results of the consolidated book: what the consolidated view, ``--json`` and ``--headless`` read.

They hold data only: JSON output serialises the dataclasses themselves (field names are the keys, see
``frontends.jsonout``); docs/metrics.md ("Consolidated book") defines the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lcm_tui.core.bands import BUY, SELL
from lcm_tui.core.detector import MARKET_DEPTH_SIGNAL
from lcm_tui.core.model import Slippage

__all__ = ["BUY", "MARKET_DEPTH_SIGNAL", "MARKET_VENUE", "REFERENCE_QUOTE", "SELL"]

# The unit every consolidated price and notional is expressed in (what quote_rates convert to).
REFERENCE_QUOTE = "USD"
MARKET_VENUE = "market"  # the venue of the market-wide alerts (signal ``MARKET_DEPTH_SIGNAL``)


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


@dataclass(slots=True, frozen=True)
class Excluded:
    venue: str
    symbol: str
    reason: str


@dataclass(slots=True, frozen=True)
class Level:
    """One consolidated price level and where its size comes from."""

    price: float
    size: float
    venues: dict[str, float]  # source label -> size at this price


@dataclass(slots=True, frozen=True)
class CrossedPair:
    """One venue's best bid above another's best ask (in the reference quote)."""

    bid_venue: str
    bid_price: float
    ask_venue: str
    ask_price: float
    cross_bps: float  # 10^4 (bid - ask) / ((bid + ask) / 2)
    net_bps: float  # the same after both taker fees: sell at bid*(1-f_bid), buy at ask*(1+f_ask)


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


@dataclass(slots=True, frozen=True)
class MarketSignal:
    """How many LIVE venues of one asset are draining depth at the same sample."""

    live: int  # LIVE venues that take part
    required: int  # draining venues needed to fire: max(min_venues, ceil(min_fraction * live))
    draining: dict[str, float]  # label -> depth z, for venues with depth z <= -open_z
    z: dict[str, float | None]  # label -> depth z of every LIVE venue (None before warm-up)
    breadth_z: float | None  # the required-th most negative depth z: "at least `required` venues are this bad"
    firing: bool


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
