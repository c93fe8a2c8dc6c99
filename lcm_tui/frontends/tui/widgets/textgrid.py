"""Fixed-width text tables for the panels that redraw every sample.

A Rich ``Table`` measures every cell twice and renders through several layers; for the slippage,
venues and alerts panels that cost 3-12 ms per redraw at 200 columns (``benches/ui.py``), which is
most of a frame. These panels have short, known cells, so one pass of padding into a single ``Text``
does the same job in a fraction of the time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

Cell = str | Text


@dataclass(frozen=True, slots=True)
class Col:
    header: str
    right: bool = False  # numbers are right-aligned
    flex: bool = False  # cut first (with an ellipsis) when space is short


def _pad(cell: Text, width: int, right: bool) -> Text:
    if cell.cell_len > width:
        cell = cell.copy()
        cell.truncate(width, overflow="ellipsis")
    pad = " " * (width - cell.cell_len)
    return Text.assemble(pad, cell) if right else Text.assemble(cell, pad)


def _widths(cols: Sequence[Col], texts: Sequence[Sequence[Text]], width: int) -> tuple[list[int], int]:
    """Column widths and the gap between columns: two cells when everything fits that way, else one."""
    widths = [max([len(c.header), *(row[i].cell_len for row in texts)]) for i, c in enumerate(cols)]
    gap = 2 if sum(widths) + 2 * (len(cols) - 1) <= width else 1
    # Columns keep their natural widths (a wide panel does not spread the numbers away from their
    # labels); only when the panel is too narrow are the flexible ones cut.
    spare = width - sum(widths) - gap * (len(cols) - 1)
    if spare < 0:
        for i in (i for i, c in enumerate(cols) if c.flex):  # never below 4 cells
            cut = min(-spare, max(0, widths[i] - 4))
            widths[i] -= cut
            spare += cut
    return widths, gap


def _offsets(strip: Strip, y: int) -> Strip:
    """Each segment with the ``offset`` meta Textual's ``Content`` puts on the text it draws (text selection
    reads it), so these strips equal what the ``Text`` path draws."""
    out = []
    x = 0
    for seg in strip:
        out.append(Segment(seg.text, (seg.style or Style()) + Style.from_meta({"offset": (x, y)})))
        x += len(seg.text)
    return Strip(out, strip.cell_length)


def _padded(strip: Strip, width: int, base: Style) -> Strip:
    """The line, then blank cells to the widget's width as a segment of their own (as Textual pads a ``Text``)."""
    n = width - strip.cell_length
    return Strip([*strip, Segment(" " * n, base)], width) if n > 0 else strip


def grid_strips(cols: Sequence[Col], rows: Sequence[Sequence[Cell]], width: int, base: Style, *,
                header_style: str = "bold", rule: str = "─") -> list[Strip]:
    """What :func:`grid` draws, as strips: for a panel redrawn at every frame (the slippage table follows the
    book on screen), skipping the ``Text`` -> ``Content`` -> strips path saves most of its cost.

    Cells are plain strings or single-style ``Text`` (no spans); ``grid`` takes everything else.
    """
    texts = [[c if isinstance(c, Text) else Text(c) for c in row] for row in rows]
    widths, gap = _widths(cols, texts, width)
    sep = Segment(" " * gap, base)
    head = base + Style.parse(header_style)

    def line(cells: Sequence[Text], y: int, header: bool = False) -> Strip:
        segs: list[Segment] = []
        for i, (c, w, col) in enumerate(zip(cells, widths, cols, strict=True)):
            if i:
                segs.append(sep if not header else Segment(sep.text, head))
            text = c.plain
            if len(text) > w:
                text = text[: max(0, w - 1)] + "…"
            pad = " " * (w - len(text))
            style = head if header else base + (Style.parse(c.style) if isinstance(c.style, str) else c.style)
            pad_style = head if header else base
            segs += [Segment(pad, pad_style), Segment(text, style)] if col.right else \
                [Segment(text, style), Segment(pad, pad_style)]
        return _padded(_offsets(Strip(Segment.simplify(segs)).crop(0, width), y), width, base)

    dim = base + Style(dim=True)
    ruler = Segment(rule * min(width, sum(widths) + gap * (len(cols) - 1)), dim)
    out = [line([Text(c.header) for c in cols], 0, header=True), _padded(_offsets(Strip([ruler]), 1), width, base)]
    out += [line(row, y) for y, row in enumerate(texts, 2)]
    return out


def grid(cols: Sequence[Col], rows: Sequence[Sequence[Cell]], width: int, *, header_style: str = "bold",
         row_styles: Sequence[str] | None = None, rule: str = "─",
         breaks: Sequence[int] = ()) -> Text:
    """Header, a rule, then the rows; ``breaks`` are row indexes preceded by a blank separator line.

    Columns are two cells apart when everything fits that way, else one.
    """
    texts = [[c if isinstance(c, Text) else Text(c) for c in row] for row in rows]
    widths, gap = _widths(cols, texts, width)
    sep = " " * gap
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append_text(Text(sep).join(_pad(Text(c.header), w, c.right) for c, w in zip(cols, widths, strict=True)))
    out.stylize(header_style)
    out.append("\n" + rule * min(width, sum(widths) + gap * (len(cols) - 1)), style="dim")
    for n, row in enumerate(texts):
        out.append("\n\n" if n in breaks else "\n")
        line = Text(sep).join(_pad(c, w, col.right) for c, w, col in zip(row, widths, cols, strict=True))
        if row_styles and row_styles[n]:
            line.stylize(row_styles[n])
        out.append_text(line)
    return out
