"""One consistent screen: every number drawn in a frame belongs to the book drawn in that frame.

A market buy walks the asks from the best one up, so its VWAP can never be below the best ask; a sell
never above the best bid (docs/metrics.md, slippage). The test drives the real engine (its monitor,
view and sample clock) over a book that moves between samples, as a live feed does, and reads each frame as drawn: the
best ask and bid the ladder shows beside the slippage table's VWAPs.
"""

from __future__ import annotations

import random

from ui_fakes import NOW_NS, settings

from lcm_tui.core.book import OrderBook
from lcm_tui.core.model import StreamStatus, SymbolState
from lcm_tui.frontends.tui.app import LcmApp
from lcm_tui.runtime.engine import Engine

FRAMES = 40
SAMPLE_EVERY = 10  # the sample clock at 1 s against a 10 fps display


def drifting_book(rng: random.Random) -> OrderBook:
    book = OrderBook("binance", "BTCUSDT")
    mid = 43_000.0
    book.load_snapshot(
        bids=[(f"{mid - 0.05 - i * 0.1:.2f}", f"{rng.uniform(0.01, 0.5):.5f}") for i in range(400)],
        asks=[(f"{mid + 0.05 + i * 0.1:.2f}", f"{rng.uniform(0.01, 0.5):.5f}") for i in range(400)],
    )
    return book


def move(book: OrderBook, rng: random.Random) -> None:
    """The market moves a few ticks: the top of one side is taken, the other side follows."""
    if rng.random() < 0.5:
        taken = book.asks.top(rng.randrange(3, 12))
        book.asks.apply([(p, "0") for p, _ in taken])
        best = float(taken[-1][0])
        book.bids.apply([(f"{best - 0.1 * (i + 1):.2f}", f"{rng.uniform(0.01, 0.5):.5f}") for i in range(3)])
    else:
        taken = book.bids.top(rng.randrange(3, 12))
        book.bids.apply([(p, "0") for p, _ in taken])
        best = float(taken[-1][0])
        book.asks.apply([(f"{best + 0.1 * (i + 1):.2f}", f"{rng.uniform(0.01, 0.5):.5f}") for i in range(3)])


def drawn_top(app: LcmApp) -> tuple[float, float]:
    """(best ask, best bid) as the ladder draws them: the rows just above and below the spread line."""
    ladder = app.book.ladder
    lines = [ladder.render_line(y).text for y in range(ladder.size.height)]
    i = next(n for n, ln in enumerate(lines) if "spread" in ln)
    return float(lines[i - 1].split()[0]), float(lines[i + 1].split()[0])


def drawn_vwaps(app: LcmApp) -> dict[str, list[float]]:
    """side -> the VWAP column of the slippage table as drawn."""
    out: dict[str, list[float]] = {"buy": [], "sell": []}
    for line in app.book.slippage.render().plain.splitlines()[2:]:
        side, _notional, vwap, *_ = line.split()
        out[side].append(float(vwap))
    return out


async def test_slippage_vwaps_agree_with_the_ladder_in_every_frame() -> None:
    rng = random.Random(11)
    s = settings()
    now = [NOW_NS]
    engine = Engine(s, mode="live", clock=lambda: now[0])
    st = SymbolState("binance", "BTCUSDT", drifting_book(rng), StreamStatus.LIVE, last_update_ns=NOW_NS)
    engine.monitor.add(st)
    app = LcmApp(s, engine.view, sample=engine.sample, clock=engine.now, timers=False)
    checked = 0
    async with app.run_test(size=(120, 40)) as pilot:
        app.select("binance", "BTCUSDT")
        for frame in range(FRAMES):
            if frame % SAMPLE_EVERY == 0:
                app.sample_now()
            move(st.book, rng)
            now[0] += 100_000_000
            app.refresh_views()
            await pilot.pause()
            ask, bid = drawn_top(app)
            vwaps = drawn_vwaps(app)
            assert vwaps["buy"] and vwaps["sell"]
            for v in vwaps["buy"]:
                assert v >= ask, f"frame {frame}: buy VWAP {v} below the best ask drawn {ask}"
            for v in vwaps["sell"]:
                assert v <= bid, f"frame {frame}: sell VWAP {v} above the best bid drawn {bid}"
            checked += 1
    assert checked == FRAMES


