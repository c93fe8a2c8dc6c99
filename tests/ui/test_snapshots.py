"""Screens as a user sees them, from seeded data with a frozen clock and no timers (see ui_fakes)."""

from __future__ import annotations

from typing import Any

from ui_fakes import NOW_NS, FakeMarket, filled_market, settings

from lcm_tui.core.model import Alert, Severity
from lcm_tui.frontends.tui.app import LcmApp


def make_app(market: FakeMarket | None = None, **ui: Any) -> LcmApp:
    s = settings(**ui)
    m = market or filled_market(s)
    return LcmApp(s, m, sample=m.sample, clock=lambda: NOW_NS, timers=False)


def test_main_screen(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=(120, 40))


def test_main_screen_80x24(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24))


def test_main_screen_200x60(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=(200, 60))


def test_venues_overview(snap_compare: Any) -> None:
    assert snap_compare(make_app(), press=["v"], terminal_size=(100, 30))


def test_venues_overview_80x24(snap_compare: Any) -> None:
    assert snap_compare(make_app(), press=["v"], terminal_size=(80, 24))


def test_open_alert(snap_compare: Any) -> None:
    """One alert just opened on okx BTC-USDT: red in the alerts panel, the spread row critical."""
    s = settings()
    m = filled_market(s)
    m.alert_list = [Alert("okx", "BTC-USDT", "spread", NOW_NS - 4 * 10**9, 5.6, Severity.CRITICAL)]
    m.detectors[("okx", "BTC-USDT")].z["spread"] = 5.6
    m.detectors[("okx", "BTC-USDT")].history["spread"].append(5.6)
    assert snap_compare(make_app(m), press=["3"], terminal_size=(120, 40))


def test_unfillable_slippage(snap_compare: Any) -> None:
    """kraken ETH/USD cannot fill a 1M sell: n/a with how much could be filled."""
    assert snap_compare(make_app(), press=["4", "down"], terminal_size=(100, 30))


def test_down_stream(snap_compare: Any) -> None:
    assert snap_compare(make_app(), press=["5", "down"], terminal_size=(100, 30))


def test_help(snap_compare: Any) -> None:
    assert snap_compare(make_app(), press=["question_mark"], terminal_size=(80, 24))


def test_switch_symbol_and_exchange(snap_compare: Any) -> None:
    """right: bybit-spot (still BTC), down: its next symbol (ETHUSDT)."""
    assert snap_compare(make_app(), press=["right", "down"], terminal_size=(80, 24))


def test_ansi_theme(snap_compare: Any) -> None:
    assert snap_compare(make_app(theme="ansi-dark"), terminal_size=(80, 24))


def test_ansi_dark_with_chart(snap_compare: Any) -> None:
    """ansi-dark with the depth chart: axes, ticks and legend in the terminal's own colours (not black on black)."""
    assert snap_compare(make_app(theme="ansi-dark"), terminal_size=(120, 40))


def test_changed_levels(snap_compare: Any) -> None:
    """Sizes that changed since the last frame: reversed, readable in any palette."""
    s = settings()
    m = filled_market(s)
    app = make_app(m)

    async def change(pilot: Any) -> None:
        book = m.states[("binance", "BTCUSDT")].book
        for side in (book.bids, book.asks):
            side.apply([(p, "7.5") for p, _ in side.top(3)])
        app.refresh_views()
        await pilot.pause()

    assert snap_compare(app, run_before=change, terminal_size=(100, 30))


def test_consolidated_120x40(snap_compare: Any) -> None:
    """The consolidated page of BTC across the five venues (the fake's books), at 120x40."""
    assert snap_compare(make_app(), press=["c"], terminal_size=(120, 40))


def test_filtered_alerts(snap_compare: Any) -> None:
    """Venues page, alerts filtered to open ones of HIGH and above: the closed okx WARNING is left out and
    the panel's title says so (alerts: open ≥HIGH, 2 of 3)."""
    assert snap_compare(make_app(), press=["v", "o", "e"], terminal_size=(120, 40))


def test_acknowledged_alert(snap_compare: Any) -> None:
    """The newest alert (binance slip_sell CRITICAL) acknowledged: marked ``ack``, not bold, still listed in
    place, and the header counts 1 ALERT instead of 2."""
    assert snap_compare(make_app(), press=["m"], terminal_size=(120, 40))


def test_venues_overview_200x60(snap_compare: Any) -> None:
    """A wide terminal: the mid and the buy / sell slippage at every configured notional, not only 100k."""
    assert snap_compare(make_app(), press=["v"], terminal_size=(200, 60))
