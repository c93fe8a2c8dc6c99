"""The widgets that draw their own lines (``widgets.direct.DirectLines``) draw exactly what Textual would.

Each such widget on the book page is rendered both ways, the direct path and Textual's styles pass
(``Widget.render_lines``), in dark, light and ANSI themes (the ANSI ones go through Textual's colour
filter) and with a crop inside the widget; the strips must be equal segment for segment. The direct path
must also be the one in use there, or this test would compare Textual with itself.
"""

from __future__ import annotations

import pytest
from textual.geometry import Region
from textual.widget import Widget
from ui_fakes import NOW_NS, filled_market, settings

from lcm_tui.frontends.tui.app import LcmApp
from lcm_tui.frontends.tui.widgets.direct import DirectLines


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light", "ansi-dark", "ansi-light", "nord"])
@pytest.mark.parametrize("size", [(200, 60), (80, 24)])
async def test_direct_lines_equal_textuals(theme: str, size: tuple[int, int]) -> None:
    s = settings(theme=theme)
    m = filled_market(s)
    app = LcmApp(s, m, sample=m.sample, clock=lambda: NOW_NS, timers=False)
    async with app.run_test(size=size) as pilot:
        book = m.states[(app.venue, app.symbol)].book
        for side in (book.bids, book.asks):  # the ladder's "changed" highlight on both sides
            side.apply([(p, "7.5") for p, _ in side.top(3)])
        app.refresh_views()
        await pilot.pause()
        widgets = [w for w in app.screen.query(DirectLines) if w.display and w.size.area]
        assert {type(w).__name__ for w in widgets} >= {"DepthLadder", "SlippageTable", "ZScorePanel"}
        for w in widgets:
            assert w._direct(), type(w).__name__
            width, height = w.size
            for crop in (Region(0, 0, width, height), Region(3, 1, max(1, width - 5), max(1, height - 2))):
                direct = w.render_lines(crop)
                w._styles_cache.clear()
                textual = Widget.render_lines(w, crop)
                assert [list(s) for s in direct] == [list(s) for s in textual], (type(w).__name__, crop)
