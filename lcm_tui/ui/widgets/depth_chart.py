"""Cumulative depth around the mid (bids left, asks right), x in bps from the mid.

plotext rebuilds the whole figure on every draw, which costs milliseconds, so the chart is redrawn at
most ``ui.chart_max_hz`` times a second however fast the UI ticks.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual_plotext import PlotextPlot

from lcm_tui.book import BookSide, OrderBook

MAX_POINTS = 150  # about one point per braille dot column of a wide chart; plotext cost grows with points


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


class DepthChart(PlotextPlot):
    def __init__(self, max_hz: float, bands: list[int], *, id: str | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(id=id)
        self._min_interval = 1.0 / max_hz
        self._bands = sorted(bands)
        self._max_bps = float(self._bands[-1])
        self._monotonic = monotonic
        self._last_draw = -1e18
        self._pending = True
        self.draws = 0  # how many times the figure was rebuilt (the tests check the rate limit)

    def invalidate(self) -> None:
        """The next ``show`` draws whatever the time: the user switched to another stream."""
        self._pending = True

    def show(self, book: OrderBook | None, title: str) -> None:
        now = self._monotonic()
        if not self._pending and now - self._last_draw < self._min_interval:
            return
        self._pending = False
        self._last_draw = now
        self.draws += 1
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xlabel("bps from mid")
        mid = book.mid() if book is not None else None
        # The title goes on the border: a plot title would cost a row of the chart.
        self.border_title = title if mid is not None else f"{title}: no book"
        if book is not None and mid is not None:
            bx, by = cumulative(book.bids, mid, self._max_bps)
            ax, ay = cumulative(book.asks, mid, self._max_bps)
            top = max([*by, *ay, 1.0])
            div, unit = next(((d, u) for d, u in ((1e9, "B"), (1e6, "M"), (1e3, "k")) if top >= d), (1.0, ""))
            if bx:
                plt.plot(bx, [y / div for y in by], color="green", marker="braille", label="bids")
            if ax:
                plt.plot(ax, [y / div for y in ay], color="red", marker="braille", label="asks")
            plt.ylabel(f"quote{' (' + unit + ')' if unit else ''}")
            # Zoom to the narrowest configured band that holds all plotted levels, so a thin book
            # is not a spike in the middle of a +-200 bps axis.
            extent = max([abs(x) for x in (*bx, *ax)] or [0.0])
            span = next((float(b) for b in self._bands if b >= extent), self._max_bps)
            plt.xlim(-span, span)
        self.refresh()
