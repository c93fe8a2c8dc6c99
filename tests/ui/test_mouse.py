"""Mouse: a click on a venues row or an alert row picks it; a click on a footer key does what it says.

Rows are located from the layout rules the panels document (a header and its rule, then one row per stream
in config order grouped by canonical symbol with a blank line between groups; alerts newest first, two
lines each in the narrow side column), not from the widgets' own row maps.
"""

from __future__ import annotations

from typing import Any

from textual.widget import Widget
from textual.widgets._footer import FooterKey
from ui_fakes import NOW_NS, FakeMarket, filled_market, settings

from lcm_tui.frontends.tui.app import LcmApp
from lcm_tui.frontends.tui.widgets.alerts import AlertsPanel
from lcm_tui.frontends.tui.widgets.venues import VenuesOverview


def make_app(market: FakeMarket | None = None, **ui: Any) -> LcmApp:
    s = settings(**ui)
    m = market or filled_market(s)
    return LcmApp(s, m, sample=m.sample, clock=lambda: NOW_NS, timers=False)


async def click_line(pilot: Any, w: Widget, line: int, x: int = 3) -> None:
    """Click content line ``line`` of ``w`` (screen coordinates, so borders count as they are drawn)."""
    r = w.content_region
    await pilot.click(offset=(r.x + x, r.y + line))
    await pilot.pause()


async def test_click_on_a_venues_row_opens_that_venues_book() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("v")
        table = app.screen.query_one("#venues-table", VenuesOverview)
        lines = table.render().plain.splitlines()
        # binance, bybit-spot, okx (BTC-USDT), a blank line, kraken, coinbase (BTC-USD).
        assert lines[6].split()[1:3] == ["kraken", "BTC/USD"]
        await click_line(pilot, table, 6)
        assert (app.page, app.venue, app.symbol) == ("book", "kraken", "BTC/USD")


async def test_click_on_the_header_or_blank_line_of_the_venues_table_does_nothing() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("v")
        table = app.screen.query_one("#venues-table", VenuesOverview)
        for line in (0, 1, 5):
            await click_line(pilot, table, line)
            assert (app.page, app.venue) == ("venues", "binance")


async def test_click_on_the_venues_strip_of_the_wide_book_page_selects_the_stream() -> None:
    app = make_app()
    async with app.run_test(size=(200, 60)) as pilot:
        strip = app.screen.query_one("#venues-strip", VenuesOverview)
        await click_line(pilot, strip, 4)  # okx BTC-USDT
        assert (app.page, app.venue, app.symbol) == ("book", "okx", "BTC-USDT")


async def test_click_on_an_alert_in_the_side_column_goes_to_its_stream() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")  # bybit-spot
        alerts = app.screen.query_one(AlertsPanel)
        assert alerts.content_region.width < 70  # the narrow form: two lines per alert
        # Newest first: slip_sell (lines 2-3), depth (4-5), the okx spread alert (6-7); its second line.
        assert alerts.render().plain.splitlines()[7].split() == ["okx", "BTC-USDT"]
        await click_line(pilot, alerts, 7)
        assert (app.page, app.venue, app.symbol) == ("book", "okx", "BTC-USDT")
        assert app.alert_state.cursor == ("okx", "BTC-USDT", "spread", NOW_NS - 3_600 * 10**9)


async def test_click_on_an_alert_on_the_venues_page_opens_the_book() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3", "v")  # okx, venues page
        alerts = app.screen.query_one("#venues-alerts", AlertsPanel)
        await click_line(pilot, alerts, 3)  # one line per alert: the second is binance's depth alert
        assert (app.page, app.venue, app.symbol) == ("book", "binance", "BTCUSDT")
        assert app.alert_state.cursor is not None and app.alert_state.cursor[2] == "depth"


def footer_key(app: LcmApp, description: str) -> FooterKey:
    return next(k for k in app.screen.query(FooterKey) if k.description == description)


async def test_footer_clicks_do_what_they_say() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.click(footer_key(app, "symbol"))
        assert (app.venue, app.symbol) == ("binance", "ETHUSDT")
        await pilot.click(footer_key(app, "venue"))
        assert (app.venue, app.symbol) == ("bybit-spot", "ETHUSDT")
        await pilot.click(footer_key(app, "pause"))
        assert app.paused
        await pilot.click(footer_key(app, "pause"))
        assert not app.paused
        chart = app.book.chart
        shown = chart.display
        await pilot.click(footer_key(app, "chart"))
        assert chart.display is not shown
        await pilot.click(footer_key(app, "venues"))
        assert app.page == "venues"
        await pilot.click(footer_key(app, "venues"))  # the venues page's own footer
        assert app.page == "book"
        await pilot.click(footer_key(app, "help"))
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"


async def test_footer_clicks_follow_remapped_keys() -> None:
    app = make_app(keys={"venues": "w", "pause": "ctrl+y"})
    async with app.run_test(size=(120, 40)) as pilot:
        assert footer_key(app, "venues").key == "w"
        await pilot.click(footer_key(app, "venues"))
        assert app.page == "venues"
        await pilot.click(footer_key(app, "pause"))
        assert app.paused


async def test_footer_quit_quits() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.click(footer_key(app, "quit"))
        await pilot.pause()
    assert app.return_code == 0
