"""One book per asset across venues: where the liquidity is, what a market order would cost, how to split it.

Why it is built this way:

* Venues quote in different currencies (USD, USDT, USDC, ...). Every price is converted to one reference
  unit with ``consolidated.quote_rates`` (value of one unit of that quote; USD-equivalent by default) so
  the ladders can be merged. A quote with no rate cannot be compared, so that venue is left out and the
  result says so instead of silently mixing currencies.
* Only LIVE streams take part. A book that is resyncing, stale or down is either empty or wrong, and a
  venue outage must never look like liquidity leaving the market; excluded venues are listed with why.
* The venues' books are already sorted best-first (``BookSide.keys``), so consolidation never re-sorts
  a whole book and never steps through levels in Python: each venue side is a ``core.bands.Ladder`` with
  prefix sums of p*q built on demand, depth in bands is an exact edge search into them, and a walk across
  venues is a water-filling search (``fill.greedy_fill``) over those prefix sums. Only the few top
  levels shown with their venues are merged entry by entry, from each venue's first keys. A tick costs
  what the walks and bands reach.
* Levels are merged, never netted: a price quoted by two venues is one consolidated level that remembers
  each venue's size, and venues that cross each other are reported as pairs (an arbitrage or a broken
  feed is information, not noise to cancel out).

The consolidated mid is (best consolidated bid + best consolidated ask) / 2, the per-venue formula,
also when venues cross: then the best bid is above the best ask, ``spread_bps`` is negative and a small
buy can fill below the mid (negative slippage), which is exactly the arbitrage on offer. Single-venue
slippage shown next to the consolidated one is measured against this same consolidated mid, so the
numbers rank venues by what an order would really cost; the own-mid slippage per venue is what the
per-venue panels show.

The package is split by concern: ``types`` (the plain results), ``members`` (who takes part),
``fill`` (the fee-aware greedy fill), ``book`` (the cross-venue book and ``consolidate``) and ``market``
(the market-wide crunch signal). Depth bands, prefix sums and walks are ``core.bands``, the same
definition the per-venue metrics use (docs/metrics.md, "Consolidated book").

Nothing here does I/O or imports asyncio or Textual. A ``ConsolidatedBook`` reads sizes from the live
books when it walks them: use it within one synchronous step (``consolidate`` returns plain data).
"""

from lcm_tui.core.consolidated.book import ConsolidatedBook, consolidate, consolidated_entry, consolidated_json
from lcm_tui.core.consolidated.fill import greedy_fill
from lcm_tui.core.consolidated.market import HasZ, MarketCrunchDetector, market_signal
from lcm_tui.core.consolidated.members import Member, classify
from lcm_tui.core.consolidated.types import (
    BUY,
    MARKET_DEPTH_SIGNAL,
    MARKET_VENUE,
    REFERENCE_QUOTE,
    SELL,
    Allocation,
    ConsolidatedMetrics,
    CrossedPair,
    Excluded,
    Level,
    MarketSignal,
    Source,
    Split,
)

__all__ = [
    "BUY", "MARKET_DEPTH_SIGNAL", "MARKET_VENUE", "REFERENCE_QUOTE", "SELL", "Allocation", "ConsolidatedBook",
    "ConsolidatedMetrics", "CrossedPair", "Excluded", "HasZ", "Level", "MarketCrunchDetector", "MarketSignal",
    "Member", "Source", "Split", "classify", "consolidate", "consolidated_entry", "consolidated_json", "greedy_fill",
    "market_signal",
]
