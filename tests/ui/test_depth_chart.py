"""The depth chart draws what ``PlotextPlot.render`` would, cell for cell and style for style, without its cost.

The reference is textual-plotext's own path (plotext's ANSI canvas -> ``Text`` -> Textual's ``Content`` ->
strips) for the same figure at the same size and theme; the chart's strips must equal it exactly, including
the selection offsets Textual puts in the styles, whether built on the event loop or in the builder thread.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.visual import Visual, visualize
from textual_plotext import PlotextPlot
from ui_fakes import NOW_NS, filled_market, settings

from lcm_tui.frontends.tui.app import LcmApp
from lcm_tui.frontends.tui.widgets.depth_chart import DepthChart, draw_runs

Cells = list[list[tuple[str, Style | None]]]


def make_app(**kw: Any) -> LcmApp:
    s = settings()
    m = filled_market(s)
    return LcmApp(s, m, sample=m.sample, clock=lambda: NOW_NS, timers=False, **kw)


def cells(strips: list[Strip]) -> Cells:
    return [[(ch, seg.style) for seg in strip for ch in seg.text] for strip in strips]


def shown(chart: DepthChart) -> Cells:
    """The chart's content lines, as the compositor gets them (``render_lines`` brings them up to date)."""
    chart.render_lines(Region(0, 0, *chart.outer_size))
    return cells([chart.render_line(y) for y in range(chart.size.height)])


def reference(chart: DepthChart) -> Cells:
    """textual-plotext's rendering of the chart's current figure (drawn into the chart's own ``plt``)."""
    w, h = chart.size
    draw_runs(chart.plt, chart._figure, w, h, chart._get_plotext_theme_name(chart.app.theme))
    visual = visualize(chart, PlotextPlot.render(chart))
    return cells(Visual.to_strips(chart, visual, w, h, chart.visual_style))


async def settle(pilot: Any, cond: Any, what: str) -> None:
    for _ in range(200):
        if cond():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("theme", ["textual-dark", "ansi-light"])
async def test_chart_strips_are_textual_plotexts_own(theme: str) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.theme = theme
        await pilot.pause()
        chart = app.book.chart
        got = shown(chart)
        assert len(got) == chart.size.height and all(len(row) == chart.size.width for row in got)
        assert any(ch not in " " for row in got for ch, _ in row)  # not blank: the test can fail
        assert got == reference(chart)


async def test_resize_and_theme_change_redraw_at_once() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        chart = app.book.chart
        before, size, builds = shown(chart), chart.size, chart.loop_builds
        await pilot.resize_terminal(200, 60)
        await settle(pilot, lambda: chart.size != size and chart.is_current, "the chart at its new size")
        assert chart.loop_builds > builds
        got = shown(chart)
        assert len(got) == chart.size.height and len(got[0]) == chart.size.width != len(before[0])
        assert got == reference(chart)
        app.theme = "textual-light"
        await settle(pilot, lambda: chart.is_current, "the chart in the new theme")
        assert shown(chart) != got and shown(chart) == reference(chart)


async def test_threaded_build_shows_the_same_strips_and_leaves_the_loop_alone() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        chart = app.book.chart
        old = shown(chart)
        chart.threaded = True  # as when the app runs its timers
        book = app.view.states[(app.venue, app.symbol)].book  # type: ignore[attr-defined]
        book.asks.apply([(p, "0") for p, _ in book.asks.top(20)])  # a different picture
        loop_builds, thread_builds = chart.loop_builds, chart.thread_builds
        repaints: list[tuple[Region, ...]] = []
        refresh = chart.refresh
        chart.refresh = lambda *regions, **kw: repaints.append(regions) or refresh(*regions, **kw)  # type: ignore
        chart.invalidate()
        app.refresh_views()
        await settle(pilot, lambda: chart.thread_builds > thread_builds and chart.is_current, "the thread's chart")
        assert chart.loop_builds == loop_builds  # the old picture stayed up while the thread drew
        assert chart.thread_cpu_s > 0
        got = shown(chart)
        assert got != old and got == reference(chart)
        # Only the rows that changed were repainted, and the screen is what a full repaint gives.
        assert any(0 < len(r) < chart.size.height for r in repaints)
        await pilot.pause()
        partial = re.sub(r"terminal-\d+", "", app.export_screenshot())
        chart.refresh = refresh  # type: ignore[method-assign]
        chart.refresh()
        await pilot.pause()
        assert re.sub(r"terminal-\d+", "", app.export_screenshot()) == partial
