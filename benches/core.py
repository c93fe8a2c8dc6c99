"""Core engine against the original design, on one seeded Binance-like workload.

The original design (the baseline here) parsed frames with stdlib ``json``, kept each side in a
``sortedcontainers.SortedDict`` keyed by ``Decimal`` price with ``Decimal`` sizes, and computed the
metrics with per-level Python loops over the sorted dict. lcm-tui parses with ``orjson``, keys levels
by float (exact identity for exchange prices) in a ``bisect``-maintained list, keeps the wire strings,
and computes metrics with C-level passes (``lcm_tui.core.metrics``).

The book has an optional C fast path (lcm_tui.core._fastbook, built by ``pip install -e .``). Rows say
which path ran; when it is C, the pure-Python figures are measured too and shown alongside, so the
numbers say what each path delivers.

Workload: a 1000-level-per-side book around 67000.00 with 0.01 ticks, then depthUpdate frames as
Binance sends them (JSON text, ~20 bids + ~20 asks, prices near the top, sizes as 8-decimal strings,
~10% deletes, some of levels that are not in the book). Both designs process exactly the same frames.
That book is 1.5 bps deep, so every band covers a whole side; the "wide book" row (1000 levels at
1.00 ticks, 150 bps per side) makes the 10/50/100 bps bands end inside the side, where a band is
summed from the ordered prefix sums (never the side's total minus its tail).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import orjson
from sortedcontainers import SortedDict

import lcm_tui.core.book as book_module
from lcm_tui.core.book import OrderBook, implementation
from lcm_tui.core.metrics import compute_sample

SEED = 20240601
TOP_TICKS = 6_700_000  # 67000.00 in 0.01 ticks: best ask; best bid one tick below
LEVELS = 1000
BANDS = [10, 50, 100, 200]
NOTIONALS = [10_000.0, 100_000.0, 1_000_000.0]

Level = list[str]


def _price(ticks: int) -> str:
    # Binance spot spelling: 8 decimals, e.g. "67000.01000000".
    return f"{ticks // 100}.{ticks % 100:02d}000000"


def _size(rng: random.Random) -> str:
    return f"{rng.lognormvariate(-1.0, 1.2):.8f}"


def workload(frames: int, seed: int = SEED) -> tuple[list[Level], list[Level], list[str]]:
    """(snapshot bids, snapshot asks, depthUpdate frames as JSON text)."""
    rng = random.Random(seed)
    bids = [[_price(TOP_TICKS - 1 - i), _size(rng)] for i in range(LEVELS)]
    asks = [[_price(TOP_TICKS + i), _size(rng)] for i in range(LEVELS)]
    out = []
    u = 1_000_000
    for n in range(frames):
        sides = []
        for is_bid in (True, False):
            levels = []
            for _ in range(rng.randint(16, 24)):
                off = min(int(rng.expovariate(1 / 25)), LEVELS + 200)  # mostly near the top
                ticks = TOP_TICKS - 1 - off if is_bid else TOP_TICKS + off
                levels.append([_price(ticks), "0.00000000" if rng.random() < 0.10 else _size(rng)])
            sides.append(levels)
        first = u + 1
        u += len(sides[0]) + len(sides[1])
        msg = {"e": "depthUpdate", "E": 1_717_200_000_000 + 100 * n, "s": "BTCUSDT", "U": first, "u": u,
               "b": sides[0], "a": sides[1]}
        out.append(json.dumps(msg, separators=(",", ":")))
    return bids, asks, out


# ----------------------------------------------------------------------------- the original design
class BaselineBook:
    """SortedDict[Decimal, Decimal] per side, as the original design kept it."""

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()

    def load_snapshot(self, bids: list[Level], asks: list[Level]) -> None:
        self.bids.clear()
        self.asks.clear()
        self.apply(bids, asks)

    def apply(self, bids: list[Level], asks: list[Level]) -> None:
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for p, q in levels:
                size = Decimal(q)
                price = Decimal(p)
                if not (price.is_finite() and size.is_finite()) or price <= 0 or size < 0:
                    raise ValueError(f"invalid level {p!r} {q!r}")
                if size:
                    side[price] = size
                else:
                    side.pop(price, None)

    def best_bid(self) -> tuple[Decimal, Decimal]:
        return self.bids.peekitem(-1)

    def best_ask(self) -> tuple[Decimal, Decimal]:
        return self.asks.peekitem(0)


def baseline_metrics(book: BaselineBook, bands: list[int], notionals: list[float]) -> dict[str, Any]:
    """metrics.md with per-level loops over the sorted dicts (Decimal book, float arithmetic)."""
    b1 = book.bids.peekitem(-1)[0]
    a1 = book.asks.peekitem(0)[0]
    mid = (a1 + b1) / 2
    m = float(mid)
    out: dict[str, Any] = {"spread_bps": float(10_000 * (a1 - b1) / mid), "depth": {}, "slippage": {}}
    for x in bands:
        lo = m * (1 - x / 10_000)
        hi = m * (1 + x / 10_000)
        db = 0.0
        for p, q in reversed(book.bids.items()):
            pf = float(p)
            if pf < lo:
                break
            db += pf * float(q)
        da = 0.0
        for p, q in book.asks.items():
            pf = float(p)
            if pf > hi:
                break
            da += pf * float(q)
        out["depth"][x] = (db, da, (db - da) / (db + da) if db + da else 0.0)
    for n in notionals:
        for side, items in (("buy", book.asks.items()), ("sell", reversed(book.bids.items()))):
            got = base = 0.0
            levels = 0
            vwap = None
            for p, q in items:
                pf, qf = float(p), float(q)
                levels += 1
                if got + pf * qf >= n:
                    base += (n - got) / pf
                    vwap = n / base
                    break
                got += pf * qf
                base += qf
            slip = None if vwap is None else 1e4 * ((vwap - m) if side == "buy" else (m - vwap)) / m
            out["slippage"][(side, n)] = (vwap, slip, levels)
    return out


# ----------------------------------------------------------------------------- measurements
@contextmanager
def _pure_python() -> Iterator[None]:
    """The book's pure-Python path even when the C extension is loaded."""
    saved = book_module._fast_apply
    book_module._fast_apply = None
    try:
        yield
    finally:
        book_module._fast_apply = saved


