"""Cost of one consolidation tick: consolidated book + metrics + best-execution splits for 5 venues.

Each venue holds 1000 levels per side around 50 000 (seeded). Two cases: the configured notionals
(10k/100k/1M, which touch the top of the books) and a deep case whose largest notional eats about half of
every book, so the walks touch thousands of levels. The baseline is the obvious implementation: build
every (price, venue, size) tuple, sort them all and walk the fully merged ladder in Python; it shows what
the lazy ``heapq.merge`` over already-sorted books saves.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from lcm_tui.config import Settings, default_venue
from lcm_tui.core.book import OrderBook
from lcm_tui.core.consolidated import ConsolidatedBook, classify, consolidate
from lcm_tui.core.model import StreamStatus, SymbolState

_VENUES = [("binance", "BTCUSDT", 10.0), ("okx", "BTC-USDT", 8.0), ("bybit-spot", "BTCUSDT", 10.0),
           ("kraken", "BTC/USD", 40.0), ("coinbase", "BTC-USD", 60.0)]


def _states(levels: int, seed: int = 11) -> list[SymbolState]:
    rng = random.Random(seed)
    out = []
    for venue, symbol, _fee in _VENUES:
        book = OrderBook(venue, symbol)
        top = 50_000 + rng.uniform(-5, 5)
        bids = [(f"{top - 0.5 - i * 0.5 - rng.random() * 0.1:.2f}", f"{rng.uniform(0.001, 2):.5f}")
                for i in range(levels)]
        asks = [(f"{top + 0.5 + i * 0.5 + rng.random() * 0.1:.2f}", f"{rng.uniform(0.001, 2):.5f}")
                for i in range(levels)]
        book.load_snapshot(bids, asks)
        out.append(SymbolState(venue, symbol, book, status=StreamStatus.LIVE))
    return out


def _settings(notionals: list[float]) -> Settings:
    s = Settings()
    for venue, symbol, fee in _VENUES:
        vc = default_venue(venue)
        vc.enabled, vc.symbols, vc.taker_fee_bps = True, [symbol], fee
        s.venues[venue] = vc
    s.metrics.notionals = notionals
    return s


def _naive(states: list[SymbolState], settings: Settings) -> None:
    """Full sort-and-walk consolidation: the baseline the lazy merge is measured against."""
    for side in ("bids", "asks"):
        rows = []
        for i, st in enumerate(states):
            bs = st.book.bids if side == "bids" else st.book.asks
            rows.extend((p, i, q) for p, q in zip(bs.prices(), bs.sizes(), strict=True))
        rows.sort(reverse=side == "bids")
        fees = [settings.venue(st.venue).taker_fee_bps / 1e4 for st in states]
        adj = sorted(((p * (1 - fees[i]) if side == "bids" else p * (1 + fees[i])), i, q) for p, i, q in rows)
        if side == "bids":
            adj.reverse()
        for ladder in (rows, adj):
            for n in settings.metrics.notionals:
                spent = 0.0
                for p, _i, q in ladder:
                    spent += p * q
                    if spent >= n:
                        break


def _per_call_us(fn: Callable[[], Any], quick: bool) -> float:
    fn()
    reps = 5 if quick else 50
    best = float("inf")
    for _ in range(3 if quick else 5):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best * 1e6


def run(quick: bool = False) -> dict[str, Any]:
    states = _states(1000)
    typical = _settings([10_000.0, 100_000.0, 1_000_000.0])
    deep = _settings([10_000.0, 1_000_000.0, 125_000_000.0])  # ~half of each venue's ~50M per side
    lazy_typ = _per_call_us(lambda: consolidate(states, typical), quick)
    naive_typ = _per_call_us(lambda: _naive(states, typical), quick)
    members, excluded = classify(states, typical)["BTC"]
    bands = typical.metrics.depth_bands_bps
    depth_only = _per_call_us(lambda: ConsolidatedBook("BTC", members, excluded).depth(bands), quick)
    lazy_deep = _per_call_us(lambda: consolidate(states, deep), quick)
    naive_deep = _per_call_us(lambda: _naive(states, deep), quick)
    return {
        "rows": [
            ("consolidated tick 5x1000 lv, 10k/100k/1M", lazy_typ, naive_typ, "us"),
            ("  of which depth bands (4 bands, whole books)", depth_only, None, "us"),
            ("consolidated tick 5x1000 lv, deep walk 125M", lazy_deep, naive_deep, "us"),
        ],
        "json": {
            "consolidated_tick_us": lazy_typ,
            "consolidated_tick_naive_us": naive_typ,
            "consolidated_depth_us": depth_only,
            "consolidated_tick_deep_us": lazy_deep,
            "consolidated_tick_deep_naive_us": naive_deep,
        },
    }


if __name__ == "__main__":
    for label, v, base, unit in run()["rows"]:
        baseline = f"   baseline {base:10.1f} {unit}" if base is not None else ""
        print(f"{label:48s} {v:10.1f} {unit}{baseline}")