def test_an_unchanged_book_is_not_walked_again_and_a_changed_one_always_is() -> None:
    """The view reuses the last snapshot of a book that did not move (the TUI asks at every refresh) and
    never hands out a stale one: a changed book, a deeper request or a moved clock each get what is true now."""
    rng = random.Random(5)
    s = settings()
    now = [NOW_NS]
    engine = Engine(s, mode="live", clock=lambda: now[0])
    st = SymbolState("binance", "BTCUSDT", drifting_book(rng), StreamStatus.LIVE, last_update_ns=NOW_NS)
    engine.monitor.add(st)
    view = engine.view
    first = view.snapshot("binance", "BTCUSDT", 10)
    assert first is not None and first.metrics is not None
    assert view.snapshot("binance", "BTCUSDT", 10) is first  # nothing moved: the very same object

    deeper = view.snapshot("binance", "BTCUSDT", 50)
    assert deeper is not None and deeper.asks == st.book.asks.top(50) and deeper.bids == st.book.bids.top(50)
    shallow = view.snapshot("binance", "BTCUSDT", 3)
    assert shallow is not None and shallow.asks == st.book.asks.top(3) and shallow.metrics == first.metrics

    now[0] += 100_000_000  # the clock moved, the book did not: stamped now, same figures
    later = view.snapshot("binance", "BTCUSDT", 10)
    assert later is not None and later.metrics is not None
    assert later.ts_ns == later.metrics.ts_ns == now[0]
    assert later.metrics.slippage == first.metrics.slippage and later.asks == first.asks

    move(st.book, rng)  # the book moved: a buy can never fill below the new best ask
    moved = view.snapshot("binance", "BTCUSDT", 10)
    assert moved is not None and moved.metrics is not None
    assert moved.asks == st.book.asks.top(10) and moved.bids == st.book.bids.top(10)
    best_ask, best_bid = float(moved.asks[0][0]), float(moved.bids[0][0])
    assert moved.metrics.best_ask == moved.asks[0][0]
    for w in moved.metrics.slippage:
        if w.vwap is not None:
            assert w.vwap >= best_ask if w.side == "buy" else w.vwap <= best_bid


async def test_ladder_numbers_line_up_on_the_decimal_point() -> None:
    """Price, size and running size of every level have their decimal points in one column (issue: a running
    size of '0.82270' under '8.545' reads as ten times smaller at a glance)."""
    rng = random.Random(3)
    s = settings()
    engine = Engine(s, mode="live", clock=lambda: NOW_NS)
    st = SymbolState("binance", "BTCUSDT", drifting_book(rng), StreamStatus.LIVE, last_update_ns=NOW_NS)
    engine.monitor.add(st)
    # Sizes across a decade either side of 1, so running totals cross from 0.x to tens of units.
    st.book.asks.apply([(p, f"{rng.uniform(0.05, 3.0):.5f}") for p, _ in st.book.asks.top(30)])
    app = LcmApp(s, engine.view, sample=engine.sample, clock=engine.now, timers=False)
    async with app.run_test(size=(120, 40)) as pilot:
        app.select("binance", "BTCUSDT")
        app.refresh_views()
        await pilot.pause()
        ladder = app.book.ladder
        lines = [ladder.render_line(y).text for y in range(ladder.size.height)]
    rows = [ln for ln in lines[1:] if ln.strip() and "spread" not in ln]
    assert len(rows) > 20
    cum = [float(ln.split()[2]) for ln in rows]
    assert min(cum) < 1 < 10 < max(cum)  # the case that misaligned
    dots = {tuple(i for i, ch in enumerate(ln) if ch == ".")[:3] for ln in rows}
    assert len(dots) == 1, f"decimal points in {len(dots)} different places: {sorted(dots)[:4]}"