def _best_of(repeats: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(repeats))


def wide_book() -> OrderBook:
    """1000 levels a side at 1.00 ticks around 67000 (seeded sizes): the bands end inside each side."""
    rng = random.Random(SEED + 1)
    book = OrderBook("binance", "BTCUSDT")
    book.load_snapshot([[f"{66_999 - i}.00", _size(rng)] for i in range(LEVELS)],
                       [[f"{67_000 + i}.00", _size(rng)] for i in range(LEVELS)])
    return book


def _lcm_book(bids: list[Level], asks: list[Level]) -> OrderBook:
    book = OrderBook("binance", "BTCUSDT")
    book.load_snapshot(bids, asks)
    return book


def _base_book(bids: list[Level], asks: list[Level]) -> BaselineBook:
    book = BaselineBook()
    book.load_snapshot(bids, asks)
    return book


def _time_updates(book: Any, msgs: list[dict[str, Any]]) -> float:
    apply = book.apply
    t = time.perf_counter()
    for m in msgs:
        apply(m["b"], m["a"])
    return time.perf_counter() - t


def _lcm_pipeline(book: OrderBook, frames: list[str]) -> float:
    loads = orjson.loads
    apply = book.apply
    t = time.perf_counter()
    for f in frames:
        m = loads(f)
        apply(m["b"], m["a"])
        book.best_bid()
        book.best_ask()
    return time.perf_counter() - t


