"""Every configured venue that lists the current asset, side by side, grouped by canonical symbol.

Rows are grouped by ``symbols.canonical`` (BTC-USDT apart from BTC-USD: different quote currencies
are different markets), and every group of the current base asset is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich import box
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from lcm_tui.feeds.base import SymbolState
from lcm_tui.model import MetricSample
from lcm_tui.symbols import canonical, parse_symbol
from lcm_tui.ui import fmt
from lcm_tui.ui.widgets.status import STATUS_STYLE


@dataclass(slots=True)
class VenueRow:
    venue: str
    symbol: str
    state: SymbolState | None
    sample: MetricSample | None
    selected: bool = False
    number: int = 0  # the digit key that picks this venue (0: none)


def rows_for_asset(streams: list[tuple[SymbolState, MetricSample | None]], venue: str, symbol: str
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


def venues_table(rows: list[VenueRow], bands: list[int], middle_notional: float, compact_cols: bool) -> Table:
    t = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, padding=(0, 1), show_edge=False)
    t.add_column("#", justify="right", no_wrap=True)
    t.add_column("venue", no_wrap=True)
    t.add_column("symbol", no_wrap=True)
    t.add_column("status", no_wrap=True)
    # Compact (80 columns): the two widest bands, and short headers; the border title says the units.
    t.add_column("bps" if compact_cols else "spread bps", justify="right", no_wrap=True)
    shown_bands = bands if not compact_cols else bands[-2:]
    for b in shown_bands:
        t.add_column(f"±{b}" if compact_cols else f"±{b}bp", justify="right", no_wrap=True)
    n = fmt.notional(middle_notional)
    t.add_column("buy" if compact_cols else f"buy {n} bps", justify="right", no_wrap=True)
    t.add_column("sell" if compact_cols else f"sell {n} bps", justify="right", no_wrap=True)
    group = None
    for r in rows:
        g = canonical(r.venue, r.symbol)
        if g != group:
            if group is not None:
                t.add_section()
            group = g
        st, sm = r.state, r.sample
        status = Text(st.status.value.upper() if st else "-", style=STATUS_STYLE.get(st.status, "") if st else "")
        cells: list[Text | str] = [str(r.number) if 0 < r.number < 10 else "", r.venue, r.symbol, status]
        if sm is None:
            cells += ["-"] * (1 + len(shown_bands) + 2)
        else:
            cells.append(fmt.bps(sm.spread_bps))
            for b in shown_bands:
                d = sm.depth_bid.get(b, 0.0) + sm.depth_ask.get(b, 0.0)
                cells.append(fmt.compact(d) if b in sm.depth_bid else "-")
            for side in ("buy", "sell"):
                s = sm.slip(side, middle_notional)
                cells.append("-" if s is None else Text("n/a", style="bold red") if not s.fillable
                             else fmt.bps(s.slippage_bps))
        t.add_row(*cells, style="bold reverse" if r.selected else "")
    if not rows:
        t.add_row("", Text("no venues configured", style="dim"))
    return t


class VenuesOverview(Widget):
    DEFAULT_CSS = """
    VenuesOverview { height: auto; }
    """

    def __init__(self, bands: list[int], middle_notional: float, *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._bands = list(bands)
        self._middle = middle_notional
        self._rows: list[VenueRow] = []
        self._key: object = None

    def show(self, rows: list[VenueRow]) -> None:
        key = tuple((r.venue, r.symbol, r.selected, r.state.status if r.state else None,
                     r.sample.ts_ns if r.sample else None, id(r.sample)) for r in rows)
        if key != self._key:
            resized = self._key is None or len(rows) != len(self._rows)
            self._key = key
            self._rows = rows
            self.refresh(layout=resized)

    def get_content_height(self, container, viewport, width: int) -> int:  # type: ignore[no-untyped-def]
        groups = len({canonical(r.venue, r.symbol) for r in self._rows})
        return 2 + max(1, len(self._rows)) + max(0, groups - 1)

    def render(self) -> Table:
        return venues_table(self._rows, self._bands, self._middle, compact_cols=self.size.width < 90)
