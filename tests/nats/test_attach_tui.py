"""``lcm-tui attach``: the local TUI app over a RemoteMarketView, against a collector on the real server."""

from __future__ import annotations

from harness import RunningCollector, running, shard_settings
from natsenv import wait_for

from lcm_tui.core.model import StreamStatus
from lcm_tui.frontends.tui.app import LcmApp
from lcm_tui.runtime.bus.connect import NatsOptions
from lcm_tui.runtime.bus.run import open_remote


async def test_the_tui_shows_a_collectors_streams_and_watches_the_one_on_screen(bus: NatsOptions) -> None:
    settings = shard_settings(["binance"])
    async with running(RunningCollector(settings, bus, "tui-col")) as col, open_remote(settings, bus) as view:
        await wait_for(lambda: len(view.states) == 2 and all(
            sv.status is StreamStatus.LIVE for sv in view.streams()), 20)
        app = LcmApp(settings, view, sample=view.sample)
        async with app.run_test(size=(130, 40)) as pilot:
            assert (app.venue, app.symbol) == ("binance", "BTCUSDT")
            # The stream on screen is watched: its collector sends its book view, and only its.
            await wait_for(lambda: ("binance", "BTCUSDT") in view.books, 5)
            await pilot.press("down")
            assert (app.venue, app.symbol) == ("binance", "ETHUSDT")
            await wait_for(lambda: ("binance", "ETHUSDT") in view.books, 5)
            assert col.watched.keys() == {("binance", "BTCUSDT"), ("binance", "ETHUSDT")}
            # The ladder draws the collector's book view: the snapshot it shows is one the collector sent.
            sent = {view.books[("binance", "ETHUSDT")][1].ts_ns}

            def drawn() -> bool:
                sent.add(view.books[("binance", "ETHUSDT")][1].ts_ns)
                app.refresh_views()
                return app.book.ladder.shown_ts in sent
            for _ in range(100):
                if drawn():
                    break
                await pilot.pause(0.05)
            assert app.book.ladder.shown_ts in sent
            assert "ETHUSDT" in str(app.page_screen.status_line.render())  # type: ignore[union-attr]
