"""The alerts panel acts: filters (open only, minimum severity, venue), acknowledge, go to the alert.

The expectations come from the fake market's hand-set alerts (ui_fakes.filled_market): okx BTC-USDT spread
WARNING closed an hour ago, binance BTCUSDT depth HIGH open, binance BTCUSDT slip_sell CRITICAL open
(the newest), and the severity order the detector documents (warning < high < critical).
"""

from __future__ import annotations

from typing import Any

import pytest
from ui_fakes import NOW_NS, FakeMarket, filled_market, settings

from lcm_tui.core.model import Alert, Severity
from lcm_tui.frontends.tui.app import LcmApp
from lcm_tui.frontends.tui.widgets.alerts import AlertsPanel
from lcm_tui.frontends.tui.widgets.status import StatusLine

SIZE = (160, 40)  # the book page's side column is 40+ wide here: one line per alert in the venues page


def make_app(market: FakeMarket | None = None, **ui: Any) -> LcmApp:
    s = settings(**ui)
    m = market or filled_market(s)
    return LcmApp(s, m, sample=m.sample, clock=lambda: NOW_NS, timers=False)


def panel(app: LcmApp) -> AlertsPanel:
    return next(p for p in app.screen.query(AlertsPanel) if p.display)


def signals(app: LcmApp) -> list[str]:
    """The signals the panel draws, top to bottom (the panel's own text, as on screen)."""
    p = panel(app)
    lines = p.render().plain.splitlines()[2:]
    known = ("slip_sell", "depth", "spread", "market:depth")
    return [next(s for s in known if f" {s} " in f" {line} ") for line in lines
            if any(f" {s} " in f" {line} " for s in known)]


def header(app: LcmApp) -> str:
    return app.screen.query_one(StatusLine).lines[0].plain


async def test_open_only_hides_closed_alerts_and_says_so() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")
        assert signals(app) == ["slip_sell", "depth", "spread"]
        await pilot.press("o")
        assert signals(app) == ["slip_sell", "depth"]
        assert panel(app).border_title == "alerts: open, 2 of 3"
        await pilot.press("o")
        assert signals(app) == ["slip_sell", "depth", "spread"]
        assert panel(app).border_title == "alerts"


async def test_minimum_severity_steps_through_high_and_critical() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v", "e")
        assert signals(app) == ["slip_sell", "depth"]  # HIGH and above: the WARNING one is left out
        assert panel(app).border_title == "alerts: ≥HIGH, 2 of 3"
        await pilot.press("e")
        assert signals(app) == ["slip_sell"]
        await pilot.press("e")
        assert signals(app) == ["slip_sell", "depth", "spread"]


async def test_venue_filter_takes_the_selected_venue() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v", "f")  # binance is selected (the first venue)
        assert signals(app) == ["slip_sell", "depth"]
        assert panel(app).border_title == "alerts: binance, 2 of 3"
        await pilot.press("f", "3", "f")  # off, pick okx, on
        assert signals(app) == ["spread"]
        await pilot.press("o")  # okx's only alert is closed
        assert signals(app) == []
        assert "none match" in panel(app).render().plain


async def test_filters_work_on_the_book_page_too() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("o")
        assert signals(app) == ["slip_sell", "depth"]
        await pilot.press("v")  # the venues page shows the same filtered list
        assert signals(app) == ["slip_sell", "depth"]


async def test_acknowledged_alert_is_marked_and_not_counted() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")
        assert " 2 ALERTS " in header(app)
        await pilot.press("m")  # no cursor yet: the newest (slip_sell)
        assert " 1 ALERT " in header(app)
        lines = panel(app).render().plain.splitlines()
        slip = next(line for line in lines if "slip_sell" in line)
        depth = next(line for line in lines if " depth " in line)
        assert slip.rstrip().endswith("acked") and depth.rstrip().endswith("open")
        assert signals(app) == ["slip_sell", "depth", "spread"]  # still listed, in place
        await pilot.press("j", "j", "m")  # the cursor's first step picks the newest, the next the depth alert
        assert " ALERT" not in header(app)
        await pilot.press("m")  # again: taken back
        assert " 1 ALERT " in header(app)


