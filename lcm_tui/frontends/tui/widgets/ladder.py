"""The depth ladder: asks over bids around the spread, drawn line by line.

Why a custom ``render_line`` widget and not a ``DataTable``: the ladder is redrawn up to ``ui.fps``
times a second for a book that changes on every frame. A DataTable keeps cells, row keys, column
widths and a render cache per row that all have to be rebuilt on every update; here one refresh is a
slice of the book plus one ``Strip`` per visible line, built lazily when the compositor asks for it.
``benches/ui.py`` measures the ratio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.reactive import reactive
from textual.strip import Strip

from lcm_tui.core.bands import book_bands, cumulative_depth
from lcm_tui.core.book import OrderBook
from lcm_tui.core.view import BookSnapshot
from lcm_tui.frontends.tui import fmt
from lcm_tui.frontends.tui.widgets.direct import DirectLines

_EIGHTHS = " ▏▎▍▌▋▊▉"


@dataclass(slots=True)
class LadderRow:
    side: str  # "ask" | "bid"
    price: str
    size_str: str
    size: float
    cum_size: float
    cum_quote: float
    marker: str  # label of the widest depth band that ends at this level, or ""
    changed: bool


def bar(frac: float, width: int) -> str:
    """A left-aligned bar with 1/8-cell resolution."""
    if width <= 0:
        return ""
    eighths = max(0, min(width * 8, round(frac * width * 8)))
    full, part = divmod(eighths, 8)
    text = "█" * full + (_EIGHTHS[part] if part else "")
    return text.ljust(width)


def trim_common_zeros(values: list[str]) -> list[str]:
    """The values with one number of decimals, so that right-aligned they line up on the decimal point.

    Trailing zeros that every value has are dropped ('1.50000000', '1.25000000' -> '1.50', '1.25': the
    padding some venues send, Binance 8 decimals, would eat a third of an 80-column ladder), and a value
    with fewer decimals than the others is padded with zeros ('1.021', '1.02102' -> '1.02100', '1.02102').
    Either way each is still the exchange's exact decimal.
    """
    if not values:
        return values
    if any("." in v for v in values):
        decimals = max(len(v) - v.index(".") - 1 if "." in v else 0 for v in values)
        values = [v + "0" * (decimals - (len(v) - v.index(".") - 1)) if "." in v else f"{v}.{'0' * decimals}"
                  for v in values]
    else:
        return values
    drop = min(len(v) - len(v.rstrip("0")) for v in values)
    drop = min(drop, min(len(v) - v.index(".") - 2 for v in values))  # keep one decimal
    return [v[: len(v) - drop] for v in values] if drop > 0 else values


def aligned_totals(values: list[float], decimals: int, width: int) -> list[str]:
    """Running totals with one number of decimals, so that right-aligned they line up on the decimal point.

    ``decimals`` is the size column's (the lot's): a sum of sizes has no more. Decimals are given up, all
    together, only when the widest total would not fit in ``width``; past that the compact form is used.
    """
    for d in range(max(0, decimals), -1, -1):
        out = [f"{v:.{d}f}" for v in values]
        if all(len(t) <= width for t in out):
            return out
    return [fmt.size(v) for v in values]


def snapshot_book(snap: BookSnapshot) -> OrderBook:
    """The snapshot's levels as a book, so the core's band and prefix-sum code reads them as it reads any book."""
    book = OrderBook(snap.venue, snap.symbol)
    book.load_snapshot(snap.bids, snap.asks)
    return book


def ladder_rows(book: OrderBook, n: int, bands: list[int], previous: dict[float, float] | None
                ) -> tuple[list[LadderRow], list[LadderRow], dict[float, float]]:
    """The best ``n`` asks and bids with running totals and band-end markers.

    Totals are the core's prefix sums and a marker sits on the last level a band holds by the core's
    (exact) band membership, so the ladder agrees with the depth figures. ``book`` needs one level a side
    beyond the ``n`` shown: a band that holds every level given is not known to end there.

    ``previous`` maps book keys to sizes as they were shown at the last refresh (ask keys are
    positive, bid keys negative, so one map holds both sides). A level is ``changed`` when its size
    differs, or when it is new *inside* the range shown last time; a level that only scrolled into
    view (the ladder grew, or levels above it went away) is not. Nothing is flagged on the first
    refresh. Returns (asks best-first, bids best-first, the map to pass as ``previous`` next time).
    """
    bb = book_bands(book, bands)
    seen: dict[float, float] = {}
    out: list[list[LadderRow]] = []
    prev = previous or {}
    for side_name, side in (("ask", book.asks), ("bid", book.bids)):
        keys = side.keys[:n]
        levels = side.levels
        # keys grow outward from the top on both sides: this is the outermost level shown last time
        shown = [k for k in prev if (k > 0) == (side_name == "ask")]
        outer = max(shown) if shown else None
        _, cum_quote = cumulative_depth(side, len(keys))
        markers: dict[int, str] = {}
        if bb is not None:
            for band in bb.bands:  # ascending: the widest band that ends on a level wins
                inside = band.ask_levels if side_name == "ask" else band.bid_levels
                if 0 < inside < len(side.keys):
                    markers[inside - 1] = str(band.bps)
        rows: list[LadderRow] = []
        cum_size = 0.0
        for i, k in enumerate(keys):
            size, p_str, q_str = levels[k]
            cum_size += size
            seen[k] = size
            was = prev.get(k)
            changed = was != size if was is not None else outer is not None and k <= outer
            rows.append(LadderRow(side_name, p_str, q_str, size, cum_size, cum_quote[i], markers.get(i, ""), changed))
        out.append(rows)
    every = out[0] + out[1]
    for r, p_str in zip(every, trim_common_zeros([r.price for r in every]), strict=True):
        r.price = p_str
    for r, q_str in zip(every, trim_common_zeros([r.size_str for r in every]), strict=True):
        r.size_str = q_str
    return out[0], out[1], seen


class DepthLadder(DirectLines):
    """Asks (top, best ask nearest the middle) over bids, with a spread row between them."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "ladder--header",
        "ladder--ask",
        "ladder--bid",
        "ladder--changed",
        "ladder--bar-ask",
        "ladder--bar-bid",
        "ladder--marker",
        "ladder--spread",
    }

    DEFAULT_CSS = """
    DepthLadder { height: 1fr; }
    """

    # The book instant to draw; the app sets it once per refresh from ``MarketView.snapshot``.
    snapshot: reactive[BookSnapshot | None] = reactive(None, repaint=False)

    def __init__(self, bands: list[int] | None = None, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._bands: list[int] = sorted(bands or [])
        self._levels: tuple[list[tuple[str, str]], list[tuple[str, str]]] | None = None
        self._asks: list[LadderRow] = []
        self._bids: list[LadderRow] = []
        self._previous: dict[float, float] | None = None
        self._strips: list[Strip] | None = None
        self._spread_text = "no book"
        self.shown_ts = -1  # ts_ns of the snapshot drawn (benches/ui.py measures latency with it)

    @property
    def rows_wanted(self) -> int:
        """Levels a side the ladder needs from a snapshot (one more than it shows, for the band markers)."""
        return self._per_side() + 1

    def reset(self) -> None:
        """Forget the previous levels: after switching streams nothing counts as 'changed'."""
        self._previous = None

    def watch_snapshot(self, snap: BookSnapshot | None) -> None:
        levels = (snap.bids, snap.asks) if snap is not None else None
        if (levels == self._levels and not any(r.changed for r in self._asks)
                and not any(r.changed for r in self._bids)):
            return  # nothing new and no highlight to clear: no redraw
        self._levels = levels
        self._rebuild()
        self.refresh()

    def _per_side(self) -> int:
        return max(1, (self.size.height - 2) // 2)

    def _rebuild(self) -> None:
        snap = self.snapshot
        self._strips = None
        self.shown_ts = snap.ts_ns if snap is not None else -1
        if snap is None or not (snap.bids or snap.asks):
            self._asks, self._bids = [], []
            self._spread_text = "no book (waiting for sync)"
            self._previous = None
            return
        self._asks, self._bids, self._previous = ladder_rows(snapshot_book(snap), self._per_side(), self._bands,
                                                             self._previous)
        m = snap.metrics
        if m is not None and m.mid is not None and m.spread_bps is not None:
            self._spread_text = f"spread {m.spread_bps:.2f} bps  mid {fmt.price(m.mid)}"
        else:
            self._spread_text = "one-sided book"

    def on_resize(self) -> None:
        self._rebuild()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips = None

    def render_line(self, y: int) -> Strip:
        if self._strips is None:
            self._strips = self._render_all()
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.filtered_style(self.rich_style))

    # ------------------------------------------------------------------------------- drawing
    def _columns(self, width: int) -> tuple[int, int, int, int, int, int]:
        """Widths of (price, size, cum size, cum quote, marker, bar); 0 drops a column."""
        rows = self._asks + self._bids
        pw = max([8, *(len(r.price) for r in rows)])
        sw, cw, qw, mw = 9, 9, 9, 4
        fixed = 1 + pw + 1 + sw + 1 + cw + 1 + qw + 1 + mw + 1
        if width - fixed < 6:  # too narrow for everything: cumulative size goes first
            cw = 0
            fixed -= 10
        barw = max(0, width - fixed)
        return pw, sw, cw, qw, mw, barw

    def _render_all(self) -> list[Strip]:
        width, height = self.size.width, self.size.height
        if width <= 0 or height <= 0:
            return []
        # Every style goes through the app's line filters here, once, not for every segment of every frame.
        f = self.filtered_style
        plain = self.rich_style
        base = f(plain)
        st = {name: f(plain + self.get_component_rich_style(f"ladder--{name}")) for name in
              ("header", "ask", "bid", "bar-ask", "bar-bid", "marker", "spread")}
        changed = self.get_component_rich_style("ladder--changed", partial=True)
        hot_style = {side: f(plain + self.get_component_rich_style(f"ladder--{side}") + changed)
                     for side in ("ask", "bid")}
        pw, sw, cw, qw, mw, barw = self._columns(width)

        def cells(*parts: tuple[str, int, Style]) -> Strip:
            segs = [Segment(" ", base)]
            for text, w, style in parts:
                if w:
                    segs.append(Segment(text[:w].rjust(w), style))
                    segs.append(Segment(" ", base))
            return Strip(segs).adjust_cell_length(width, base)

        head = st["header"]
        header = cells(("PRICE", pw, head), ("SIZE", sw, head), ("CUM SIZE", cw, head), ("CUM QUOTE", qw, head),
                       ("BAND", mw, head), ("", barw, head))
        n = self._per_side()
        max_size = max([r.size for r in self._asks + self._bids] or [1.0])

        rows = self._asks + self._bids
        size_str = rows[0].size_str if rows else ""
        decimals = len(size_str) - size_str.index(".") - 1 if "." in size_str else 0
        cum_text = dict(zip(map(id, rows), aligned_totals([r.cum_size for r in rows], decimals, cw), strict=True))

        def row_strip(r: LadderRow) -> Strip:
            side = st[r.side]
            hot = hot_style[r.side] if r.changed else side
            size_text = r.size_str if len(r.size_str) <= sw else fmt.size(r.size)
            segs = [Segment(" ", base), Segment(r.price.rjust(pw)[:pw], hot), Segment(" ", base),
                    Segment(size_text.rjust(sw)[:sw], hot), Segment(" ", base)]
            if cw:
                segs += [Segment(cum_text[id(r)].rjust(cw)[:cw], side), Segment(" ", base)]
            segs += [Segment(fmt.compact(r.cum_quote).rjust(qw)[:qw], side), Segment(" ", base),
                     Segment(r.marker.rjust(mw)[:mw], st["marker"] if r.marker else base), Segment(" ", base)]
            if barw:
                # Every cell is one column wide and the columns add up to the width: no measuring needed.
                segs.append(Segment(bar(r.size / max_size, barw), st[f"bar-{r.side}"]))
                return Strip(segs, width)
            return Strip(segs).adjust_cell_length(width, base)

        blank = Strip.blank(width, base)
        asks = [row_strip(r) for r in reversed(self._asks)]
        bids = [row_strip(r) for r in self._bids]
        spread = Strip([Segment(f" {self._spread_text} ".center(width, "─")[:width], st["spread"])])
        strips = [header, *([blank] * (n - len(asks))), *asks, spread, *bids]
        strips += [blank] * (height - len(strips))
        return strips[:height]
