"""Slippage for a market buy and sell of every configured notional (metrics.md), from the latest sample."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from lcm_tui.core.model import MetricSample
from lcm_tui.frontends.tui import fmt
from lcm_tui.frontends.tui.widgets.textgrid import Col, grid

COLS = (Col("side", flex=True), Col("VWAP", right=True), Col("bps", right=True), Col("lv", right=True))


def slippage_table(sample: MetricSample | None, notionals: list[float], width: int) -> Text:
    rows: list[list[str | Text]] = []
    for side, style in (("buy", "green"), ("sell", "red")):
        for n in notionals:
            s = sample.slip(side, n) if sample is not None else None
            label = Text(f"{side} {fmt.notional(n)}", style=style)
            if s is None:
                rows.append([label, "-", "-", "-"])
            elif not s.fillable:  # the whole side is too thin: say how much of the order it could take
                rows.append([label, Text(f"fills {fmt.compact(s.filled_quote)}", style="bold red"),
                             Text("n/a", style="bold red"), str(s.levels)])
            else:
                rows.append([label, fmt.price(s.vwap), fmt.bps(s.slippage_bps), str(s.levels)])
    return grid(COLS, rows, width)


class SlippageTable(Widget):
    DEFAULT_CSS = """
    SlippageTable { height: auto; }
    """

    def __init__(self, notionals: list[float], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._notionals = list(notionals)
        self._sample: MetricSample | None = None
        self._key: object = ()

    def show(self, sample: MetricSample | None) -> None:
        # Samples arrive once per sample interval; redraw only then, not at every UI tick.
        key = (id(sample), sample.ts_ns if sample else None)
        if key != self._key:
            self._key = key
            self._sample = sample
            self.refresh(layout=False)

    def get_content_height(self, container, viewport, width: int) -> int:  # type: ignore[no-untyped-def]
        return 2 * len(self._notionals) + 2

    def render(self) -> Text:
        return slippage_table(self._sample, self._notionals, self.size.width)
