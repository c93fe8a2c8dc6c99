"""Every key binding, the runner crash path, the timers and the command palette, driven with Pilot."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from textual.widgets import OptionList
from ui_fakes import NOW_NS, FakeMarket, fake_view, filled_market, settings

from lcm_tui.config import ConfigError
from lcm_tui.frontends.tui.app import FULL_GC_EVERY, LcmApp
from lcm_tui.frontends.tui.commands import StreamProvider
from lcm_tui.frontends.tui.screens.help import HelpScreen
from lcm_tui.frontends.tui.screens.market import ConsolidatedScreen, VenuesScreen

SIZE = (100, 30)


def make_app(market: FakeMarket | None = None, **kw: Any) -> LcmApp:
    ui = kw.pop("ui", {})
    s = settings(**ui)
    m = market or filled_market(s)
    kw.setdefault("clock", lambda: NOW_NS)
    kw.setdefault("timers", False)
    kw.setdefault("sample", m.sample)
    return LcmApp(s, fake_view(m), **kw)


def fake(app: LcmApp) -> FakeMarket:
    assert isinstance(app.view, FakeMarket)
    return app.view


def status_text(app: LcmApp) -> str:
    page = app.page_screen
    assert page is not None
    return str(page.status_line.render())


async def until(pilot: Any, cond: Any, what: str, steps: int = 500) -> None:
    """Let the app run until ``cond()`` holds (bounded, so a broken app fails instead of hanging)."""
    for _ in range(steps):
        if cond():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_symbol_keys_cycle_within_the_venue() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        assert (app.venue, app.symbol) == ("binance", "BTCUSDT")
        await pilot.press("down")
        assert (app.venue, app.symbol) == ("binance", "ETHUSDT")
        await pilot.press("down")
        assert app.symbol == "BTCUSDT"
        await pilot.press("up")
        assert app.symbol == "ETHUSDT"
        assert "ETHUSDT" in status_text(app)


async def test_venue_keys_keep_the_asset() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("down")  # binance ETHUSDT
        await pilot.press("right")
        assert (app.venue, app.symbol) == ("bybit-spot", "ETHUSDT")
        await pilot.press("right")
        assert (app.venue, app.symbol) == ("okx", "ETH-USDT")
        await pilot.press("right")  # kraken has ETH/USD only: same base asset
        assert (app.venue, app.symbol) == ("kraken", "ETH/USD")
        await pilot.press("left", "left", "left")
        assert (app.venue, app.symbol) == ("binance", "ETHUSDT")
        await pilot.press("left")  # wraps around
        assert app.venue == "coinbase"


async def test_digits_pick_venues_and_ignore_missing_ones() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        for digit, venue in (("3", "okx"), ("5", "coinbase"), ("1", "binance"), ("4", "kraken")):
            await pilot.press(digit)
            assert app.venue == venue
        await pilot.press("9")  # only five venues: the venue stays, and the user is told why
        assert app.venue == "kraken"
        assert [n.message for n in app._notifications] == ["no venue 9: 5 venues configured"]


async def test_pause_freezes_the_display_until_resumed() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        book = fake(app).states[("binance", "BTCUSDT")].book
        await pilot.press("space")
        assert app.paused and "PAUSED" in status_text(app)
        best = book.best_ask()
        assert best is not None
        book.asks.apply([(best[0], "0")])  # the best ask goes away
        app.refresh_views()
        assert app.book.ladder._asks[0].price.rstrip("0") == best[0].rstrip("0")  # still the old book
        await pilot.press("space")
        assert not app.paused and "PAUSED" not in status_text(app)
        assert app.book.ladder._asks[0].price.rstrip("0") != best[0].rstrip("0")


async def test_page_keys_switch_and_return() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")
        venues = app.page_screen
        assert app.current_mode == "venues" and isinstance(venues, VenuesScreen) and venues.table._rows
        await pilot.press("c")
        assert app.current_mode == "consolidated"
        await pilot.press("c")
        assert app.current_mode == "book"
        await pilot.press("v", "v")
        assert app.current_mode == "book"


@pytest.mark.parametrize("key,panel", [("g", "chart"), ("z", "zscores"), ("a", "alerts"), ("s", "slippage")])
async def test_panel_toggles(key: str, panel: str) -> None:
    app = make_app()
    async with app.run_test(size=(130, 40)) as pilot:
        w = app.book.panel(panel)
        before = w.display
        await pilot.press(key)
        assert w.display is not before
        await pilot.press(key)
        assert w.display is before


async def test_chart_is_off_at_80_columns_and_on_when_wider() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.book.chart
        assert not chart.display
        await pilot.resize_terminal(130, 40)
        await until(pilot, lambda: chart.display, "chart shown after resize")
        await until(pilot, lambda: chart.draws >= 1, "chart drawn after resize")
        await pilot.resize_terminal(200, 60)
        await until(pilot, lambda: app.book.venues_strip.display, "venues strip in the wide layout")


async def test_theme_key_cycles_through_ansi_themes() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        seen = []
        for _ in range(4):
            await pilot.press("t")
            seen.append(app.theme)
        assert seen == ["textual-light", "ansi-dark", "ansi-light", "nord"]


async def test_help_opens_and_closes() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_quit() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, "exit")


async def test_keys_are_remappable_and_help_shows_the_new_key() -> None:
    app = make_app(ui={"keys": {"next_symbol": "n", "quit": "x"}})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("down")  # no longer bound
        assert app.symbol == "BTCUSDT"
        await pilot.press("n")
        assert app.symbol == "ETHUSDT"
        assert ("n / ↑", "next / previous symbol on this venue") in app.help_rows()
        await pilot.press("q")
        assert app.is_running
        await pilot.press("x")
        await until(pilot, lambda: not app.is_running, "exit on the remapped key")


def test_unknown_action_in_keymap_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"ui\.keys\.next_symbl"):
        settings(keys={"next_symbl": "n"})


def test_unknown_theme_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"ui\.theme"):
        settings(theme="no-such-theme")


async def test_palette_opens_on_ctrl_p() -> None:
    from textual.command import CommandPalette

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the command palette")
        await pilot.press(*"okx eth")

        def first_hit() -> str:
            hits = app.screen.query_one("CommandList", OptionList)
            return str(hits.get_option_at_index(0).prompt) if hits.option_count else ""

        await until(pilot, lambda: "okx ETH-USDT" in first_hit(), "the okx ETH hit")
        await pilot.press("enter")
        await until(pilot, lambda: (app.venue, app.symbol) == ("okx", "ETH-USDT"), "the palette to select the stream")


async def test_palette_provider_lists_and_selects_streams() -> None:
    app = make_app()
    async with app.run_test(size=SIZE):
        provider = StreamProvider(app.screen)
        hits = [h async for h in provider.search("krakeneth")]
        assert [str(h.text) for h in hits] == ["kraken ETH/USD"]
        hits[0].command()
        assert (app.venue, app.symbol) == ("kraken", "ETH/USD")
        found = [str(h.text) async for h in _discover(provider)]
        assert len(found) == 10


async def _discover(provider: StreamProvider) -> Any:
    async for h in provider.discover():
        yield h


async def test_timers_sample_and_refresh() -> None:
    """With timers on, the monitor is sampled on its clock and frames reach the ladder on the refresh tick."""
    m = filled_market()
    s = settings(fps=50)
    s.metrics.sample_interval_s = 0.02
    ticks = iter(range(NOW_NS, NOW_NS + 10**15, 10**8))
    app = LcmApp(s, m, sample=m.sample, clock=lambda: next(ticks), timers=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(m.sample_calls) >= 2, "two samples")
        assert m.sample_calls == sorted(m.sample_calls)
        book = m.states[("binance", "BTCUSDT")].book
        best = book.best_bid()
        assert best is not None
        book.bids.apply([(best[0], "0")])
        new_best = book.best_bid()
        assert new_best is not None
        await until(pilot, lambda: app.book.ladder._bids[0].price.rstrip("0") == new_best[0].rstrip("0"),
                    "the ladder to show the new best bid")


async def test_open_alerts_are_counted_in_the_header_at_80x24() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)):
        assert "2 ALERTS" in status_text(app)  # two of the fake's three alerts are open
        for a in fake(app).alert_list:
            a.closed_ns = NOW_NS
        app.refresh_views()
        assert "ALERT" not in status_text(app)


async def test_frames_per_second_from_the_counters() -> None:
    m = filled_market()
    now = [NOW_NS]
    app = make_app(m, clock=lambda: now[0])
    async with app.run_test(size=SIZE):
        st = m.states[("binance", "BTCUSDT")]
        app.refresh_views()
        now[0] += 10**9
        st.counters.frames += 250
        app.refresh_views()
        assert "250 frames/s" in status_text(app)


async def test_recorder_status_in_the_header() -> None:
    """The header shows the recorder's own summary: the reason it is down, the spill size and what was lost."""
    from lcm_tui.record import RecorderStatus

    status = RecorderStatus(rows_written=42, queue_depth=3, lag_s=0.5, spilled_rows=0, down_since=None,
                            last_error=None)

    class Rec:
        def status(self) -> RecorderStatus:
            return status

    app = make_app(recorder=Rec())
    async with app.run_test(size=(200, 30)):
        assert "rec 42 rows | q 3 | lag 0.5s" in status_text(app)
        status = RecorderStatus(rows_written=42, queue_depth=0, lag_s=0.0, spilled_rows=192,
                                down_since=NOW_NS / 1e9 - 30, last_error="connection refused",
                                dropped_rows=7, spill_bytes=2_500_000)
        app.refresh_views()
        text = status_text(app)
        assert "rec DOWN 30s" in text and "spill 192 rows (2.5 MB)" in text and "7 DROPPED" in text
        assert "connection refused" in text