def _base_pipeline(book: BaselineBook, frames: list[str]) -> float:
    loads = json.loads
    apply = book.apply
    t = time.perf_counter()
    for f in frames:
        m = loads(f)
        apply(m["b"], m["a"])
        book.best_bid()
        book.best_ask()
    return time.perf_counter() - t


def _lcm_latencies(book: OrderBook, frames: list[str]) -> list[int]:
    loads = orjson.loads
    clock = time.perf_counter_ns
    out = []
    for f in frames:
        t = clock()
        m = loads(f)
        book.apply(m["b"], m["a"])
        book.best_bid()
        book.best_ask()
        out.append(clock() - t)
    return out


def _base_latencies(book: BaselineBook, frames: list[str]) -> list[int]:
    loads = json.loads
    clock = time.perf_counter_ns
    out = []
    for f in frames:
        t = clock()
        m = loads(f)
        book.apply(m["b"], m["a"])
        book.best_bid()
        book.best_ask()
        out.append(clock() - t)
    return out


def _pct(xs: list[int], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] / 1000.0  # ns -> µs


def _lcm_metrics_every_frame(book: OrderBook, frames: list[str]) -> float:
    t = time.perf_counter()
    for i, f in enumerate(frames):
        m = orjson.loads(f)
        book.apply(m["b"], m["a"])
        compute_sample(book, "binance", "BTCUSDT", i, BANDS, NOTIONALS)
    return time.perf_counter() - t


def _base_metrics_every_frame(book: BaselineBook, frames: list[str]) -> float:
    t = time.perf_counter()
    for f in frames:
        m = json.loads(f)
        book.apply(m["b"], m["a"])
        baseline_metrics(book, BANDS, NOTIONALS)
    return time.perf_counter() - t


