"""The widgets' data logic (rows, markers, formatting, rate limits), without running an app."""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import pytest
from rich.console import Console
from ui_fakes import NOW_NS, filled_market, make_book, make_sample, settings

import lcm_tui
from lcm_tui.config import DetectorConfig
from lcm_tui.core.book import OrderBook
from lcm_tui.core.metrics import compute_sample
from lcm_tui.core.model import MetricSample, Slippage
from lcm_tui.core.view import BookSnapshot
from lcm_tui.frontends.tui import fmt
from lcm_tui.frontends.tui.app import LcmApp
from lcm_tui.frontends.tui.serve import served_command
from lcm_tui.frontends.tui.widgets.alerts import alerts_table, ordered
from lcm_tui.frontends.tui.widgets.depth_chart import DepthChart, cumulative, figure_for
from lcm_tui.frontends.tui.widgets.ladder import bar, ladder_rows, trim_common_zeros
from lcm_tui.frontends.tui.widgets.slippage import slippage_table
from lcm_tui.frontends.tui.widgets.venues import rows_for_asset
from lcm_tui.frontends.tui.widgets.zscores import severity_class, z_text


def plain(renderable: object, width: int = 100) -> str:
    c = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    c.print(renderable)
    return c.export_text()


def snap_of(book: OrderBook, depth: int = 1000, metrics: MetricSample | None = None) -> BookSnapshot:
    if metrics is None and not book.is_empty():
        metrics = compute_sample(book, book.venue, book.symbol, NOW_NS, [10, 50], [])
    return BookSnapshot(book.venue, book.symbol, NOW_NS, book.bids.top(depth), book.asks.top(depth), metrics)


def simple_book() -> OrderBook:
    b = OrderBook("t", "X")
    # mid 100: 10 bps = 0.1, 50 bps = 0.5
    b.load_snapshot(bids=[("99.95", "1"), ("99.92", "2"), ("99.6", "3"), ("99.0", "4")],
                    asks=[("100.05", "1"), ("100.08", "2"), ("100.4", "3"), ("101.0", "4")])
    return b


def test_ladder_rows_cumulate_from_the_top_and_mark_band_ends() -> None:
    asks, bids, seen = ladder_rows(simple_book(), 10, [10, 50], None)
    assert [r.price for r in asks] == ["100.05", "100.08", "100.40", "101.00"]  # aligned on the point
    assert [r.cum_size for r in asks] == [1, 3, 6, 10]
    assert asks[1].cum_quote == pytest.approx(100.05 + 2 * 100.08)
    # 100.08 is the last ask inside 10 bps (100.10), 100.4 the last inside 50 bps (100.50)
    assert [r.marker for r in asks] == ["", "10", "50", ""]
    assert [r.marker for r in bids] == ["", "10", "50", ""]
    assert not any(r.changed for r in asks + bids)  # nothing to compare with yet
    assert len(seen) == 8


def test_ladder_marker_sits_on_a_level_exactly_on_the_band_edge() -> None:
    """Bid 1.019, asks 1.021 / 1.02102: mid 1.02, the +10 bps edge is 1.02 * 1.001 = 1.02102 exactly, so that
    ask is inside the band (docs/metrics.md: p <= m(1 + x/10^4)) and the 10 bps marker is on it, not on 1.021."""
    b = OrderBook("t", "X")
    b.load_snapshot(bids=[("1.019", "1"), ("1.0", "1")], asks=[("1.021", "1"), ("1.02102", "1"), ("1.03", "1")])
    asks, _, _ = ladder_rows(b, 5, [10], None)
    assert [(r.price, r.marker) for r in asks] == [("1.02100", ""), ("1.02102", "10"), ("1.03000", "")]


def test_ladder_marks_the_widest_band_when_several_end_on_one_level() -> None:
    b = OrderBook("t", "X")
    b.load_snapshot(bids=[("99.99", "1"), ("90", "1")], asks=[("100.01", "1"), ("110", "1")])
    asks, _, _ = ladder_rows(b, 5, [10, 50, 100], None)
    assert asks[0].marker == "100"


def test_ladder_flags_changed_and_new_levels_only() -> None:
    book = simple_book()
    _, _, seen = ladder_rows(book, 10, [10], None)
    book.asks.apply([("100.08", "2.5"), ("100.06", "1")])
    asks, bids, _ = ladder_rows(book, 10, [10], seen)
    assert {r.price for r in asks if r.changed} == {"100.06", "100.08"}
    assert not any(r.changed for r in bids)


def test_levels_that_only_scroll_into_view_are_not_flagged() -> None:
    book = simple_book()
    _, _, seen = ladder_rows(book, 2, [10], None)  # a short ladder shows two levels a side
    book.bids.apply([("99.93", "5")])  # a new level inside the shown range
    asks, bids, _ = ladder_rows(book, 10, [10], seen)  # the ladder grew
    assert not any(r.changed for r in asks)
    assert [r.price for r in bids if r.changed] == ["99.93"]


