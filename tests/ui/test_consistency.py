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
