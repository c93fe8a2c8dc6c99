"""The three pages of the app, one Textual mode each: the book, the venues overview and the consolidated book.

Each page reads the market through :class:`~lcm_tui.core.view.MarketView` when the app's refresh tick calls
:meth:`MarketScreen.show`, and only for what it draws. The book page takes ONE snapshot of the stream on
screen per refresh and draws the ladder, the spread line, the slippage table and the chart from it, so every
number of that stream in a frame belongs to the same book instant. The venues overview compares venues, whose
books are never of one instant: it shows the sample clock's numbers and says so in its title.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

from lcm_tui.config import Settings
from lcm_tui.core.symbols import parse_symbol
from lcm_tui.core.view import MarketView
from lcm_tui.frontends.tui import fmt
from lcm_tui.frontends.tui.widgets.alerts import AlertsPanel, AlertsState
from lcm_tui.frontends.tui.widgets.consolidated import ConsolidatedView
from lcm_tui.frontends.tui.widgets.depth_chart import DepthChart
from lcm_tui.frontends.tui.widgets.ladder import DepthLadder
from lcm_tui.frontends.tui.widgets.slippage import SlippageTable
from lcm_tui.frontends.tui.widgets.status import StatusInfo, StatusLine
from lcm_tui.frontends.tui.widgets.venues import VenueRow, VenuesOverview, rows_for_asset
from lcm_tui.frontends.tui.widgets.zscores import ZScorePanel

NARROW_W = 120  # below this the chart is hidden by default and the side column is fixed-width
WIDE_W, WIDE_H = 160, 45  # from here the venues overview also sits under the book
# Levels a side the chart's snapshot carries: the chart shows the book out to the widest band, and a
# snapshot this deep is taken only on the frames the chart redraws (ui.chart_max_hz).
CHART_LEVELS = 5000

CONSOLIDATED_TOP = 5  # consolidated levels a side on the consolidated page

PANELS = ("slippage", "zscores", "chart", "alerts")


@dataclass(frozen=True, slots=True)
class Selection:
    """What the app has selected and says in the header, for one refresh."""

    venue: str
    symbol: str
    header: StatusInfo
    alerts: AlertsState = field(default_factory=AlertsState)  # how the alerts panels filter and mark alerts


def venue_rows(view: MarketView, venue: str, symbol: str) -> list[VenueRow]:
    """The venues overview rows for the selected asset, every venue from the sample clock.

    Books of several venues are never of one instant, so this panel is the sample clock's, and says so in
    its title: the selected stream's live numbers are the ladder's and the slippage table's.
    """
    if not venue:
        return []
    streams = [(sv, view.latest(sv.venue, sv.symbol)) for sv in view.streams()]
    return rows_for_asset(streams, venue, symbol)


def venues_title(settings: Settings) -> str:
    mid_n = fmt.notional(settings.metrics.middle_notional)
    return (f"venues: spread, depth (quote) per band, slippage bps at {mid_n}, "
            f"every {settings.metrics.sample_interval_s:g}s")


class MarketScreen(Screen[None]):
    """A page with the status header and the footer; subclasses compose the body and draw it in ``show``."""

    AUTO_FOCUS = None  # a focused scrollable would take the arrow keys, which switch venue and symbol

    def __init__(self, view: MarketView, settings: Settings, redraw: Callable[[], None]) -> None:
        """``redraw`` is the app's refresh: a page shown or resized is drawn at once, before it is painted,
        rather than at the next tick."""
        super().__init__()
        self.view = view
        self.settings = settings
        self.redraw = redraw
        self.drawable = False  # its widgets are mounted and found

    def on_mount(self) -> None:
        self.status_line = self.query_one(StatusLine)
        self.setup()
        self.drawable = True
        self.redraw()

    def on_unmount(self) -> None:
        self.drawable = False

    def setup(self) -> None:
        """Find the widgets and set what does not change (titles, layout)."""

    def on_screen_resume(self) -> None:
        if self.drawable:
            self.redraw()

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        yield from self.body()
        yield Footer()

    def body(self) -> ComposeResult:
        raise NotImplementedError

    def show(self, sel: Selection) -> None:
        self.status_line.show(sel.header)
        self.draw(sel)

    def draw(self, sel: Selection) -> None:
        raise NotImplementedError

    def stream_changed(self) -> None:
        """The user picked another stream: forget what only made sense for the old one."""


class BookScreen(MarketScreen):
    """The ladder with slippage, z-scores, the depth chart and alerts beside it."""

    def body(self) -> ComposeResult:
        s = self.settings
        bands = s.metrics.depth_bands_bps
        with Vertical(id="book"):
            with Horizontal(id="book-main"):
                yield DepthLadder(bands, id="ladder")
                with Vertical(id="side"):
                    # This order lets the wide layout's grid put the chart in a column of its own.
                    yield SlippageTable(s.metrics.notionals, id="slippage")
                    yield DepthChart(s.ui.chart_max_hz, bands, id="chart")
                    yield ZScorePanel(s.detector, id="zscores")
                    yield AlertsPanel(id="alerts")
            yield VenuesOverview(bands, s.metrics.middle_notional, notionals=s.metrics.notionals, id="venues-strip")

    def setup(self) -> None:
        self.ladder = self.query_one(DepthLadder)
        self.slippage = self.query_one(SlippageTable)
        self.zscores = self.query_one(ZScorePanel)
        self.chart = self.query_one(DepthChart)
        self.alerts = self.query_one(AlertsPanel)
        self.venues_strip = self.query_one("#venues-strip", VenuesOverview)
        self.slippage.border_title = "slippage"
        self.zscores.border_title = "z-scores"
        self.alerts.border_title = "alerts"
        self.venues_strip.border_title = venues_title(self.settings)
        self._size_class = ""
        self.apply_size(self.app.size.width, self.app.size.height)

    def on_resize(self, event: events.Resize) -> None:
        self.apply_size(event.size.width, event.size.height)
        if self.drawable:
            self.redraw()  # drawn at once at the new size

    def apply_size(self, width: int, height: int) -> None:
        """Pick the layout for this terminal size; panel toggles reset to that layout's defaults."""
        size_class = "-wide" if width >= WIDE_W and height >= WIDE_H else "-normal" if width >= NARROW_W else "-narrow"
        if size_class == self._size_class:
            return
        self._size_class = size_class
        body = self.query_one("#book")
        body.remove_class("-wide", "-normal", "-narrow")
        body.add_class(size_class)
        self.chart.display = size_class != "-narrow"
        for name in ("slippage", "zscores", "alerts"):
            self.query_one(f"#{name}").display = True
        self.venues_strip.display = size_class == "-wide"

    def panel(self, name: str) -> Widget:
        return self.query_one(f"#{name}")

    def toggle_panel(self, name: str) -> None:
        w = self.panel(name)
        w.display = not w.display
        if name == "chart":
            self.chart.invalidate()

    def stream_changed(self) -> None:
        self.ladder.reset()
        self.chart.invalidate()

    def draw(self, sel: Selection) -> None:
        view, v, s = self.view, sel.venue, sel.symbol
        chart = self.chart.display and self.chart.due
        snap = view.snapshot(v, s, CHART_LEVELS if chart else self.ladder.rows_wanted) if v else None
        self.ladder.snapshot = snap
        if self.slippage.display:
            self.slippage.show(snap.metrics if snap is not None else None)
        if self.zscores.display:
            self.zscores.show(view.signals(v, s))
        if self.chart.display:
            self.chart.show(snap, f"cumulative depth {v} {s}")
        if self.alerts.display:
            self.alerts.show(view.alerts(), sel.alerts)
        if self.venues_strip.display:
            self.venues_strip.show(venue_rows(view, v, s))


