"""Cost of one consolidation tick: consolidated book + metrics + best-execution splits for 5 venues.

Each venue holds 1000 levels per side around 50 000 (seeded). Two cases: the configured notionals
(10k/100k/1M, which touch the top of the books) and a deep case whose largest notional eats about half of
every book, so the walks touch thousands of levels. The baseline is the obvious implementation: build
every (price, venue, size) tuple, sort them all and walk the fully merged ladder in Python; it shows what
the lazy ``heapq.merge`` over already-sorted books saves.

``python benches/consolidated.py --digest`` prints a SHA-256 of JSON output that a speed change must leave
byte for byte unchanged, and the byte split of that output: the ``--headless`` lines of a seeded run
(the loopback simulator's ``bybit-spot`` and ``okx`` books, N/2 assets each, fed to a ``Monitor`` on a
fixed clock, encoded by ``frontends.jsonout``), then ``consolidate`` of the 5-venue books above under
several settings (converted quotes, a crossed venue, deep and extra split notionals, fewer top levels).
Run it as a script with ``PYTHONPATH`` set to another checkout (a ``git worktree``) to compare that tree.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from lcm_tui.config import Settings, default_venue
from lcm_tui.core.book import OrderBook
from lcm_tui.core.consolidated import ConsolidatedBook, classify, consolidate
from lcm_tui.core.model import AlertChange, MetricSample, StreamStatus, SymbolState

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


def _grid_states() -> list[SymbolState]:
    """Every venue on one 0.5 grid: the same prices on several venues (ties at the fill's threshold)."""
    rng = random.Random(8)
    grid = []
    for venue, symbol, _fee in _VENUES:
        top = 50_000 + 0.5 * rng.randint(-4, 4)
        gb = OrderBook(venue, symbol)
        gb.load_snapshot([(f"{top - 0.5 - i * 0.5:.1f}", f"{rng.uniform(0.001, 2):.5f}") for i in range(300)],
                         [(f"{top + 0.5 + i * 0.5:.1f}", f"{rng.uniform(0.001, 2):.5f}") for i in range(300)])
        grid.append(SymbolState(venue, symbol, gb, status=StreamStatus.LIVE))
    return grid


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


# ------------------------------------------------------------------------------------ the output digest
class _MonitorView:
    """The part of ``MarketView`` that ``jsonout.HeadlessLines`` reads, over a bare ``Monitor``."""

    def __init__(self, monitor: Any) -> None:
        self.monitor = monitor

    def streams(self) -> list[Any]:
        from lcm_tui.core.view import StreamView

        return [StreamView(st.venue, st.symbol, st.status, st.status_detail, dataclasses.replace(st.counters),
                           st.last_update_ns) for st in self.monitor.states.values()]

    def latest(self, venue: str, symbol: str) -> MetricSample | None:
        s: MetricSample | None = self.monitor.latest.get((venue, symbol))
        return s

    def snapshot(self, venue: str, symbol: str, depth: int) -> None:
        return None

    def signals(self, venue: str, symbol: str) -> list[Any]:
        from lcm_tui.core.view import SignalView

        d = self.monitor.detectors.get((venue, symbol))
        return [] if d is None else [SignalView(name, z) for name, z in d.z.items()]

    def alert_changes(self, cursor: int) -> tuple[list[AlertChange], int]:
        out: tuple[list[AlertChange], int] = self.monitor.alert_changes(cursor)
        return out

    def assets(self) -> list[str]:
        out: list[str] = self.monitor.assets()
        return out

    def consolidated(self, asset: str, top: int = 10, split_notionals: Sequence[float] = ()) -> Any:
        return self.monitor.consolidated(asset, top, split_notionals)


def headless_lines(n: int, ticks: int, seed: int = 7) -> list[bytes]:
    """The ``--headless`` output of ``ticks`` samples of the seeded simulator, one ``bytes`` per tick."""
    from lcm_tui.config import load_settings
    from lcm_tui.core.monitor import Monitor
    from lcm_tui.frontends import jsonout
    from lcm_tui.runtime.sim.inmemory import InMemoryLoopback, sim_class

    venues = ("bybit-spot", "okx")
    s = load_settings(None)
    loops = []
    for name, vc in s.venues.items():
        vc.enabled = name in venues
    for v in venues:
        syms = [sim_class(v).join_symbol(f"C{i:04d}", "USDT") for i in range(n // 2)]
        s.venues[v].symbols = syms
        loops.append(InMemoryLoopback(v, syms, seed=seed))
    monitor = Monitor(s)
    for lb in loops:
        lb.step(3)
        for st in lb.adapter.states.values():
            monitor.add(st)
    lines = jsonout.HeadlessLines(_MonitorView(monitor))  # type: ignore[arg-type]
    out = []
    t0 = 1_700_000_000_000_000_000
    for k in range(ticks):
        for lb in loops:
            lb.step(10)  # one second of the default 10 market steps a second
        t_ns = t0 + k * 1_000_000_000
        monitor.sample(t_ns)
        out.append(lines.encode(t_ns))
    return out


def _variants() -> list[tuple[list[SymbolState], Settings, dict[str, Any]]]:
    """The 5-venue books under settings that reach the rarer paths: conversion, crossing, deep splits."""
    states = _states(300, seed=5)
    crossed = _states(300, seed=6)
    # Shift one venue up by 3 so that its bids sit above the others' asks.
    book = crossed[3].book
    bids = [(f"{float(p) + 3:.2f}", q) for p, q in book.bids]
    asks = [(f"{float(p) + 3:.2f}", q) for p, q in book.asks]
    book.load_snapshot(bids, asks)
    grid = _grid_states()
    typical = _settings([10_000.0, 100_000.0, 1_000_000.0])
    deep = _settings([1_000.0, 250_000.0, 5_000_000.0, 40_000_000.0, 1e12])
    converted = _settings([10_000.0, 100_000.0, 1_000_000.0])
    converted.consolidated.quote_rates = {"USD": 1.0, "USDT": 0.99953, "USDC": 1.0}
    return [(states, typical, {}), (states, deep, {"split_notionals": [33_333.0, 2e6]}),
            (crossed, typical, {"top": 3}), (crossed, converted, {"top": 25, "split_notionals": [77_777.0]}),
            (states, converted, {}), (grid, typical, {"split_notionals": [52_000.0]}), (grid, converted, {}),
            (grid, deep, {"top": 40})]


def digest(n: int = 200, ticks: int = 10, seed: int = 7) -> dict[str, Any]:
    """SHA-256 of the seeded outputs, and how the headless bytes split between stream and consolidated lines."""
    import orjson

    h = hashlib.sha256()
    stream_b = consolidated_b = other_b = 0
    for data in headless_lines(n, ticks, seed):
        h.update(data)
        for line in data.splitlines(keepends=True):
            venue = orjson.loads(line)["venue"]
            if venue == "consolidated":
                consolidated_b += len(line)
            elif venue == "alert":
                other_b += len(line)
            else:
                stream_b += len(line)
    headless = h.hexdigest()
    for states, settings, kw in _variants():
        h.update(orjson.dumps(consolidate(states, settings, **kw), option=orjson.OPT_NON_STR_KEYS))
    return {"headless_sha256": headless, "all_sha256": h.hexdigest(), "stream_bytes": stream_b,
            "consolidated_bytes": consolidated_b, "alert_bytes": other_b}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--digest", action="store_true", help="print the output digest instead of timing")
    ap.add_argument("--n", type=int, default=200, help="streams of the seeded headless run (--digest)")
    ap.add_argument("--ticks", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    if a.digest:
        import lcm_tui

        print(f"tree {lcm_tui.__file__}")
        for k, v in digest(a.n, a.ticks, a.seed).items():
            print(f"{k:20s} {v}")
    else:
        for label, v, base, unit in run()["rows"]:
            baseline = f"   baseline {base:10.1f} {unit}" if base is not None else ""
            print(f"{label:48s} {v:10.1f} {unit}{baseline}")
