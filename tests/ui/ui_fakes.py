"""Seeded, clock-free data for the UI tests and benches/ui.py.

``FakeMarket`` implements the ``MarketView`` interface the UI reads with hand-set samples, z-scores
and alerts, so a snapshot shows chosen situations (an open alert, an unfillable walk, a DOWN stream) and nothing
depends on the metric or detector code, which have their own tests.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, cast

from lcm_tui.config import Settings, parse_settings
from lcm_tui.core.book import OrderBook
from lcm_tui.core.consolidated import ConsolidatedMetrics, HasZ, consolidate
from lcm_tui.core.model import (
    Alert,
    AlertAction,
    AlertChange,
    Counters,
    FeedEvent,
    MetricSample,
    Severity,
    Slippage,
    StreamStatus,
    SymbolState,
)
from lcm_tui.core.symbols import parse_symbol
from lcm_tui.core.view import BookSnapshot, MarketView, SignalView, StreamView

NOW_NS = 1_764_000_000_000_000_000  # a fixed "now": 2025-11-24 16:00:00 UTC

STREAMS: dict[str, list[str]] = {
    "binance": ["BTCUSDT", "ETHUSDT"],
    "bybit-spot": ["BTCUSDT", "ETHUSDT"],
    "okx": ["BTC-USDT", "ETH-USDT"],
    "kraken": ["BTC/USD", "ETH/USD"],
    "coinbase": ["BTC-USD", "ETH-USD"],
}
# (price decimals, size decimals) as each venue spells them on the wire
SPELLING = {"binance": (8, 8), "bybit-spot": (2, 6), "okx": (1, 8), "kraken": (1, 8), "coinbase": (2, 8)}


def settings(**ui: Any) -> Settings:
    raw: dict[str, Any] = {"exchanges": {v: {"symbols": syms} for v, syms in STREAMS.items()}}
    if ui:
        raw["ui"] = ui
    return parse_settings(raw)


def make_book(venue: str, symbol: str, rng: random.Random, levels: int = 300) -> OrderBook:
    mid = 43_000.0 if symbol.startswith("BTC") else 2_300.0
    mid *= 1 + rng.uniform(-0.0005, 0.0005)
    tick = 0.1 if symbol.startswith("BTC") else 0.01
    pd, sd = SPELLING[venue]
    book = OrderBook(venue, symbol)
    base_size = 1.0 if symbol.startswith("BTC") else 12.0
    half = max(1, round(rng.uniform(0.5, 3.0)))

    def lv(i: int, sign: int) -> tuple[str, str]:
        p = round(mid / tick) * tick + sign * (half + i * rng.choice((1, 1, 2, 3))) * tick
        q = base_size * rng.lognormvariate(-1.5, 1.0)
        return f"{p:.{pd}f}", f"{q:.{sd}f}"

    asks = [lv(i, +1) for i in range(levels)]
    bids = [lv(i, -1) for i in range(levels)]
    book.load_snapshot(bids, asks)
    return book


def make_sample(venue: str, symbol: str, book: OrderBook, rng: random.Random, notionals: list[float],
                bands: list[int], unfillable_from: float | None = None) -> MetricSample:
    mid = book.mid() or 0.0
    bb, ba = book.best_bid(), book.best_ask()
    assert bb and ba
    spread_bps = 1e4 * (float(ba[0]) - float(bb[0])) / mid
    depth_bid = {b: round(rng.uniform(0.2, 1.0) * b * 40_000, 2) for b in bands}
    depth_ask = {b: round(rng.uniform(0.2, 1.0) * b * 40_000, 2) for b in bands}
    imbalance = {b: (depth_bid[b] - depth_ask[b]) / (depth_bid[b] + depth_ask[b]) for b in bands}
    slips = []
    for side in ("buy", "sell"):
        for n in notionals:
            if unfillable_from is not None and side == "sell" and n >= unfillable_from:
                slips.append(Slippage(side, n, None, None, 300, round(0.6 * unfillable_from, 2)))
                continue
            bps = spread_bps / 2 + n / 1e6 * rng.uniform(1, 8)
            vwap = mid * (1 + bps / 1e4) if side == "buy" else mid * (1 - bps / 1e4)
            slips.append(Slippage(side, n, vwap, bps, 1 + int(n / 20_000), n))
    return MetricSample(venue, symbol, NOW_NS, bb[0], ba[0], mid, spread_bps, depth_bid, depth_ask, imbalance, slips)


class FakeDetector:
    def __init__(self, rng: random.Random, z: dict[str, float | None], n: int = 60) -> None:
        self.z = z
        self.history: dict[str, deque[float]] = {}
        for sig, last in z.items():
            walk = [rng.gauss(0, 0.8) for _ in range(n)]
            if last is not None:
                walk[-5:] = [last * f for f in (0.4, 0.6, 0.8, 0.9, 1.0)]
            self.history[sig] = deque(walk if last is not None else [], maxlen=300)

    @property
    def open_alerts(self) -> list[Alert]:
        return []


class FakeMarket:
    """The MarketView interface over hand-set data: samples, z-scores and alerts are chosen, not computed.

    ``snapshot`` returns the book as it is now with the hand-set sample as its metrics (the metric code
    has its own tests); ``sample`` only counts calls. ``states``/``latest``/``detectors``/``alerts`` are
    the data a test edits.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.states: dict[tuple[str, str], SymbolState] = {}
        self.latest_samples: dict[tuple[str, str], MetricSample] = {}
        self.detectors: dict[tuple[str, str], FakeDetector] = {}
        self.alert_list: list[Alert] = []
        self.event_log: deque[FeedEvent] = deque(maxlen=1000)
        self.sample_calls: list[int] = []
        self.watched: list[tuple[str, str]] = []

    # ---- MarketView
    def streams(self) -> list[StreamView]:
        return [self._view(st) for st in self.states.values()]

    def stream(self, venue: str, symbol: str) -> StreamView | None:
        st = self.states.get((venue, symbol))
        return self._view(st) if st is not None else None

    @staticmethod
    def _view(st: SymbolState) -> StreamView:
        c = st.counters
        counters = Counters(c.frames, c.gaps, c.resyncs, c.checksum_failures, c.malformed, c.reconnects, c.crossed)
        return StreamView(st.venue, st.symbol, st.status, st.status_detail, counters, st.last_update_ns)

    def latest(self, venue: str, symbol: str) -> MetricSample | None:
        return self.latest_samples.get((venue, symbol))

    def snapshot(self, venue: str, symbol: str, depth: int) -> BookSnapshot | None:
        st = self.states.get((venue, symbol))
        if st is None:
            return None
        return BookSnapshot(venue, symbol, NOW_NS, st.book.bids.top(depth), st.book.asks.top(depth),
                            self.latest_samples.get((venue, symbol)))

    def signals(self, venue: str, symbol: str) -> list[SignalView]:
        d = self.detectors.get((venue, symbol))
        if d is None:
            return []
        return [SignalView(k, z, list(d.history.get(k, ())), z is not None) for k, z in d.z.items()]

    def alerts(self) -> Sequence[Alert]:
        return list(self.alert_list)

    def alert_changes(self, cursor: int) -> tuple[list[AlertChange], int]:
        # The fake's alerts are set up, not detected: each is reported as an open, once.
        return [AlertChange(AlertAction.OPEN, a) for a in self.alert_list[cursor:]], len(self.alert_list)

    def events(self) -> Sequence[FeedEvent]:
        return list(self.event_log)

    def assets(self) -> list[str]:
        return sorted({parse_symbol(v, s)[0] for v, s in self.states})

    def consolidated(self, asset: str, top: int = 10, split_notionals: Sequence[float] = ()
                     ) -> ConsolidatedMetrics | None:
        detectors = cast("Mapping[tuple[str, str], HasZ]", self.detectors)
        out = consolidate(self.states.values(), self.settings, detectors, top=top, assets=[asset],
                          split_notionals=split_notionals)
        return out[0] if out else None

    def watch(self, venue: str, symbol: str) -> None:
        self.watched.append((venue, symbol))

    # ---- what the app's engine side does
    def add(self, state: SymbolState) -> None:
        self.states[state.key] = state

    def on_event(self, ev: FeedEvent) -> None:
        self.event_log.append(ev)

    def sample(self, t_ns: int) -> list[MetricSample]:
        self.sample_calls.append(t_ns)
        return list(self.latest_samples.values())


