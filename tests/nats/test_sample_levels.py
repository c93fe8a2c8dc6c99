"""A viewer's cross-shard view reads the top levels of each stream's newest sample, against the real NATS server.

The KV state is refreshed only every few seconds while samples arrive every tick: levels taken from the
KV state would sit beside sample numbers computed from a newer book, and the two would disagree.
"""

from __future__ import annotations

import time

from harness import RunningCollector, running, shard_settings
from natsenv import wait_for

from lcm_tui.core.model import MetricSample, SymbolState
from lcm_tui.runtime.bus.connect import NatsOptions
from lcm_tui.runtime.bus.run import open_remote

VENUES = ["binance", "okx"]

Key = tuple[str, str]
Levels = tuple[list[tuple[str, str]], list[tuple[str, str]]]


class BookAtSample:
    """The collector's book top levels at each sample, taken as the sample is published."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.at: dict[tuple[Key, int], Levels] = {}

    def on_sample(self, sample: MetricSample, state: SymbolState | None = None) -> None:
        if state is not None:
            self.at[(state.key, sample.ts_ns)] = (state.book.bids.top(self.n), state.book.asks.top(self.n))


async def test_the_consolidated_view_uses_the_levels_of_the_newest_sample(bus: NatsOptions) -> None:
    rc = RunningCollector(shard_settings(VENUES), bus, "col-levels")
    async with running(rc) as col:
        col.state_interval_s = 3600.0  # KV states now only on a status, detail or error-counter change
        books = BookAtSample(col.book_levels)
        col.monitor.add_listener(books)
        keys = {k for k in col.monitor.states if k[1].startswith("BTC")}
        assert {v for v, _ in keys} == set(VENUES)
        async with open_remote(shard_settings(VENUES), bus) as view:
            def kv_is_behind() -> bool:
                """Every BTC stream's newest sample has other best prices than the top of its KV state's levels."""
                for k in keys:
                    s, kv = view.latest(*k), view._kv.get(k)
                    if s is None or kv is None or (k, s.ts_ns) not in books.at:
                        return False
                    kv_top = (kv.bids[0][0] if kv.bids else None, kv.asks[0][0] if kv.asks else None)
                    if kv_top == (s.best_bid, s.best_ask):
                        return False
                return True
            await wait_for(kv_is_behind, 20)
            # Nothing is awaited from here on: what is read below is one consistent view.
            view.sample(time.time_ns())
            c = view.consolidated("BTC")
            assert c is not None
            checked = 0
            for src in c.sources:
                k = (src.venue, src.symbol)
                s = view.latest(*k)
                assert s is not None and s.best_bid is not None and s.best_ask is not None
                if src.rate == 1.0:  # in the reference quote: the source's best prices are the book's own
                    assert (src.best_bid, src.best_ask) == (float(s.best_bid), float(s.best_ask))
                    checked += 1
                # The levels drawn without a book view, and those consolidated, are the book at that sample.
                snap = view.snapshot(*k, col.book_levels)
                assert snap is not None and snap.ts_ns == s.ts_ns
                assert (snap.bids, snap.asks) == books.at[(k, s.ts_ns)]
                assert (src.bid_levels, src.ask_levels) == (len(snap.bids), len(snap.asks))
            assert checked and {src.venue for src in c.sources} == set(VENUES)
