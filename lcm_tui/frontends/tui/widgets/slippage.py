"""Slippage for a market buy and sell of every configured notional (docs/metrics.md), of the book on screen."""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.reactive import reactive
from textual.strip import Strip

from lcm_tui.core.model import MetricSample, Slippage
from lcm_tui.frontends.tui import fmt
from lcm_tui.frontends.tui.widgets.direct import DirectLines
from lcm_tui.frontends.tui.widgets.textgrid import Col, grid, grid_strips

MEMO_MAX = 4096
COLS = (Col("side", flex=True), Col("VWAP", right=True), Col("bps", right=True), Col("lv", right=True))


def slippage_rows(walks: Sequence[Slippage] | MetricSample | None, notionals: list[float]) -> list[list[str | Text]]:
    if isinstance(walks, MetricSample):
        walks = walks.slippage
    by = {(w.side, w.notional): w for w in walks or ()}
    rows: list[list[str | Text]] = []
    for side, style in (("buy", "green"), ("sell", "red")):
        for n in notionals:
            s = by.get((side, n))
            label = Text(f"{side} {fmt.notional(n)}", style=style)
            if s is None:
                rows.append([label, "-", "-", "-"])
            elif not s.fillable:  # the whole side is too thin: say how much of the order it could take
                rows.append([label, Text(f"fills {fmt.compact(s.filled_quote)}", style="bold red"),
                             Text("n/a", style="bold red"), str(s.levels)])
            else:
                rows.append([label, fmt.price(s.vwap), fmt.bps(s.slippage_bps), str(s.levels)])
    return rows


def slippage_table(walks: Sequence[Slippage] | MetricSample | None, notionals: list[float], width: int) -> Text:
    return grid(COLS, slippage_rows(walks, notionals), width)


class SlippageTable(DirectLines):
    """The walks of the book instant the ladder beside it draws (``BookSnapshot.metrics``), not the sample clock's."""

    DEFAULT_CSS = """
    SlippageTable { height: auto; }
    """
    # The cells as drawn: a new snapshot whose walks round to the same figures costs no redraw (a repaint
    # costs the compositor several milliseconds at 200x60, and the book on screen moves at every frame).
    cells: reactive[tuple[tuple[str, ...], ...]] = reactive((), layout=False)

    def __init__(self, notionals: list[float], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._notionals = list(notionals)
        self._strips: list[Strip] | None = None
        self._strips_width = 0
        self._memo: dict[tuple[Style, int, int], Style] = {}  # see ``grid_strips``
        self.walks: tuple[Slippage, ...] | None = None  # what the table shows
        self._rows = slippage_rows(None, self._notionals)

    def show(self, sample: MetricSample | None) -> None:
        walks = tuple(sample.slippage) if sample is not None else None
        rows = slippage_rows(walks, self._notionals)
        self.walks = walks
        self._rows = rows
        self.cells = tuple(tuple(c.plain if isinstance(c, Text) else c for c in row) for row in rows)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return 2 * len(self._notionals) + 2

    def watch_cells(self) -> None:
        self._strips = None

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips = None
        self._memo.clear()

    def render_line(self, y: int) -> Strip:
        # Redrawn whenever the book on screen moves: strips straight from the cells (see ``grid_strips``).
        width = self.size.width
        if self._strips is None or self._strips_width != width:
            if len(self._memo) > MEMO_MAX:  # columns that moved leave styles no redraw asks for again
                self._memo.clear()
            self._strips = grid_strips(COLS, self._rows, width, self.rich_style, memo=self._memo)
            self._strips_width = width
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, self.rich_style)

    def render(self) -> Text:
        """The table as text (what ``render_line`` draws), for tests and exports."""
        return slippage_table(self.walks, self._notionals, self.size.width)
