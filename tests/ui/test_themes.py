"""Readable in every theme and terminal: no character is drawn in its background's colour.

Every screen (book, venues, consolidated, help, at the sizes where each panel shows) is rendered in every
theme a user may pick (``config.THEMES``), and every segment that shows a letter or a digit (numbers, labels,
tick values; bars, sparklines and borders are shapes, not text) is checked twice: as a
truecolor terminal draws it (the colours must differ clearly) and as a 16-colour terminal
(``TERM=xterm-16color``) draws it, where Rich maps each colour to the nearest of the 16 standard ones
(``Color.downgrade(ColorSystem.STANDARD)``): the two must not become the same colour.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from rich.color import Color, ColorSystem, ColorType
from rich.console import Console, ConsoleOptions
from rich.segment import Segment
from rich.style import Style
from rich.terminal_theme import MONOKAI, SVG_EXPORT_THEME
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.strip import Strip
from ui_fakes import NOW_NS, filled_market, settings

from lcm_tui.config import THEMES
from lcm_tui.frontends.tui.app import LcmApp

# Colours closer than this (the largest channel difference, 0-255) are not told apart at a glance.
MIN_DISTANCE = 24
# The book at 200x60 shows every panel (ladder, slippage, chart, z-scores, alerts and the venues overview);
# the venues page draws the same widgets as its strip.
PAGES: tuple[tuple[str, tuple[str, ...], tuple[int, int]], ...] = (
    ("book 200x60", (), (200, 60)),
    ("consolidated", ("c",), (120, 40)),
    ("help", ("question_mark",), (80, 24)),
)


def _rgb(c: Color) -> tuple[int, int, int]:
    t = c.get_truecolor(MONOKAI)
    return t.red, t.green, t.blue


def _standard(c: Color) -> int | None:
    d = c.downgrade(ColorSystem.STANDARD)
    return d.number


def unreadable(app: LcmApp) -> list[str]:
    """Cells whose character is drawn in (nearly) its background's colour, truecolor or in 16 colours."""
    bad: list[str] = []
    # Under a modal screen (help) the page shows through dimmed on purpose: only the dialog is read.
    area = app.screen.query_one(Vertical).region if isinstance(app.screen, ModalScreen) else app.screen.region
    for y, strip in enumerate(app.screen._compositor.render_strips()):
        x = 0
        for seg in strip:
            text, style = seg.text, seg.style
            if style is not None and any(ch.isalnum() for ch in text) and area.contains(x, y):
                fg, bg = style.color, style.bgcolor
                if style.reverse:
                    fg, bg = bg, fg
                if fg is not None and bg is not None and ColorType.DEFAULT not in (fg.type, bg.type):
                    dist = max(abs(a - b) for a, b in zip(_rgb(fg), _rgb(bg), strict=True))
                    s16 = _standard(fg), _standard(bg)
                    if dist < MIN_DISTANCE or s16[0] == s16[1]:
                        bad.append(f"({x},{y}) {text.strip()[:20]!r}: {fg.name} on {bg.name} "
                                   f"(distance {dist}, 16-colour {s16[0]} on {s16[1]})")
            x += len(text)
    return bad


@pytest.mark.parametrize("theme", THEMES)
async def test_every_screen_is_readable(theme: str) -> None:
    s = settings(theme=theme)
    m = filled_market(s)
    problems: list[str] = []
    for page, keys, size in PAGES:
        app = LcmApp(s, m, sample=m.sample, clock=lambda: NOW_NS, timers=False)
        async with app.run_test(size=size) as pilot:
            await pilot.press(*keys)
            await _changed_levels(app, pilot)
            await pilot.pause()
            problems += [f"{page}: {p}" for p in unreadable(app)]
    assert not problems, f"{theme}: {len(problems)} unreadable cells:\n" + "\n".join(problems[:30])


async def _changed_levels(app: LcmApp, pilot: Any) -> None:
    """Change a few sizes of the book on screen so the ladder shows its 'changed' highlight on both sides."""
    if app.current_mode != "book":
        return
    book = app.view.states[(app.venue, app.symbol)].book  # type: ignore[attr-defined]
    for side in (book.bids, book.asks):
        side.apply([(p, "7.5") for p, _ in side.top(3)])
    app.refresh_views()
    await pilot.pause()


class _Screen16:
    """The screen's strips with every colour as a 16-colour terminal shows it.

    Rich writes to a ``TERM=xterm-16color`` terminal by downgrading each colour to the nearest of the 16
    standard ones (``Color.downgrade(ColorSystem.STANDARD)``) as it emits the escape codes; doing the same to
    the segments before the SVG export (which is truecolor only) draws what such a terminal shows, in the
    export theme's 16-colour palette.
    """

    def __init__(self, strips: list[Strip]) -> None:
        self.strips = strips

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        for strip in self.strips:
            for seg in strip:
                st = seg.style
                if st is not None:
                    fg = st.color.downgrade(ColorSystem.STANDARD) if st.color is not None else None
                    bg = st.bgcolor.downgrade(ColorSystem.STANDARD) if st.bgcolor is not None else None
                    st = st.without_color + Style(color=fg, bgcolor=bg,
                                                  bold=st.bold, dim=st.dim, italic=st.italic,
                                                  underline=st.underline, reverse=st.reverse)
                yield Segment(seg.text, st)
            yield Segment.line()


def svg_16_colours(app: LcmApp) -> str:
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False, safe_box=False)
    console.print(_Screen16(app.screen._compositor.render_strips()), end="")
    return console.export_svg(title="lcm-tui, 16 colours")


async def test_16_colour_rendering(snapshot: Any) -> None:
    """The book with changed levels on both sides, as a 16-colour terminal draws it: the changed sizes are
    reversed in their side's colour (not bright red on bright red), the chart's axes and legend readable."""
    s = settings()
    m = filled_market(s)
    app = LcmApp(s, m, sample=m.sample, clock=lambda: NOW_NS, timers=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await _changed_levels(app, pilot)
        assert not unreadable(app)
        svg = svg_16_colours(app)
    # Every colour drawn is one of the export palette's 16 (or its default foreground / background).
    theme = SVG_EXPORT_THEME
    palette = {"#{:02x}{:02x}{:02x}".format(*c)
               for c in [*theme.ansi_colors._colors, theme.foreground_color, theme.background_color]}
    used = {c.lower() for c in re.findall(r"(?:fill|color): *(#[0-9a-fA-F]{6})", svg)}
    assert used and used <= palette, sorted(used - palette)
    assert svg == snapshot
