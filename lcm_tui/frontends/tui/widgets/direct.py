"""Line rendering without Textual's per-line styling pass, for widgets redrawn at every frame.

Textual's compositor asks every visible widget for all of its lines on each screen update, and a widget's
lines go through a styles pass that checks borders, padding, outline, tint, opacity and hatching for every
line: some 30 µs a line, more than the ladder spends building its own strips (``benches/ui.py``). For a
widget whose lines are already complete (its ``render_line`` returns strips in its own style, at its own
width) that pass changes nothing but the length of a short line, so :class:`DirectLines` does just that,
applies the app's line filters as Textual does, and hands every other row (a border or padding row) and
every other case (a side border, padding left or right, an outline, tint, opacity, hatching, links) to
Textual. The result is the same strips, segment for segment; ``tests/ui/test_direct_lines.py`` compares
both paths for every widget that uses it, in dark, light and ANSI themes.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.color import Color
from textual.filter import LineFilter
from textual.geometry import Region
from textual.strip import Strip
from textual.style import Style
from textual.widget import Widget

FilterKey = tuple[tuple[LineFilter, ...], Color]


class DirectLines(Widget):
    """A widget whose content rows skip the styles pass when nothing in its CSS needs it.

    A widget that builds its strips from a few styles can also pass each style through
    :meth:`filtered_style` as it builds them: its rows then skip the app's line filters too, as long as the
    filters in force are the ones the styles were filtered with (a line filter maps each segment's style
    on its own, and filtering a filtered style changes nothing, so either way the strips are the same).
    """

    _filters_done: FilterKey | None = None  # the filters the strips' styles went through, if any
    _filtered: dict[RichStyle, RichStyle]

    def _filter_key(self) -> FilterKey:
        return tuple(self.get_line_filters()), self.background_colors[1]

    def filtered_style(self, style: RichStyle) -> RichStyle:
        """``style`` as the app's line filters turn it, for strips that promise to be filtered already."""
        key = self._filter_key()
        if key != self._filters_done:
            self._filters_done, self._filtered = key, {}
        out = self._filtered.get(style)
        if out is None:
            strip = Strip([Segment(" ", style)], 1)
            for line_filter in key[0]:
                strip = strip.apply_filter(line_filter, key[1])
            out = self._filtered[style] = next(iter(strip)).style or RichStyle()
        return out

    def _direct(self) -> bool:
        """Whether Textual's styles pass would leave the content rows as ``render_line`` returns them."""
        styles = self.styles
        border = styles.border
        outline = styles.outline
        padding = styles.padding
        return (not border.left[0] and not border.right[0] and not any(edge[0] for edge in outline)
                and not padding.left and not padding.right and not styles.tint.a and self.opacity == 1.0
                and styles.text_opacity == 1.0 and not (styles.has_rule("hatch") and styles.hatch != "none")
                and not self.BLANK and not self._hovered_link())

    def _hovered_link(self) -> bool:
        """A link under the mouse, which Textual restyles in every line it draws."""
        if not self.auto_links:
            return False
        hover = self.hover_style
        return bool(hover._link_id and hover._meta and "@click" in hover.meta)

    def render_lines(self, crop: Region) -> list[Strip]:
        if not self._direct():
            return super().render_lines(crop)
        width, height = self.region.size
        gutter = self.styles.gutter
        top, bottom = gutter.top, height - gutter.bottom
        base_background, background = self.background_colors
        inner = Style(background=base_background + background).rich_style
        filters = self.get_line_filters()
        done = self._filters_done == (tuple(filters), background)
        full = Region(0, 0, width, 1)
        strips: list[Strip] = []
        for y in crop.line_range:
            if y < top or y >= bottom:  # a border or padding row: Textual's (cached, filtered)
                strips.append(super().render_lines(full._replace(y=y))[0])
                continue
            strip = self.render_line(y - top)
            if done and strip.cell_length == width:
                strips.append(strip)
                continue
            strip = strip.adjust_cell_length(width, inner)
            for line_filter in filters:
                strip = strip.apply_filter(line_filter, background)
            strips.append(strip)
        x1, x2 = crop.column_span
        if (x1, x2) != (0, width):
            strips = [strip.crop(x1, x2) for strip in strips]
        return strips