async def test_acknowledged_alert_counts_again_when_it_escalates() -> None:
    s = settings()
    m = filled_market(s)
    app = make_app(m)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v", "j", "j", "m")  # the depth alert, HIGH
        assert " 1 ALERT " in header(app)
        depth = next(a for a in m.alert_list if a.signal == "depth")
        depth.severity, depth.peak_z = Severity.CRITICAL, -6.2
        app.post_message(LcmApp.AlertChanged(depth))
        await pilot.pause()
        assert " 2 ALERTS " in header(app)


async def test_enter_goes_to_the_alerts_venue_and_symbol_on_the_book_page() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "down", "v")  # bybit-spot ETHUSDT, venues page
        await pilot.press("j", "j", "j")  # the okx alert, the oldest
        await pilot.press("j")  # the last row: the cursor stays on it
        await pilot.press("enter")
        assert (app.page, app.venue, app.symbol) == ("book", "okx", "BTC-USDT")
        # The alert stays picked: the book page's panel marks the same row.
        assert app.alert_state.cursor == ("okx", "BTC-USDT", "spread", NOW_NS - 3_600 * 10**9)


async def test_cursor_moves_up_and_enter_without_cursor_takes_the_newest() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "enter")  # okx selected; no cursor: the newest alert is binance's
        assert (app.venue, app.symbol) == ("binance", "BTCUSDT")
        await pilot.press("3", "j", "j", "j", "k", "k", "enter")
        assert (app.venue, app.symbol) == ("binance", "BTCUSDT")


async def test_market_wide_alert_opens_the_consolidated_page_of_its_asset() -> None:
    s = settings()
    m = filled_market(s)
    m.alert_list = [Alert("market", "ETH", "market:depth", NOW_NS - 5 * 10**9, -4.8, Severity.HIGH)]
    app = make_app(m)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        assert app.page == "consolidated"
        assert app.symbol == "ETHUSDT" and app.venue == "binance"  # the selected venue's ETH stream


async def test_alert_keys_do_nothing_where_no_alerts_panel_is_shown() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", "o", "m", "enter")  # the alerts panel hidden
        assert not app.alert_state.filter.open_only and not app.alert_state.acked
        assert app.page == "book"


@pytest.mark.parametrize("ack_key", ["y", "ctrl+k"])
async def test_alert_keys_can_be_remapped_and_help_shows_them(ack_key: str) -> None:
    app = make_app(keys={"alert_ack": ack_key, "alert_go": "g", "chart": "G"})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v", "m")
        assert not app.alert_state.acked
        await pilot.press(ack_key)
        assert " 1 ALERT " in header(app)
        rows = dict(app.help_rows())
        assert rows["o e f"].startswith("alerts filter: open only")
        assert rows[f"j k g {ack_key}"] == "alerts: down, up, go to (or click), acknowledge"


def test_cursor_below_the_panel_scrolls_the_list_and_rows_keep_their_order() -> None:
    """Ten alerts a minute apart in a panel with room for three: the cursor on the oldest shows the three
    oldest, still newest first."""
    from lcm_tui.frontends.tui.widgets.alerts import AlertsState, alerts_table

    alerts = [Alert("binance", "BTCUSDT", "depth", NOW_NS - (10 - i) * 60 * 10**9, -3.5, Severity.WARNING)
              for i in range(10)]  # raised oldest first, as the detector raises them
    st = AlertsState()
    for _ in range(12):  # past the end: the cursor stays on the last row
        st.move(alerts, 1)
    assert st.cursor is not None and st.cursor[3] == NOW_NS - 10 * 60 * 10**9
    text = alerts_table(alerts, 3, 120, st).plain.splitlines()[2:]
    assert [line.split()[0] for line in text] == ["15:52:00", "15:51:00", "15:50:00"]
    st.move(alerts, -9)  # back to the newest: the list is drawn from the top again
    text = alerts_table(alerts, 3, 120, st).plain.splitlines()[2:]
    assert [line.split()[0] for line in text] == ["15:59:00", "15:58:00", "15:57:00"]
