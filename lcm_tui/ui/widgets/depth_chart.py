"""Cumulative depth around the mid (bids left, asks right), x in bps from the mid.

plotext rebuilds the whole figure on every draw, so the chart is redrawn at most ``ui.chart_max_hz``
times a second however fast the UI ticks. Even so, a redraw through ``PlotextPlot.render`` cost ~30 ms
at 200x60 (``benches/ui.py``), two frames' budget: plotext writes its cell matrix out as an ANSI string
cell by cell (``set_canvas``), Rich parses that back into a ``Text``, and Textual turns the ``Text`` into
``Content`` and then strips, with a segment and a style per character. This widget keeps plotext's figure
(and textual-plotext's theme handling) but stops at plotext's cell matrix: each row becomes one segment
per run of equal colours, and each colour triple is styled once through Textual's own path (``_styles``),
so the strips are the ones ``PlotextPlot.render`` gives, cell for cell. While the app's timers run, the
figure is built in a thread (plotext is pure Python and owns no Textual state) and the event loop only
wraps the runs into strips; with timers off (tests, snapshots) it is built when the widget renders, so
the output stays deterministic.
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
from textual.geometry import Size
from textual.strip import Strip
from textual.visual import Visual, visualize
from textual.worker import Worker, WorkerState
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from lcm_tui.book import BookSide, OrderBook

log = logging.getLogger("lcm_tui.ui")

MAX_POINTS = 150  # about one point per braille dot column of a wide chart; plotext cost grows with points

Colors = tuple[Any, Any, Any]  # plotext's (fullground, style, background) of a cell
Run = tuple[str, Colors]  # consecutive cells of one row with the same colours


def cumulative(side: BookSide, mid: float, max_bps: float) -> tuple[list[float], list[float]]:
    """(bps from mid, cumulative quote) for the levels within ``max_bps``, thinned to MAX_POINTS."""
    xs: list[float] = []
    ys: list[float] = []
    total = 0.0
    levels = side.levels
    for k in side.keys:
        p = abs(k)
        d = 1e4 * (p - mid) / mid
        if abs(d) > max_bps:
            break
        total += p * levels[k][0]
        xs.append(d)
        ys.append(total)
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


def figure_for(book: OrderBook | None, bands: list[int]) -> Figure:
    mid = book.mid() if book is not None else None
    if book is None or mid is None:
        return Figure()
    max_bps = float(bands[-1])
    bx, by = cumulative(book.bids, mid, max_bps)
    ax, ay = cumulative(book.asks, mid, max_bps)
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
    span = next((float(b) for b in bands if b >= extent), max_bps)
    return Figure(tuple(series), f"quote{' (' + unit + ')' if unit else ''}", span)


def draw_runs(plt: Plot, fig: Figure, width: int, height: int, theme: str) -> list[list[Run]]:
    """Build ``fig`` with plotext at ``width`` x ``height`` and return its rows, top first, as colour runs.

    This is ``Plot.build()`` without its last step, the ANSI canvas (see the module docstring). It
    touches only ``plt``, so it may run in a thread as long as no one else uses that ``plt`` meanwhile.
    """
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
    plt._set_sizes()
    plt._build_matrix()
    m = plt.monitor.matrix
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


class DepthChart(PlotextPlot):
    # The chart is a picture of braille dots: nothing worth selecting, and per-cell selection offsets are
    # what made its strips expensive.
    ALLOW_SELECT = False

    def __init__(self, max_hz: float, bands: list[int], *, id: str | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(id=id)
        self._min_interval = 1.0 / max_hz
        self._bands = sorted(bands)
        self.monotonic = monotonic  # the rate limit's clock (benches replace it)
        self._last_draw = -1e18
        self._pending = True
        self.draws = 0  # how many times the figure was rebuilt (the tests check the rate limit)
        self.threaded = False  # build in a thread; on_mount turns it on when the app runs its timers
        self.loop_builds = 0  # figures built on the event loop
        self.thread_builds = 0  # figures built by the builder thread
        self.thread_cpu_s = 0.0  # CPU the builder thread spent (benches/ui.py reports it)
        self._figure = Figure()
        self._version = 0  # bumped by every accepted show()
        self._runs: list[list[Run]] = []
        self._runs_key: tuple[int, Size, str] | None = None  # (version, size, plotext theme) of _runs
        self._strips: list[Strip] = []
        self._strips_key: tuple[Any, ...] | None = None
        self._styles: dict[Colors, Style] = {}
        self._styles_key: tuple[Any, ...] | None = None
        self._thread_plt = Plot()  # the builder thread's own figure: self.plt stays the event loop's
        self._job: Worker[tuple[tuple[int, Size, str], list[list[Run]], float]] | None = None

    def on_mount(self) -> None:
        super().on_mount()
        # Timers off means a test or a bench drives every frame and wants the chart drawn in it.
        self.threaded = bool(getattr(self.app, "timers", False))

    def invalidate(self) -> None:
        """The next ``show`` draws whatever the time: the user switched to another stream."""
        self._pending = True

    def show(self, book: OrderBook | None, title: str) -> None:
        now = self.monotonic()
        if not self._pending and now - self._last_draw < self._min_interval:
            return
        self._pending = False
        self._last_draw = now
        self.draws += 1
        self._figure = figure_for(book, self._bands)
        self._version += 1
        # The title goes on the border: a plot title would cost a row of the chart.
        self.border_title = title if self._figure.span_bps is not None else f"{title}: no book"
        if self.threaded and self.is_mounted:
            self._start_job()
        else:
            self.refresh()

    # ------------------------------------------------------------------------------- building
    def _wanted(self) -> tuple[int, Size, str]:
        return self._version, self.size, self._get_plotext_theme_name(self.app.theme)

    def _start_job(self) -> None:
        if self._job is not None and self._job.is_running:
            return  # one builder at a time (it owns _thread_plt); its end starts the next if needed
        key = self._wanted()
        if key[1].area == 0:
            return
        fig = self._figure

        def build() -> tuple[tuple[int, Size, str], list[list[Run]], float]:
            t0 = time.thread_time()
            runs = draw_runs(self._thread_plt, fig, key[1].width, key[1].height, key[2])
            return key, runs, time.thread_time() - t0

        self._job = self.run_worker(build, name="depth chart", group="depth-chart", thread=True,
                                    exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self._job:
            return
        if event.state == WorkerState.ERROR:
            log.error("depth chart build failed", exc_info=event.worker.error)
        if event.state != WorkerState.SUCCESS or event.worker.result is None:
            return  # cancelled (unmounted) or failed: the next show() tries again
        key, runs, cpu_s = event.worker.result
        self.thread_builds += 1
        self.thread_cpu_s += cpu_s
        wanted = self._wanted()
        have = self._runs_key
        # A size or theme change while it was building was drawn at once on the event loop: drop the result.
        if key[1:] == wanted[1:] and (have is None or have[1:] != wanted[1:] or key[0] > have[0]):
            self._runs, self._runs_key = runs, key
            self.refresh()
        if self._runs_key != wanted:
            self._start_job()  # a newer figure arrived while it was building

    def _current_runs(self) -> list[list[Run]]:
        wanted = self._wanted()
        have = self._runs_key
        # A builder thread delivers a newer figure shortly; a new size or theme (and the first draw) cannot
        # wait for it, or the chart would show at the wrong size or in the old colours for a moment.
        stale_ok = (self.threaded and have is not None and have[1:] == wanted[1:]
                    and self._job is not None and self._job.is_running)
        if have != wanted and not stale_ok:
            self._runs = draw_runs(self.plt, self._figure, wanted[1].width, wanted[1].height, wanted[2])
            self._runs_key = wanted
            self.loop_builds += 1
        return self._runs

    # ------------------------------------------------------------------------------- rendering
    def _style_map(self, runs: list[list[Run]]) -> dict[Colors, Style]:
        """The Rich style Textual gives each plotext colour triple, found by rendering one cell of each."""
        key = (self.app.theme, self.visual_style)
        if key != self._styles_key:
            self._styles, self._styles_key = {}, key
        styles = self._styles
        missing = list(dict.fromkeys(c for row in runs for _, c in row if c not in styles))
        if missing:
            ansi = "".join(plotext_utility.colors_to_ansi(*c) + "x" + plotext_utility.ansi_end for c in missing)
            sample = Visual.to_strips(self, visualize(self, Text.from_ansi(ansi)), len(missing), 1,
                                      self.visual_style, apply_selection=False)[0]
            cells = [seg.style for seg in sample for _ in seg.text]
            for c, style in zip(missing, cells, strict=True):
                styles[c] = (style or Style()).clear_meta_and_links()
        return styles

    def render_line(self, y: int) -> Strip:
        runs = self._current_runs()
        key = (self._runs_key, self.app.theme, self.visual_style)
        if key != self._strips_key:
            styles = self._style_map(runs)
            width = self.size.width
            self._strips = [Strip([Segment(text, styles[c]) for text, c in row], width) for row in runs]
            self._strips_key = key
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.visual_style.rich_style)