def test_trim_common_zeros_keeps_exact_aligned_decimals() -> None:
    assert trim_common_zeros(["1.50000000", "1.25000000"]) == ["1.50", "1.25"]
    assert trim_common_zeros(["100.00000000", "99.00000000"]) == ["100.0", "99.0"]
    # aligned on the point: fewer decimals are padded with zeros (still the exact value)
    assert trim_common_zeros(["7", "8.5"]) == ["7.0", "8.5"]
    assert trim_common_zeros(["1.021", "1.02102", "1.03"]) == ["1.02100", "1.02102", "1.03000"]
    assert trim_common_zeros(["100", "99"]) == ["100", "99"]


def test_bar_resolution() -> None:
    assert bar(1.0, 4) == "████"
    assert bar(0.5, 4) == "██  "
    assert bar(1 / 32, 4) == "▏   "
    assert bar(0.0, 3) == "   "


async def test_ladder_draws_asks_over_bids_with_the_spread_between() -> None:
    from textual.app import App, ComposeResult

    from lcm_tui.frontends.tui.widgets.ladder import DepthLadder

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield DepthLadder([10, 50])

    app = One()
    async with app.run_test(size=(70, 12)) as pilot:
        ladder = app.query_one(DepthLadder)
        ladder.snapshot = snap_of(simple_book())
        await pilot.pause()
        lines = [ladder.render_line(y).text for y in range(12)]
    assert "PRICE" in lines[0]
    prices = [ln.split()[0] for ln in lines[1:] if ln.strip() and "spread" not in ln]
    assert prices == ["101.00", "100.40", "100.08", "100.05", "99.95", "99.92", "99.60", "99.00"]
    spread = next(ln for ln in lines if "spread" in ln)
    assert "10.00 bps" in spread and "mid 100.0000" in spread
    assert lines.index(spread) == 6  # header, one blank (5 rows per side, 4 asks), 4 asks
    assert lines[3].split()[-2:] == ["50", "█" * 18 + "▊"]  # 100.4 ends the 50 bps band; size 3 of 4 (25 cells)


def test_slippage_table_shows_na_and_filled_amount_when_unfillable() -> None:
    s = settings()
    book = make_book("kraken", "ETH/USD", random.Random(1))
    sample = make_sample("kraken", "ETH/USD", book, random.Random(1), s.metrics.notionals,
                         s.metrics.depth_bands_bps, unfillable_from=1_000_000.0)
    text = plain(slippage_table(sample, s.metrics.notionals, 40))
    sell_1m = next(ln for ln in text.splitlines() if "sell 1M" in ln)
    assert "fills 600.0k" in sell_1m and "n/a" in sell_1m
    buy_1m = next(ln for ln in text.splitlines() if "buy 1M" in ln)
    assert "n/a" not in buy_1m


def test_slippage_table_without_sample() -> None:
    text = plain(slippage_table(None, [10_000.0], 40))
    assert "buy 10k" in text and "sell 10k" in text


def test_zscore_severity_direction() -> None:
    cfg = DetectorConfig()
    assert severity_class("depth", -4.2, cfg) == "-high"
    assert severity_class("depth", 4.2, cfg) == "-ok"  # more depth is not a crunch
    assert severity_class("spread", 5.0, cfg) == "-critical"
    assert severity_class("slip_buy", 3.0, cfg) == "-warning"
    assert severity_class("slip_sell", None, cfg) == "-warmup"
    assert z_text("depth", None, cfg).strip() == "warm-up ≤-3"
    assert z_text("spread", 3.25, cfg).strip() == "+3.25 ≥3"


def test_alerts_newest_first_and_rows_stay_put_when_one_closes() -> None:
    m = filled_market()
    got = ordered(m.alert_list, 10)
    assert [a.signal for a in got] == ["slip_sell", "depth", "spread"]
    text = plain(alerts_table(m.alert_list, 10, 120), width=120)
    assert "CRITICAL" in text and "open" in text and "closed 15:05:00" in text
    m.alert_list[1].closed_ns = NOW_NS  # the depth alert closes: it keeps its row, its state says so
    assert [a.signal for a in ordered(m.alert_list, 10)] == ["slip_sell", "depth", "spread"]
    rows = plain(alerts_table(m.alert_list, 10, 40), width=40).splitlines()
    assert rows[0].split()[-1] == "state"
    # narrow: each alert on two lines, the second its venue and symbol in full
    assert [r.split()[-1] for r in rows[2::2]] == ["CRIT", "closed", "closed"]
    assert [r.strip() for r in rows[3::2]] == ["binance BTCUSDT", "binance BTCUSDT", "okx BTC-USDT"]


