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


def grid_strips(cols: Sequence[Col], rows: Sequence[Sequence[Cell]], width: int, base: Style, *,
                header_style: str = "bold", rule: str = "─",
                memo: dict[tuple[Style, int, int], Style] | None = None) -> list[Strip]:
    """What :func:`grid` draws, as strips: for a panel redrawn at every frame (the slippage table follows the
    book on screen), skipping the ``Text`` -> ``Content`` -> strips path saves most of its cost.

    Cells are plain strings or single-style ``Text`` (no spans); ``grid`` takes everything else. Runs of one
    style are one segment, each with the ``offset`` meta Textual's ``Content`` puts on the text it draws (text
    selection reads it), and the blank cells to the widget's width are a segment of their own, as Textual pads
    a ``Text``: these strips equal what the ``Text`` path draws, segment for segment.

    ``memo`` (kept by the widget across redraws, emptied when its styles change) holds each run's final style
    by (style, x, y): a style with meta is a new, unhashed object every time it is made, which is most of the
    cost of a redraw, while the columns of a table whose figures change stay where they were.
    """
    memo = {} if memo is None else memo
    texts = [[c if isinstance(c, Text) else Text(c) for c in row] for row in rows]
    widths, gap = _widths(cols, texts, width)
    sep = " " * gap
    head = base + Style.parse(header_style)
    styles: dict[object, Style] = {}

    def style_of(c: Text) -> Style:
        st = styles.get(c.style)
        if st is None:
            st = styles[c.style] = base + (Style.parse(c.style) if isinstance(c.style, str) else c.style)
        return st

    def at(style: Style, x: int, y: int) -> Style:
        key = (style, x, y)
        st = memo.get(key)
        if st is None:
            st = memo[key] = style + Style.from_meta({"offset": (x, y)})
        return st

    def strip(runs: list[tuple[str, Style]], y: int) -> Strip:
        segs: list[Segment] = []
        x = 0
        text, style = "", None
        for t, st in runs:  # merge runs of one style, as a ``Text`` span would be
            if st is style or st == style:
                text += t
                continue
            if text and style is not None:
                segs.append(Segment(text, at(style, x, y)))
                x += len(text)
            text, style = t, st
        if text and style is not None:
            text = text[: max(0, width - x)]
            segs.append(Segment(text, at(style, x, y)))
            x += len(text)
        if x < width:
            segs.append(Segment(" " * (width - x), base))
        return Strip(segs, width)

    def row_runs(cells: Sequence[Text], header: bool) -> list[tuple[str, Style]]:
        runs: list[tuple[str, Style]] = []
        for i, (c, w, col) in enumerate(zip(cells, widths, cols, strict=True)):
            pad_style = head if header else base
            if i:
                runs.append((sep, pad_style))
            text = c.plain
            if len(text) > w:
                text = text[: max(0, w - 1)] + "…"
            pad = " " * (w - len(text))
            st = head if header else style_of(c)
            runs += [(pad, pad_style), (text, st)] if col.right else [(text, st), (pad, pad_style)]
        return runs

    dim = base + Style(dim=True)
    out = [strip(row_runs([Text(c.header) for c in cols], True), 0),
           strip([(rule * min(width, sum(widths) + gap * (len(cols) - 1)), dim)], 1)]
    out += [strip(row_runs(row, False), y) for y, row in enumerate(texts, 2)]
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