def fake_view(m: FakeMarket) -> MarketView:
    """``m`` as the interface the app takes (mypy checks that the fake implements the Protocol)."""
    return m


def filled_market(s: Settings | None = None, seed: int = 7) -> FakeMarket:
    """Five venues x two symbols: mostly LIVE, one RESYNCING, one DOWN, one open alert, one unfillable walk."""
    s = s or settings()
    rng = random.Random(seed)
    m = FakeMarket(s)
    notionals, bands = s.metrics.notionals, s.metrics.depth_bands_bps
    for venue, syms in STREAMS.items():
        for sym in syms:
            book = make_book(venue, sym, rng)
            st = SymbolState(venue, sym, book, StreamStatus.LIVE,
                             Counters(frames=rng.randrange(1000, 90_000), gaps=rng.randrange(0, 3),
                                      resyncs=rng.randrange(0, 3), reconnects=rng.randrange(0, 2)),
                             last_update_ns=NOW_NS - rng.randrange(10, 900) * 1_000_000)
            m.add(st)
            unfillable = 1_000_000.0 if (venue, sym) == ("kraken", "ETH/USD") else None
            m.latest_samples[st.key] = make_sample(venue, sym, book, rng, notionals, bands, unfillable)
            z: dict[str, float | None] = {sig: rng.gauss(0, 1) for sig in ("depth", "spread", "slip_buy", "slip_sell")}
            if (venue, sym) == ("binance", "BTCUSDT"):
                z = {"depth": -4.31, "spread": 3.2, "slip_buy": 1.1, "slip_sell": 5.4}
            if venue == "coinbase":
                z = dict.fromkeys(z)  # still warming up
            m.detectors[st.key] = FakeDetector(rng, z)
    down = m.states[("coinbase", "ETH-USD")]
    down.status, down.status_detail = StreamStatus.DOWN, "runner crashed: OSError: connection refused"
    down.book.clear()
    del m.latest_samples[down.key]
    rs = m.states[("kraken", "BTC/USD")]
    rs.status, rs.status_detail = StreamStatus.RESYNCING, "checksum: 1234 != 5678"
    m.alert_list = [
        Alert("okx", "BTC-USDT", "spread", NOW_NS - 3_600 * 10**9, 3.4, Severity.WARNING,
              closed_ns=NOW_NS - 3_300 * 10**9),
        Alert("binance", "BTCUSDT", "depth", NOW_NS - 95 * 10**9, -4.31, Severity.HIGH),
        Alert("binance", "BTCUSDT", "slip_sell", NOW_NS - 12 * 10**9, 5.4, Severity.CRITICAL),
    ]
    return m


class CrashingRunner:
    """Raises on its first ``run``; later runs record the status they found and wait to be cancelled."""

    def __init__(self, state: SymbolState) -> None:
        self.states = {state.symbol: state}
        self.calls = 0
        self.status_at_restart: StreamStatus | None = None
        self.restarted = asyncio.Event()

    async def run(self) -> None:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("boom")
        self.status_at_restart = next(iter(self.states.values())).status
        next(iter(self.states.values())).status = StreamStatus.LIVE
        self.restarted.set()
        await asyncio.Event().wait()