def run(quick: bool = False) -> dict[str, Any]:
    n_frames = 2_000 if quick else 20_000
    repeats = 1 if quick else 3
    bids, asks, frames = workload(n_frames)
    msgs = [orjson.loads(f) for f in frames]
    n_levels = sum(len(m["b"]) + len(m["a"]) for m in msgs)

    impl = implementation()
    is_c = book_module._fast_apply is not None
    tag = "C" if is_c else "pure Python"
    print(f"book implementation: {impl}", flush=True)

    # Book level updates/s: frames already parsed, the same lists for both designs.
    upd_lcm = n_levels / _best_of(repeats, lambda: _time_updates(_lcm_book(bids, asks), msgs))
    upd_base = n_levels / _best_of(repeats, lambda: _time_updates(_base_book(bids, asks), msgs))

    # Metric ticks/s on the 1000-level book: every metrics.md number, 4 bands, 3 notionals x 2 sides.
    lb, bb = _lcm_book(bids, asks), _base_book(bids, asks)
    ticks = 200 if quick else 2_000
    base_ticks = max(10, ticks // 20)

    def lcm_ticks() -> float:
        t = time.perf_counter()
        for i in range(ticks):
            compute_sample(lb, "binance", "BTCUSDT", i, BANDS, NOTIONALS)
        return (time.perf_counter() - t) / ticks

    def base_ticks_fn() -> float:
        t = time.perf_counter()
        for _ in range(base_ticks):
            baseline_metrics(bb, BANDS, NOTIONALS)
        return (time.perf_counter() - t) / base_ticks

    tick_lcm = 1.0 / _best_of(repeats, lcm_ticks)
    tick_base = 1.0 / _best_of(repeats, base_ticks_fn)
    wb = wide_book()

    def wide_ticks() -> float:
        t = time.perf_counter()
        for i in range(ticks):
            compute_sample(wb, "binance", "BTCUSDT", i, BANDS, NOTIONALS)
        return (time.perf_counter() - t) / ticks

    tick_wide = 1.0 / _best_of(repeats, wide_ticks)

    # Full pipeline: JSON text -> parse -> apply -> best bid/ask (no metrics on either side).
    pipe_lcm = n_frames / _best_of(repeats, lambda: _lcm_pipeline(_lcm_book(bids, asks), frames))
    pipe_base = n_frames / _best_of(repeats, lambda: _base_pipeline(_base_book(bids, asks), frames))
    lat_lcm = _lcm_latencies(_lcm_book(bids, asks), frames)
    lat_base = _base_latencies(_base_book(bids, asks), frames)
    if is_c:
        with _pure_python():
            upd_py = n_levels / _best_of(repeats, lambda: _time_updates(_lcm_book(bids, asks), msgs))
            pipe_py = n_frames / _best_of(repeats, lambda: _lcm_pipeline(_lcm_book(bids, asks), frames))
            lat_py = _lcm_latencies(_lcm_book(bids, asks), frames)
    else:
        upd_py, pipe_py, lat_py = upd_lcm, pipe_lcm, lat_lcm

    # For reference: recomputing every metric on every frame (what the original design did).
    few = frames[: (100 if quick else 1_000)]
    every_lcm = len(few) / _lcm_metrics_every_frame(_lcm_book(bids, asks), few)
    every_base = len(few) / _base_metrics_every_frame(_base_book(bids, asks), few)

    py_rows = {
        0: ("book level updates/s [pure Python]", upd_py, upd_base, "updates/s"),
        2: ("pipeline frames/s (parse+apply+best) [pure Python]", pipe_py, pipe_base, "frames/s"),
        3: ("frame latency p50 [pure Python]", _pct(lat_py, 0.50), _pct(lat_base, 0.50), "µs"),
    }
    rows = []
    for i, row in enumerate([
        (f"book level updates/s [{tag}]", upd_lcm, upd_base, "updates/s"),
        ("metric ticks/s (1000-level book, all metrics)", tick_lcm, tick_base, "ticks/s"),
        ("metric tick, wide book (bands end inside the side)", 1e6 / tick_wide, None, "µs"),
        (f"pipeline frames/s (parse+apply+best) [{tag}]", pipe_lcm, pipe_base, "frames/s"),
        (f"frame latency p50 [{tag}]", _pct(lat_lcm, 0.50), _pct(lat_base, 0.50), "µs"),
        (f"frame latency p99 [{tag}]", _pct(lat_lcm, 0.99), _pct(lat_base, 0.99), "µs"),
        (f"frames/s with all metrics on every frame [{tag}]", every_lcm, every_base, "frames/s"),
    ]):
        rows.append(row)
        if is_c and i in py_rows:  # the pure-Python figure right under the C one
            rows.append(py_rows[i])
    return {
        "rows": rows,
        "notes": [f"core: book implementation {impl}" + ("; pure-Python rows measured alongside" if is_c else
                                                        " (C extension not built or LCM_PURE_PYTHON=1)")],
        "json": {
            "book_implementation": impl,
            "book_updates_per_s": {"lcm": upd_lcm, "baseline": upd_base, "lcm_pure_python": upd_py},
            "metric_ticks_per_s": {"lcm": tick_lcm, "baseline": tick_base},
            "metric_tick_us": {"lcm": 1e6 / tick_lcm, "baseline": 1e6 / tick_base, "lcm_wide_book": 1e6 / tick_wide},
            "pipeline_frames_per_s": {"lcm": pipe_lcm, "baseline": pipe_base, "lcm_pure_python": pipe_py},
            "frame_latency_p50_us": {"lcm": _pct(lat_lcm, 0.50), "baseline": _pct(lat_base, 0.50),
                                     "lcm_pure_python": _pct(lat_py, 0.50)},
            "frame_latency_p99_us": {"lcm": _pct(lat_lcm, 0.99), "baseline": _pct(lat_base, 0.99),
                                     "lcm_pure_python": _pct(lat_py, 0.99)},
            "metrics_every_frame_frames_per_s": {"lcm": every_lcm, "baseline": every_base},
            "workload": {"frames": n_frames, "level_updates": n_levels, "book_levels_per_side": LEVELS,
                         "seed": SEED},
        },
    }
