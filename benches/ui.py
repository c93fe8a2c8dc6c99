"""UI benchmarks: refresh cost per frame, frame-to-screen latency, and the ladder against a DataTable.

* refresh: five venues with 1000-level books, the 200x60 layout (every panel visible); one frame is
  ``refresh_views()`` (model -> widgets) plus the screen update Textual does for the changed widgets.
  Target < 16 ms. One frame in ten also has a new sample (tables, sparklines); every fifth redraws the
  plotext chart (2/s), reported apart. As in the app, the chart's figure is built in a thread once the
  frame is on screen: a chart frame counts all the event-loop work until the new chart is on screen, i.e.
  the frame plus the repaint of the chart rows that changed when the thread's result arrives (two screen
  updates, summed; the repaint is also shown alone), and the thread's CPU is reported next to it (total
  CPU = both). Every other chart frame builds on the event loop instead (as with timers off, in tests),
  for comparison. Half the chart frames of either kind also carry a sample. A full-screen re-render is
  reported as an upper bound. The app's full garbage collections run after a frame is on screen, not
  inside one (see ``LcmApp.on_mount``): they are reported apart, with how often they come.
* latency: the app at 10 fps with its real timers, frames applied to the shown book at ~200/s; the
  delay is from a frame's arrival until the ladder draws a snapshot taken after it. A frame
  waits for the next refresh tick (uniform over one period), then the draw: p99 is about
  0.99/fps + the draw time, so ~104 ms at 10 fps against the 100 ms target (~91 ms at --fps 12).
* ladder vs DataTable: the same 50 rows x 6 columns; one update is a new book slice rendered to
  lines (DataTable: ``clear`` + ``add_rows`` + its idle-time dimension update, since levels come and
  go and rows shift, so cells cannot be updated in place).

Benchmarks measure; they never assert.
"""

from __future__ import annotations

import asyncio
import gc
import random
import statistics
import time
from typing import Any

from textual import events
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import DataTable

from lcm_tui.config import Settings, parse_settings
from lcm_tui.core.book import OrderBook
from lcm_tui.core.model import StreamStatus, SymbolState
from lcm_tui.core.view import BookSnapshot
from lcm_tui.frontends.tui import fmt
from lcm_tui.frontends.tui.app import LcmApp
from lcm_tui.frontends.tui.widgets.ladder import DepthLadder, ladder_rows
from lcm_tui.runtime.engine import Engine

VENUES = {"binance": "BTCUSDT", "bybit-spot": "BTCUSDT", "okx": "BTC-USDT", "kraken": "BTC/USD",
          "coinbase": "BTC-USD"}


def _settings(fps: float = 10.0) -> Settings:
    s = parse_settings({"exchanges": {v: {"symbols": [sym]} for v, sym in VENUES.items()}})
    s.ui.fps = fps
    return s


def _book(venue: str, symbol: str, rng: random.Random, levels: int = 1000) -> OrderBook:
    b = OrderBook(venue, symbol)
    mid = 43_000.0
    b.load_snapshot(
        bids=[(f"{mid - 0.05 - i * 0.1:.2f}", f"{rng.lognormvariate(-1.5, 1):.6f}") for i in range(levels)],
        asks=[(f"{mid + 0.05 + i * 0.1:.2f}", f"{rng.lognormvariate(-1.5, 1):.6f}") for i in range(levels)],
    )
    return b


def _touch(book: OrderBook, rng: random.Random, n: int = 20) -> None:
    """A frame's worth of updates near the top of the book."""
    for _ in range(n):
        side = book.bids if rng.random() < 0.5 else book.asks
        k = side.keys[rng.randrange(min(50, len(side.keys)))]
        side.set_level(side.levels[k][1], f"{rng.lognormvariate(-1.5, 1):.6f}")