def test_venue_rows_group_by_canonical_and_number_by_config_order() -> None:
    m = filled_market()
    streams = [(sv, m.latest(*sv.key)) for sv in m.streams()]
    rows = rows_for_asset(streams, "kraken", "BTC/USD")
    assert [(r.venue, r.symbol) for r in rows] == [
        ("kraken", "BTC/USD"), ("coinbase", "BTC-USD"),  # the current group first
        ("binance", "BTCUSDT"), ("bybit-spot", "BTCUSDT"), ("okx", "BTC-USDT"),
    ]
    assert [r.number for r in rows] == [4, 5, 1, 2, 3]
    assert [r.selected for r in rows] == [True, False, False, False, False]


def test_chart_redraws_at_most_max_hz() -> None:
    t = [100.0]
    chart = DepthChart(2.0, [10, 50], monotonic=lambda: t[0])
    book = simple_book()
    chart.show(snap_of(book), "x")
    chart.show(snap_of(book), "x")
    assert chart.draws == 1
    t[0] += 0.49
    chart.show(snap_of(book), "x")
    assert chart.draws == 1
    t[0] += 0.02
    chart.show(snap_of(book), "x")
    assert chart.draws == 2
    chart.invalidate()  # a new stream is drawn at once
    chart.show(snap_of(book), "y")
    assert chart.draws == 3


def test_chart_cumulative_stays_inside_the_band() -> None:
    book = simple_book()
    fig = figure_for(snap_of(book), [10, 50])
    asks = next(sr for sr in fig.series if sr.label == "asks")
    xs, ys = asks.xs, asks.ys
    assert fig.span_bps == 50 and cumulative(book.asks, 100.0, 3) == (xs, ys)
    assert xs == pytest.approx([5.0, 8.0, 40.0])
    assert ys == pytest.approx([100.05, 100.05 + 200.16, 100.05 + 200.16 + 301.2])


def test_bps_never_shows_a_negative_zero() -> None:
    assert fmt.bps(-0.004) == "0.00" and fmt.bps(-0.0) == "0.00" and fmt.bps(-0.005001) == "-0.01"
    assert fmt.bps(-0.2) == "-0.20" and fmt.bps(-1234.4) == "-1234"


def test_formatting() -> None:
    assert fmt.compact(1_234_567) == "1.2M"
    assert fmt.compact(None) == "n/a"
    assert fmt.notional(1_000_000) == "1M" and fmt.notional(250_000) == "250k"
    assert fmt.price(43012.345678) == "43012.35" and fmt.price(0.0123456) == "0.01234560"
    assert fmt.age(NOW_NS, NOW_NS - 2_500_000_000) == "2.5s" and fmt.age(NOW_NS, 0) == "-"
    assert fmt.clock_time(NOW_NS) == "16:00:00"


def test_served_command_repeats_the_options() -> None:
    ns = argparse.Namespace(config="my.yaml", fps=5.0, record=True, log_file="x.log", verbose=False, demo=True,
                            host="127.0.0.1", port=8000)
    cmd = served_command(ns)
    assert cmd.endswith("-m lcm_tui --config my.yaml --fps 5.0 --record --log-file x.log --demo")


def test_stylesheet_is_inside_the_package() -> None:
    """CSS_PATH is relative to app.py and must resolve inside the package (so installs find it)."""
    css = (Path(lcm_tui.__file__).parent / "frontends" / "tui" / LcmApp.CSS_PATH).resolve()
    assert css.is_file() and css.name == "app.tcss"
    assert (Path(lcm_tui.__file__).parent / "styles" / "app.tcss").is_file()


async def test_real_monitor_feeds_the_panels() -> None:
    """The app over the real engine: sampling fills the slippage table and the venues overview."""
    from lcm_tui.runtime.engine import Engine

    s = settings()
    engine = Engine(s, mode="live", clock=lambda: NOW_NS)
    m = engine.monitor
    src = filled_market(s)
    for st in src.states.values():
        m.add(st)
    app = LcmApp(s, engine.view, sample=engine.sample, clock=engine.now, timers=False)
    async with app.run_test(size=(120, 40)):
        assert not m.latest
        app.sample_now()
        app.refresh_views()
        assert ("binance", "BTCUSDT") in m.latest
        # The table shows the walks of the book drawn, which has not moved since the sample.
        assert app.book.slippage.walks == tuple(m.latest[("binance", "BTCUSDT")].slippage)
        slip = m.latest[("binance", "BTCUSDT")].slip("buy", 10_000.0)
        assert isinstance(slip, Slippage) and slip.fillable
        assert ("coinbase", "ETH-USD") not in m.latest  # DOWN streams are not sampled
