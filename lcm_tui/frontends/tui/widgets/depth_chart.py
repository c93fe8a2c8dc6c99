"""Cumulative depth around the mid (bids left, asks right), x in bps from the mid.

plotext rebuilds the whole figure on every draw, so the chart is redrawn at most ``ui.chart_max_hz``
times a second however fast the UI ticks. Even so, a redraw through ``PlotextPlot.render`` made a frame
cost 33-45 ms at 200x60 (``benches/ui.py``; the budget is 16 ms): plotext writes its cell matrix out as
an ANSI string one cell at a time (``set_canvas``), Rich parses that back into a ``Text``, Textual turns
the ``Text`` into ``Content`` and lays that out into strips, and the compositor repaints every row.

This widget keeps plotext's figure and textual-plotext's theme handling but stops at plotext's cell
matrix: each row becomes one segment per run of equal colours, styled with the style Textual's own path
gives that colour triple (found once per theme by rendering one cell of each, ``_update_styles``), so
the strips equal ``PlotextPlot.render``'s exactly (``tests/ui/test_depth_chart.py``). While the app's
timers run, the figure and its strips are built in a thread once the frame is on screen (plotext and the
strips are plain Python objects that Textual never sees meanwhile), the old picture stays up until then,
and only the rows that changed are repainted. With timers off (tests, snapshots) and whenever the size
or the theme changes, it is built on the event loop when the widget renders, so what is drawn is always
the latest figure at the right size and colours, deterministically.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import plotext._utility as plotext_utility
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import work
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.visual import Visual, visualize
from textual.worker import Worker, WorkerState
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from lcm_tui.core.bands import book_bands, cumulative_depth
from lcm_tui.core.book import BookSide
from lcm_tui.core.view import BookSnapshot
from lcm_tui.frontends.tui.widgets.ladder import snapshot_book

log = logging.getLogger("lcm_tui.frontends.tui")

MAX_POINTS = 150  # about one point per braille dot column of a wide chart; plotext cost grows with points

Colors = tuple[Any, Any, Any]  # plotext's (fullground, style, background) of a cell
Key = tuple[int, Size, str, int]  # what a drawing shows: (figure version, size, plotext theme, themes seen)
Run = tuple[str, Colors]  # consecutive cells of one row with the same colours


def cumulative(side: BookSide, mid: float, n: int) -> tuple[list[float], list[float]]:
    """(bps from mid, cumulative quote) of the best ``n`` levels of ``side`` (the core's prefix sums), thinned
    to MAX_POINTS."""
    prices, ys = cumulative_depth(side, n)
    xs = [1e4 * (p - mid) / mid for p in prices]
    if len(xs) > MAX_POINTS:
        step = len(xs) / MAX_POINTS
        idx = [int(i * step) for i in range(MAX_POINTS)] + [len(xs) - 1]
        xs = [xs[i] for i in idx]
        ys = [ys[i] for i in idx]
    return xs, ys


@dataclass(frozen=True, slots=True)
class Series:
    xs: list[float]
    ys: list[float]
    color: str
    label: str


@dataclass(frozen=True, slots=True)
class Figure:
    """What one redraw plots: a snapshot of the book, so a thread can draw it while the book moves on."""

    series: tuple[Series, ...] = ()
    ylabel: str = ""
    span_bps: float | None = None  # the x axis runs from -span to +span


def figure_for(snap: BookSnapshot | None, bands: list[int]) -> Figure:
    if snap is None:
        return Figure()
    book = snapshot_book(snap)
    bb = book_bands(book, bands[-1:])
    if bb is None:
        return Figure()
    mid, band = bb.mid, bb.bands[-1]  # the widest band: levels in it, by the metrics' own membership
    bx, by = cumulative(book.bids, mid, band.bid_levels)
    ax, ay = cumulative(book.asks, mid, band.ask_levels)
    top = max([*by, *ay, 1.0])
    div, unit = next(((d, u) for d, u in ((1e9, "B"), (1e6, "M"), (1e3, "k")) if top >= d), (1.0, ""))
    series = []
    if bx:
        series.append(Series(bx, [y / div for y in by], "green", "bids"))
    if ax:
        series.append(Series(ax, [y / div for y in ay], "red", "asks"))
    # Zoom to the narrowest configured band that holds all plotted levels, so a thin book
    # is not a spike in the middle of a +-200 bps axis.
    extent = max([abs(x) for x in (*bx, *ax)] or [0.0])
    span = next((float(b) for b in bands if b >= extent), float(band.bps))
    return Figure(tuple(series), f"quote{' (' + unit + ')' if unit else ''}", span)


def draw_runs(plt: Plot, fig: Figure, width: int, height: int, theme: str) -> list[list[Run]]:
    """Build ``fig`` with plotext at ``width`` x ``height`` and return its rows, top first, as colour runs.

    This is ``Plot.build()`` without its last step, the ANSI canvas (see the module docstring). It
    touches only ``plt``, so it may run in a thread as long as no one else uses that ``plt`` meanwhile.
    """
    if width < 1 or height < 1:
        return []
    plt.clear_data()
    plt.clear_figure()
    plt.xlabel("bps from mid")
    for s in fig.series:
        plt.plot(s.xs, s.ys, color=s.color, marker="braille", label=s.label)
    if fig.span_bps is not None:
        plt.ylabel(fig.ylabel)
        plt.xlim(-fig.span_bps, fig.span_bps)
    # The same sizing and theme calls as PlotextPlot.render, in the same order.
    plt.plotsize(width, height)
    plt._set_size(width, height)
    plt.theme(theme)
    plt._set_sizes()  # type: ignore[attr-defined]  # plotext's own build steps (pinned exactly)
    plt._build_matrix()  # type: ignore[attr-defined]
    m = plt.monitor.matrix  # type: ignore[attr-defined]
    rows: list[list[Run]] = []
    for r in range(m.rows - 1, max(m.rows - 1 - height, -1), -1):  # plotext's row 0 is the bottom
        marker, fg, st, bg = m.marker[r], m.fullground[r], m.style[r], m.background[r]
        runs: list[Run] = []
        start = 0
        cur = (fg[0], st[0], bg[0])
        for c in range(1, m.cols):
            colors = (fg[c], st[c], bg[c])
            if colors != cur:
                runs.append(("".join(marker[start:c]), cur))
                start, cur = c, colors
        runs.append(("".join(marker[start:]), cur))
        rows.append(runs)
    return rows


def _strip(row: list[Run], y: int, styles: dict[Colors, Style], width: int) -> Strip:
    """One row of runs as a strip; each segment carries the ``offset`` meta that Textual's ``Content`` puts
    on every span, so the strips (and snapshot SVGs) are exactly ``PlotextPlot``'s."""
    segments = []
    x = 0
    for text, c in row:
        segments.append(Segment(text, styles[c] + Style.from_meta({"offset": (x, y)})))
        x += len(text)
    return Strip(segments, width)


@dataclass(frozen=True, slots=True)
class Built:
    """What the builder thread hands back to the event loop."""

    key: Key  # what it was built for
    runs: list[list[Run]]
    strips: list[Strip] | None  # None when a colour had no style yet: the event loop makes the strips
    styles_key: tuple[Any, ...] | None
    cpu_s: float


class DepthChart(PlotextPlot):
    # A picture of braille dots: nothing worth selecting, and these strips skip Content's selection highlight.
    ALLOW_SELECT = False

    def __init__(self, max_hz: float, bands: list[int], *, id: str | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(id=id)
        self._min_interval = 1.0 / max_hz
        self._bands = sorted(bands)
        self.monotonic = monotonic  # the rate limit's clock (benches replace it)
        self._last_draw = -1e18
        self._pending = True
        self.draws = 0  # figures accepted by show() (the tests check the rate limit)
        self.threaded = False  # build in a thread; on_mount turns it on when the app runs its timers
        self.loop_builds = 0  # figures built on the event loop
        self.thread_builds = 0  # figures built by the builder thread
        self.thread_cpu_s = 0.0  # CPU the builder thread spent (benches/ui.py reports it)
        self._title = ""
        self._figure = Figure()
        self._version = 0  # bumped by every accepted show()
        self._runs: list[list[Run]] = []
        self._runs_key: Key | None = None
        self._strips: list[Strip] = []
        self._strips_key: tuple[Any, ...] | None = None  # (_runs_key, _styles_key) of _strips
        self._styles: dict[Colors, Style] = {}
        self._styles_key: tuple[Any, ...] | None = None  # (app theme, widget's visual style) of _styles
        self._thread_plt = Plot()  # the builder thread's own figure: self.plt stays the event loop's
        self._job: Worker[Built] | None = None
        self._building = False  # a build is scheduled or running in the thread
        self._themes_seen = 0

    def on_mount(self) -> None:
        super().on_mount()
        # Timers off means a test or a bench drives every frame and wants the chart drawn in it.
        self.threaded = bool(getattr(self.app, "timers", False))

    def invalidate(self) -> None:
        """The next ``show`` draws whatever the time: the user switched to another stream."""
        self._pending = True

    @property
    def due(self) -> bool:
        """Whether the next ``show`` draws (so the app asks for a snapshot deep enough for the chart)."""
        return self._pending or self.monotonic() - self._last_draw >= self._min_interval

    def show(self, snap: BookSnapshot | None, title: str) -> None:
        now = self.monotonic()
        if not self._pending and now - self._last_draw < self._min_interval:
            return
        self._pending = False
        self._last_draw = now
        self.draws += 1
        self._figure = figure_for(snap, self._bands)
        self._version += 1
        # The title goes on the border: a plot title would cost a row of the chart. Setting it repaints the
        # whole widget even when it is unchanged, which would undo the threaded build's savings.
        title = title if self._figure.span_bps is not None else f"{title}: no book"
        if title != self._title:
            self.border_title = self._title = title
        if self.threaded and self.is_mounted:
            self._request_build()
        else:
            self.refresh()

    @property
    def is_current(self) -> bool:
        """Whether the strips show the latest figure at this size and theme (benches wait for it)."""
        return self._strips_key is not None and self._strips_key[0] == self._wanted()

    # ------------------------------------------------------------------------------- building
    def _wanted(self) -> Key:
        return self._version, self.size, self._get_plotext_theme_name(self.app.theme), self._themes_seen

    def _get_plotext_theme_name(self, app_theme_name: str) -> str:
        # The ansi themes name the terminal's own palette, which textual-plotext cannot turn into the RGB
        # triples it derives a plotext theme from (ticks, legend and axis titles came out black on black):
        # plotext's "clear" theme leaves axes and text in the terminal's default colours instead.
        if app_theme_name.startswith("ansi"):
            return "clear"
        return super()._get_plotext_theme_name(app_theme_name)

    def _register_theme(self, app_theme_name: str) -> None:
        # textual-plotext may register the app theme's colours under a name the figure was already drawn with
        # (the theme signal can come after the repaint): count it, so whatever was drawn before is redrawn.
        super()._register_theme(app_theme_name)
        self._themes_seen += 1

    def _request_build(self) -> None:
        if self._building:
            return  # one builder at a time (it owns _thread_plt); its end starts the next if needed
        self._building = True
        # Started after this frame's screen update: under the GIL a thread running during the update
        # would stretch it by up to a switch interval (5 ms) at each hand-over.
        self.call_after_refresh(self._start_job)

    def _start_job(self) -> None:
        key = self._wanted()
        if key[1].area == 0:
            self._building = False  # hidden: the next show() or render draws it
            return
        self._job = self._build(key, self._figure, dict(self._styles), self._styles_key)

    @work(thread=True, name="depth chart", group="depth-chart", exit_on_error=False)
    def _build(self, key: Key, fig: Figure, styles: dict[Colors, Style], styles_key: tuple[Any, ...] | None) -> Built:
        """The figure as strips, in a thread: it touches only its arguments and the thread's own ``Plot``."""
        t0 = time.thread_time()
        runs = draw_runs(self._thread_plt, fig, key[1].width, key[1].height, key[2])
        strips = None
        if all(c in styles for row in runs for _, c in row):
            strips = [_strip(row, y, styles, key[1].width) for y, row in enumerate(runs)]
        return Built(key, runs, strips, styles_key, time.thread_time() - t0)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self._job or not event.worker.is_finished:
            return
        self._building = False
        if event.state == WorkerState.ERROR:
            log.error("depth chart build failed", exc_info=event.worker.error)
        built = event.worker.result
        if event.state != WorkerState.SUCCESS or built is None:
            return  # cancelled (unmounted) or failed: the next show() tries again
        self.thread_builds += 1
        self.thread_cpu_s += built.cpu_s
        wanted = self._wanted()
        have = self._runs_key
        # A size or theme change while it was building was drawn at once on the event loop: drop the result.
        if built.key[1:] == wanted[1:] and (have is None or have[1:] != wanted[1:] or built.key[0] > have[0]):
            self._runs, self._runs_key = built.runs, built.key
            if built.strips is None:
                self.refresh()
            else:
                old, old_key = self._strips, self._strips_key
                self._strips, self._strips_key = built.strips, (built.key, built.styles_key)
                if old_key is not None and old_key[0][1:] == built.key[1:] and old_key[1] == built.styles_key:
                    # Repaint only the rows that changed (a fifth to a half stay the same here: axes, labels, flat
                    # stretches): what the compositor costs is per repainted cell.
                    width = built.key[1].width
                    changed = [Region(0, y, width, 1) for y, (a, b) in enumerate(zip(old, built.strips, strict=True))
                               if a != b]
                    if changed:
                        self.refresh(*changed)
                else:
                    self.refresh()
        if self._runs_key != wanted:
            self._request_build()  # a newer figure arrived while it was building

    def _update_runs(self) -> None:
        wanted = self._wanted()
        have = self._runs_key
        # A builder thread delivers a newer figure shortly; a new size or theme (and the first draw) cannot
        # wait for it, or the chart would show at the wrong size or in the old colours for a moment.
        stale_ok = self._building and have is not None and have[1:] == wanted[1:]
        if have != wanted and not stale_ok:
            self._runs = draw_runs(self.plt, self._figure, wanted[1].width, wanted[1].height, wanted[2])
            self._runs_key = wanted
            self.loop_builds += 1

    # ------------------------------------------------------------------------------- rendering
    def _update_styles(self) -> None:
        """Find the Rich style Textual gives each plotext colour triple, by rendering one cell of each."""
        key = (self.app.theme, self.visual_style)
        if key != self._styles_key:
            self._styles, self._styles_key = {}, key
        styles = self._styles
        missing = list(dict.fromkeys(c for row in self._runs for _, c in row if c not in styles))
        if missing:
            ansi = "".join(plotext_utility.colors_to_ansi(*c) + "x" + plotext_utility.ansi_end for c in missing)
            sample = Visual.to_strips(self, visualize(self, Text.from_ansi(ansi)), len(missing), 1,
                                      self.visual_style, apply_selection=False)[0]
            cells = [seg.style for seg in sample for _ in seg.text]
            for c, style in zip(missing, cells, strict=True):
                styles[c] = (style or Style()).clear_meta_and_links()

    def _update_strips(self) -> None:
        self._update_runs()
        if (self._runs_key, (self.app.theme, self.visual_style)) != self._strips_key:
            self._update_styles()
            width = self.size.width
            self._strips = [_strip(row, y, self._styles, width) for y, row in enumerate(self._runs)]
            self._strips_key = (self._runs_key, self._styles_key)

    def render_lines(self, crop: Region) -> list[Strip]:
        self._update_strips()  # once per paint rather than once per line
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.visual_style.rich_style)