def _engine(s: Settings, rng: random.Random, clock: Any = time.time_ns) -> Engine:
    """The app's real engine and view over five books (no feeds: the bench moves the books itself)."""
    e = Engine(s, mode="live", clock=clock)
    for venue, sym in VENUES.items():
        e.monitor.add(SymbolState(venue, sym, _book(venue, sym, rng), StreamStatus.LIVE, last_update_ns=time.time_ns()))
    e.sample()
    return e


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def _refresh(quick: bool) -> dict[str, float]:
    """CPU per frame: ``refresh_views()`` plus the screen update Textual then does for the dirty widgets.

    The screen's layout and compositor calls are timed where they run (inside ``pilot.pause()``), so
    event-loop waits are not counted. A full re-render of the whole screen is measured too, as an upper
    bound (Textual only redraws what changed).
    """
    rng = random.Random(1)
    s = _settings()
    e = _engine(s, rng)
    m = e.monitor
    app = LcmApp(s, e.view, sample=e.sample, timers=False, freeze_gc=True)
    n = 60 if quick else 300
    frame: list[float] = []
    frame_chart: list[float] = []
    frame_chart_sync: list[float] = []
    chart_thread: list[float] = []
    chart_repaint: list[float] = []
    full: list[float] = []
    gc_full: list[float] = []  # the app's full collections, which run after a frame is on screen
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        chart = app.book.chart
        chart.monotonic = lambda: 0.0  # the chart redraws only on the frames chosen below
        screen = app.screen
        spent = [0.0, 0.0]  # this frame's event-loop work; [1]: the part after the thread's chart arrived
        thread_builds = [0]

        def timed(fn: Any) -> Any:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                t = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    dt = time.perf_counter() - t
                    spent[0] += dt
                    if chart.thread_builds != thread_builds[0]:
                        spent[1] += dt
            return wrapper

        screen._compositor_refresh = timed(screen._compositor_refresh)  # type: ignore[method-assign]
        screen._refresh_layout = timed(screen._refresh_layout)  # type: ignore[method-assign]
        collect = app._collect_after_frame

        def timed_collect() -> None:  # not part of any frame: timed apart
            t = time.perf_counter()
            collect()
            gc_full.append((time.perf_counter() - t) * 1e3)

        app._collect_after_frame = timed_collect  # type: ignore[method-assign]
        for i in range(n):
            for st in m.states.values():
                _touch(st.book, rng)
            if i % 10 == 0:
                m.sample(time.time_ns())  # the sample clock: 1/s at 10 fps
            redraw_chart = i % 5 == 0  # the chart is due at 2/s, i.e. every 5th frame at 10 fps
            # The app's way on frames 0 and 5 of 20, on the event loop on 10 and 15 (samples fall on 0 and 10).
            chart.threaded = i % 20 < 10
            if redraw_chart:
                chart.invalidate()
            cpu0 = chart.thread_cpu_s
            thread_builds[0] = chart.thread_builds
            spent[0] = spent[1] = 0.0
            t0 = time.perf_counter()
            app.refresh_views()
            spent[0] += time.perf_counter() - t0
            await pilot.pause()
            if redraw_chart and chart.threaded:
                for _ in range(2000):  # the thread's figure comes back as a message; the loop is idle meanwhile
                    if chart.is_current:
                        break
                    await asyncio.sleep(0.001)
                await pilot.pause()  # the repaint of the rows that changed
                chart_thread.append((chart.thread_cpu_s - cpu0) * 1e3)
                chart_repaint.append(spent[1] * 1e3)
            if redraw_chart:
                (frame_chart if chart.threaded else frame_chart_sync).append(spent[0] * 1e3)
            else:
                frame.append(spent[0] * 1e3)
            t0 = time.perf_counter()
            screen._compositor.render_update(full=True)
            full.append((time.perf_counter() - t0) * 1e3)
    return {"refresh_p50_ms": statistics.median(frame), "refresh_p99_ms": _pct(frame, 0.99),
            "refresh_chart_p50_ms": statistics.median(frame_chart), "refresh_chart_p99_ms": _pct(frame_chart, 0.99),
            "chart_repaint_p50_ms": statistics.median(chart_repaint),
            "chart_thread_cpu_p50_ms": statistics.median(chart_thread),
            "refresh_chart_on_loop_p50_ms": statistics.median(frame_chart_sync),
            "full_render_p50_ms": statistics.median(full),
            "gc_full_p50_ms": statistics.median(gc_full) if gc_full else 0.0,
            "gc_full_max_ms": max(gc_full, default=0.0), "gc_full_per_100_frames": 100 * len(gc_full) / n}


async def _latency(quick: bool) -> dict[str, float]:
    rng = random.Random(2)
    s = _settings(fps=10.0)
    # Snapshots are stamped with the engine's clock: perf_counter, so a paint is matched to the arrivals
    # its snapshot includes.
    e = _engine(s, rng, clock=time.perf_counter_ns)
    m = e.monitor
    app = LcmApp(s, e.view, sample=e.sample, timers=True, freeze_gc=True)
    paints: list[tuple[float, int]] = []
    arrivals: list[tuple[float, int]] = []
    duration = 2.0 if quick else 6.0
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        ladder = app.book.ladder
        draw = ladder._render_all

        def timed_draw() -> Any:
            paints.append((time.perf_counter(), ladder.shown_ts))
            return draw()

        ladder._render_all = timed_draw  # type: ignore[method-assign]
        book = m.states[(app.venue, app.symbol)].book
        end = time.perf_counter() + duration
        while time.perf_counter() < end:
            await asyncio.sleep(rng.expovariate(200.0))
            _touch(book, rng, 5)
            arrivals.append((time.perf_counter(), time.perf_counter_ns()))
        await pilot.pause(0.3)
    delays = []
    j = 0
    for t_a, v in arrivals:
        while j < len(paints) and (paints[j][1] < v or paints[j][0] < t_a):
            j += 1
        if j == len(paints):
            break
        delays.append((paints[j][0] - t_a) * 1e3)
    return {"latency_p50_ms": statistics.median(delays), "latency_p99_ms": _pct(delays, 0.99),
            "latency_frames": float(len(delays))}