async def test_full_collections_run_after_a_frame_not_inside_one() -> None:
    """With the heap frozen, automatic full collections are off; the app runs them once a frame is drawn."""
    before = gc.get_threshold()
    full: list[str] = []  # one entry per full collection

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            full.append(phase)

    app = make_app(freeze_gc=True)
    gc.callbacks.append(on_gc)
    try:
        async with app.run_test(size=SIZE) as pilot:
            assert gc.get_threshold()[:2] == before[:2]
            assert gc.get_threshold()[2] > 10**9  # never automatic
            gc.collect()
            full.clear()
            app.refresh_views()
            await pilot.pause()
            assert full == []  # not due yet
            for _ in range(FULL_GC_EVERY):
                gc.collect(1)  # each young collection counts towards the next full one
            app.refresh_views()
            assert full == []  # not while the widgets are updated ...
            await pilot.pause()
            assert full == ["start", "stop"]  # ... but after the screen update, and only once
        assert gc.get_threshold() == before
    finally:
        gc.callbacks.remove(on_gc)
        gc.unfreeze()


async def test_arrows_switch_asset_on_the_consolidated_page() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("c")
        page = app.page_screen
        assert isinstance(page, ConsolidatedScreen)
        await until(pilot, lambda: page.consolidated.metrics is not None, "the consolidated book")
        assert page.consolidated.metrics is not None and page.consolidated.metrics.asset == "BTC"
        await pilot.press("down")  # binance ETHUSDT: the page follows the asset
        assert app.symbol == "ETHUSDT"
        await until(pilot, lambda: page.consolidated.metrics is not None and page.consolidated.metrics.asset == "ETH",
                    "the ETH consolidated book")
        await pilot.press("right_square_bracket")
        assert page.consolidated.notional != app.settings.metrics.middle_notional


async def test_an_alert_from_the_engine_arrives_as_a_message_and_a_notification() -> None:
    """The monitor calls its listeners on the sample clock; the app gets the alert as a message, on its loop."""
    from lcm_tui.core.model import Alert, Severity
    from lcm_tui.frontends.tui.app import AlertListener

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        alert = Alert("okx", "BTC-USDT", "spread", NOW_NS, 6.1, Severity.CRITICAL)
        fake(app).alert_list.append(alert)
        AlertListener(app).on_alert(alert)
        await until(pilot, lambda: bool(app._notifications), "the notification")
        assert [n.message for n in app._notifications] == ["CRITICAL okx BTC-USDT spread z +6.1"]
        assert "3 ALERTS" in status_text(app)
