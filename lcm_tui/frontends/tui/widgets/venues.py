"""Every configured venue that lists the current asset, side by side, grouped by canonical symbol.

Rows are grouped by ``symbols.canonical`` (BTC-USDT apart from BTC-USD: different quote currencies
are different markets), and every group of the current base asset is shown. A click on a row picks
that stream (the app opens its book).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from lcm_tui.core.model import MetricSample
from lcm_tui.core.symbols import canonical, parse_symbol
from lcm_tui.core.view import StreamView
from lcm_tui.frontends.tui import fmt
from lcm_tui.frontends.tui.widgets.status import STATUS_STYLE
from lcm_tui.frontends.tui.widgets.textgrid import Col, grid


@dataclass(slots=True)
class VenueRow:
    venue: str
    symbol: str
    state: StreamView | None
    sample: MetricSample | None
    selected: bool = False
    number: int = 0  # the digit key that picks this venue (0: none)


def rows_for_asset(streams: list[tuple[StreamView, MetricSample | None]], venue: str, symbol: str
                   ) -> list[VenueRow]:
    """The streams with the same base asset as (venue, symbol), grouped by canonical, in config order.

    ``number`` is the venue's position among all venues in ``streams`` (what the digit keys pick).
    """
    numbers = {v: i for i, v in enumerate(dict.fromkeys(st.venue for st, _ in streams), 1)}
    base = parse_symbol(venue, symbol)[0]
    mine = canonical(venue, symbol)
    picked = [(canonical(st.venue, st.symbol), st, sm) for st, sm in streams
              if parse_symbol(st.venue, st.symbol)[0] == base]
    groups = [mine, *sorted({c for c, _, _ in picked} - {mine})]
    return [VenueRow(st.venue, st.symbol, st, sm, (st.venue, st.symbol) == (venue, symbol), numbers[st.venue])
            for g in groups for c, st, sm in picked if c == g]


def row_lines(rows: list[VenueRow]) -> dict[int, VenueRow]:
    """Which row each line of :func:`venues_table` draws: a header and its rule, then the rows, with a blank
    line between canonical groups."""
    out: dict[int, VenueRow] = {}
    line, group = 2, None
    for r in rows:
        g = canonical(r.venue, r.symbol)
        if group is not None and g != group:
            line += 1
        group = g
        out[line] = r
        line += 1
    return out


WIDE_COLS = 180  # from here (a 200-column terminal) the mid and the slippage at every notional are shown too


def venues_table(rows: list[VenueRow], bands: list[int], middle_notional: float, width: int,
                 notionals: Sequence[float] = ()) -> Text:
    # Compact (80 columns): the two widest bands, and short headers; the border title says the units.
    # Wide: the mid, and buy and sell slippage at every configured notional, not only the middle one.
    compact_cols = width < 90
    wide = width >= WIDE_COLS and bool(notionals)
    shown_bands = bands if not compact_cols else bands[-2:]
    slip_at = list(notionals) if wide else [middle_notional]
    n = fmt.notional(middle_notional)
    cols = [Col("#", right=True), Col("venue", flex=True), Col("symbol", flex=True), Col("status"),
            *([Col("mid", right=True)] if wide else []),
            Col("bps" if compact_cols else "spread bps", right=True),
            *(Col(f"±{b}" if compact_cols else f"±{b}bp", right=True) for b in shown_bands)]
    if wide:
        cols += [Col(f"{side} {fmt.notional(x)} bps", right=True) for x in slip_at for side in ("buy", "sell")]
    else:
        cols += [Col("buy" if compact_cols else f"buy {n} bps", right=True),
                 Col("sell" if compact_cols else f"sell {n} bps", right=True)]
    cells: list[list[str | Text]] = []
    styles: list[str] = []
    breaks: list[int] = []
    group = None
    for r in rows:
        g = canonical(r.venue, r.symbol)
        if group is not None and g != group:
            breaks.append(len(cells))
        group = g
        st, sm = r.state, r.sample
        status = Text(st.status.value.upper() if st else "-", style=STATUS_STYLE.get(st.status, "") if st else "")
        row: list[str | Text] = [str(r.number) if 0 < r.number < 10 else "", r.venue, r.symbol, status]
        if sm is None:
            row += ["-"] * (len(cols) - len(row))
        else:
            if wide:
                row.append(fmt.price(sm.mid))
            row.append(fmt.bps(sm.spread_bps))
            for b in shown_bands:
                row.append(fmt.compact(sm.depth_bid[b] + sm.depth_ask.get(b, 0.0)) if b in sm.depth_bid else "-")
            for x in slip_at:
                for side in ("buy", "sell"):
                    s = sm.slip(side, x)
                    row.append("-" if s is None else Text("n/a", style="bold red") if not s.fillable
                               else fmt.bps(s.slippage_bps))
        cells.append(row)
        styles.append("bold reverse" if r.selected else "")
    if not cells:
        cells.append(["", Text("no venues", style="dim"), *([""] * (len(cols) - 2))])
        styles.append("")
    return grid(cols, cells, width, row_styles=styles, breaks=breaks)


class VenuesOverview(Widget):
    class Picked(Message):
        """The user clicked a venue's row."""

        def __init__(self, venue: str, symbol: str) -> None:
            super().__init__()
            self.venue = venue
            self.symbol = symbol

    DEFAULT_CSS = """
    VenuesOverview { height: auto; }
    """
    # What is drawn of the rows: a new sample or status redraws, the same ones cost nothing.
    key: reactive[tuple[object, ...]] = reactive((), layout=False)

    def __init__(self, bands: list[int], middle_notional: float, *, notionals: Sequence[float] = (),
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._bands = list(bands)
        self._middle = middle_notional
        self._notionals = list(notionals)
        self._rows: list[VenueRow] = []

    def show(self, rows: list[VenueRow]) -> None:
        # By value: a view hands out copies, so the same sample is a new object at every call.
        key = tuple((r.venue, r.symbol, r.selected, r.state.status if r.state else None,
                     r.sample.ts_ns if r.sample else None, r.sample.spread_bps if r.sample else None) for r in rows)
        if key != self.key:
            resized = not self.key or len(rows) != len(self._rows)
            self._rows = rows
            self.key = key
            if resized:
                self.refresh(layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        groups = len({canonical(r.venue, r.symbol) for r in self._rows})
        return 2 + max(1, len(self._rows)) + max(0, groups - 1)

    def render(self) -> Text:
        return venues_table(self._rows, self._bands, self._middle, self.size.width, self._notionals)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        r = row_lines(self._rows).get(offset.y) if offset is not None else None
        if r is not None:
            event.stop()
            self.post_message(self.Picked(r.venue, r.symbol))