class _LadderApp(App[None]):
    def compose(self) -> ComposeResult:
        yield DepthLadder([10, 50, 100, 200])


class _TableApp(App[None]):
    def compose(self) -> ComposeResult:
        t: DataTable[str] = DataTable(show_cursor=False)
        t.add_columns("price", "size", "cum size", "cum quote", "band", "bar")
        yield t


async def _ladder_vs_table(quick: bool) -> dict[str, float]:
    """Model -> widget -> rendered lines, synchronously, for the same rows in both widgets."""
    rng = random.Random(3)
    book = _book("binance", "BTCUSDT", rng)
    n = 100 if quick else 400
    size = (90, 52)  # 25 levels a side
    bands = [10, 50, 100, 200]
    ladder_ms: list[float] = []
    table_ms: list[float] = []
    async with _LadderApp().run_test(size=size) as pilot:
        ladder = pilot.app.query_one(DepthLadder)
        region = Region(0, 0, *ladder.size)
        for _ in range(n):
            _touch(book, rng)
            t0 = time.perf_counter()
            ladder.snapshot = BookSnapshot("binance", "BTCUSDT", 0, book.bids.top(26), book.asks.top(26), None)
            ladder.render_lines(region)
            ladder_ms.append((time.perf_counter() - t0) * 1e3)
    async with _TableApp().run_test(size=size) as pilot:
        table = pilot.app.query_one(DataTable)
        region = Region(0, 0, *table.size)
        prev = None
        for _ in range(n):
            _touch(book, rng)
            t0 = time.perf_counter()
            asks, bids, prev = ladder_rows(book, 25, bands, prev)
            table.clear()
            table.add_rows([(r.price, r.size_str, fmt.size(r.cum_size), fmt.compact(r.cum_quote), r.marker, "")
                            for r in [*reversed(asks), *bids]])
            await table._on_idle(events.Idle())  # the dimension update DataTable defers to idle time
            table.render_lines(region)
            table_ms.append((time.perf_counter() - t0) * 1e3)
    lad, tab = statistics.median(ladder_ms), statistics.median(table_ms)
    return {"ladder_update_ms": lad, "datatable_update_ms": tab, "datatable_over_ladder": tab / lad}


async def _all(quick: bool) -> dict[str, float]:
    out: dict[str, float] = {}
    out.update(await _refresh(quick))
    out.update(await _latency(quick))
    out.update(await _ladder_vs_table(quick))
    return out


def run(quick: bool = False) -> dict[str, Any]:
    try:
        r = asyncio.run(_all(quick))
    finally:
        gc.unfreeze()  # the apps froze the heap as lcm-tui does at start-up; give it back to the other benches
    rows = [
        ("ui refresh+render 5 venues 200x60 p50", r["refresh_p50_ms"], None, "ms"),
        ("ui refresh+render 5 venues 200x60 p99", r["refresh_p99_ms"], None, "ms"),
        ("ui refresh+render, chart redraw p50 (loop)", r["refresh_chart_p50_ms"], None, "ms"),
        ("ui refresh+render, chart redraw p99 (loop)", r["refresh_chart_p99_ms"], None, "ms"),
        ("ui   of which repaint on the thread's result", r["chart_repaint_p50_ms"], None, "ms"),
        ("ui   + chart build in its thread, CPU p50", r["chart_thread_cpu_p50_ms"], None, "ms"),
        ("ui chart redraw built on the loop p50", r["refresh_chart_on_loop_p50_ms"], None, "ms"),
        ("ui full-screen re-render 200x60 p50 (bound)", r["full_render_p50_ms"], None, "ms"),
        ("ui full gc, after a frame is on screen p50", r["gc_full_p50_ms"], None, "ms"),
        ("ui full gc, after a frame is on screen max", r["gc_full_max_ms"], None, "ms"),
        ("ui full gcs per 100 frames", r["gc_full_per_100_frames"], None, ""),
        ("ui frame->screen delay @10fps p50", r["latency_p50_ms"], None, "ms"),
        ("ui frame->screen delay @10fps p99", r["latency_p99_ms"], None, "ms"),
        ("ui ladder update (vs DataTable)", r["ladder_update_ms"], r["datatable_update_ms"], "ms"),
    ]
    return {"rows": rows, "json": {f"ui_{k}": round(v, 3) for k, v in r.items()}}


if __name__ == "__main__":
    import sys

    res = run(quick="--quick" in sys.argv)
    for label, v, base, unit in res["rows"]:
        print(f"{label:45s} {v:9.2f} {unit}" + (f"   baseline {base:9.2f} {unit}" if base is not None else ""))