class VenuesScreen(MarketScreen):
    """Every venue of the selected asset side by side, and the alerts."""

    def body(self) -> ComposeResult:
        s = self.settings
        with Vertical(id="venues"):
            yield VenuesOverview(s.metrics.depth_bands_bps, s.metrics.middle_notional, notionals=s.metrics.notionals,
                                 id="venues-table")
            yield AlertsPanel(id="venues-alerts")

    def setup(self) -> None:
        self.table = self.query_one("#venues-table", VenuesOverview)
        self.alerts = self.query_one("#venues-alerts", AlertsPanel)
        self.table.border_title = venues_title(self.settings)
        self.alerts.border_title = "alerts"

    def draw(self, sel: Selection) -> None:
        self.table.show(venue_rows(self.view, sel.venue, sel.symbol))
        self.alerts.show(self.view.alerts(), sel.alerts)


class ConsolidatedScreen(MarketScreen):
    """The selected asset across every LIVE venue; ``[`` ``]`` step the split's notional, pgup/pgdn scroll."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left_square_bracket", "notional(-1)", "smaller notional", show=False),
        Binding("right_square_bracket", "notional(1)", "larger notional", show=False),
        Binding("equals_sign", "type_notional", "type a notional", show=False),
        Binding("pageup", "scroll(-1)", "scroll up", show=False),
        Binding("pagedown", "scroll(1)", "scroll down", show=False),
    ]

    def body(self) -> ComposeResult:
        yield ConsolidatedView(self.settings, id="consolidated")

    def setup(self) -> None:
        self.consolidated = self.query_one(ConsolidatedView)
        self._key: object = None

    def action_notional(self, step: int) -> None:
        self.consolidated.action_notional(step)

    def action_type_notional(self) -> None:
        self.consolidated.open_notional()

    def on_consolidated_view_notional_changed(self, message: ConsolidatedView.NotionalChanged) -> None:
        self._key = None  # the split of the new size is the core's to compute
        if self.drawable:
            self.redraw()

    def action_scroll(self, pages: int) -> None:
        if pages < 0:
            self.consolidated.scroll_page_up()
        else:
            self.consolidated.scroll_page_down()

    def draw(self, sel: Selection) -> None:
        streams = self.view.streams()
        assets = self.view.assets()
        asset = parse_symbol(sel.venue, sel.symbol)[0] if sel.venue else (assets[0] if assets else "")
        # The core consolidates only when something it reads moved: a book, a status, or a sample.
        notional = self.consolidated.notional
        extra = () if notional in self.settings.metrics.notionals else (notional,)
        key = (asset, extra, tuple((sv.key, sv.status, sv.counters.frames, sv.last_update_ns) for sv in streams),
               tuple(m.ts_ns if m is not None else None for m in (self.view.latest(*sv.key) for sv in streams)))
        if key == self._key:
            return
        self._key = key
        self.consolidated.show(self.view.consolidated(asset, top=CONSOLIDATED_TOP, split_notionals=extra)
                               if asset else None, assets)

