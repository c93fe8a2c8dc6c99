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
from textual.strip import Strip
from textual.widget import Widget

from lcm_tui.core.book import OrderBook
from lcm_tui.frontends.tui import fmt

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
    """Drop trailing zeros that every value has: '1.50000000', '1.25000000' -> '1.50', '1.25'.

    The result is still the exchange's exact decimal, aligned on the point, just without the padding
    some venues send (Binance: 8 decimals), which would otherwise eat a third of an 80-column ladder.
    """
    if not values or not all("." in v for v in values):
        return values
    drop = min(len(v) - len(v.rstrip("0")) for v in values)
    drop = min(drop, min(len(v) - v.index(".") - 2 for v in values))  # keep one decimal
    return [v[: len(v) - drop] for v in values] if drop > 0 else values


def ladder_rows(book: OrderBook, n: int, bands: list[int], previous: dict[float, float] | None
                ) -> tuple[list[LadderRow], list[LadderRow], dict[float, float]]:
    """The best ``n`` asks and bids with running totals and band-end markers.

    ``previous`` maps book keys to sizes as they were shown at the last refresh (ask keys are
    positive, bid keys negative, so one map holds both sides). A level is ``changed`` when its size
    differs, or when it is new *inside* the range shown last time; a level that only scrolled into
    view (the ladder grew, or levels above it went away) is not. Nothing is flagged on the first
    refresh. Returns (asks best-first, bids best-first, the map to pass as ``previous`` next time).
    """
    mid = book.mid()
    seen: dict[float, float] = {}
    out: list[list[LadderRow]] = []
    prev = previous or {}
    for side_name, side in (("ask", book.asks), ("bid", book.bids)):
        keys = side.keys[: n + 1]
        levels = side.levels
        # keys grow outward from the top on both sides: this is the outermost level shown last time
        shown = [k for k in prev if (k > 0) == (side_name == "ask")]
        outer = max(shown) if shown else None
        rows: list[LadderRow] = []
        cum_size = cum_quote = 0.0
        limits = []
        if mid is not None:
            sign = 1.0 if side_name == "ask" else -1.0
            limits = [(b, mid * (1.0 + sign * b / 1e4)) for b in sorted(bands)]
        for i, k in enumerate(keys[:n]):
            size, p_str, q_str = levels[k]
            p = abs(k)
            cum_size += size
            cum_quote += p * size
            seen[k] = size
            marker = ""
            if limits:
                nxt = abs(keys[i + 1]) if i + 1 < len(keys) else None
                for b, lim in limits:
                    inside = p <= lim if side_name == "ask" else p >= lim
                    nxt_out = nxt is None or (nxt > lim if side_name == "ask" else nxt < lim)
                    if inside and nxt_out and nxt is not None:
                        marker = str(b)  # widest band wins: it is checked last
            was = prev.get(k)
            changed = was != size if was is not None else outer is not None and k <= outer
            rows.append(LadderRow(side_name, p_str, q_str, size, cum_size, cum_quote, marker, changed))
        out.append(rows)
    every = out[0] + out[1]
    for r, p_str in zip(every, trim_common_zeros([r.price for r in every]), strict=True):
        r.price = p_str
    for r, q_str in zip(every, trim_common_zeros([r.size_str for r in every]), strict=True):
        r.size_str = q_str
    return out[0], out[1], seen


class DepthLadder(Widget):
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

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._book: OrderBook | None = None
        self._bands: list[int] = []
        self._asks: list[LadderRow] = []
        self._bids: list[LadderRow] = []
        self._previous: dict[float, float] | None = None
        self._strips: list[Strip] | None = None
        self._spread_text = "no book"
        self.shown_version = -1  # book.version as of the last rebuild (benches/ui.py measures latency with it)

    def reset(self) -> None:
        """Forget the previous levels: after switching streams nothing counts as 'changed'."""
        self._previous = None

    def set_book(self, book: OrderBook | None, bands: list[int]) -> None:
        unchanged = (book is self._book and book is not None and book.version == self.shown_version
                     and bands == self._bands)
        if unchanged and not any(r.changed for r in self._asks) and not any(r.changed for r in self._bids):
            return  # nothing new and no highlight to clear: no redraw
        self._book = book
        self._bands = list(bands)
        self._rebuild()
        self.refresh()

    def _per_side(self) -> int:
        return max(1, (self.size.height - 2) // 2)

    def _rebuild(self) -> None:
        book = self._book
        self._strips = None
        self.shown_version = book.version if book is not None else -1
        if book is None or book.is_empty():
            self._asks, self._bids = [], []
            self._spread_text = "no book (waiting for sync)"
            self._previous = None
            return
        self._asks, self._bids, self._previous = ladder_rows(book, self._per_side(), self._bands, self._previous)
        mid = book.mid()
        ba, bb = book.best_ask(), book.best_bid()
        if mid is not None and ba and bb:
            spread = float(ba[0]) - float(bb[0])
            self._spread_text = f"spread {1e4 * spread / mid:.2f} bps  mid {fmt.price(mid)}"
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
        return Strip.blank(self.size.width, self.rich_style)

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
        base = self.rich_style
        st = {name: base + self.get_component_rich_style(f"ladder--{name}") for name in
              ("header", "ask", "bid", "bar-ask", "bar-bid", "marker", "spread")}
        changed = self.get_component_rich_style("ladder--changed", partial=True)
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

        def row_strip(r: LadderRow) -> Strip:
            side = st[r.side]
            hot = side + changed if r.changed else side
            size_text = r.size_str if len(r.size_str) <= sw else fmt.size(r.size)
            segs = [Segment(" ", base), Segment(r.price.rjust(pw)[:pw], hot), Segment(" ", base),
                    Segment(size_text.rjust(sw), hot), Segment(" ", base)]
            if cw:
                segs += [Segment(fmt.size(r.cum_size).rjust(cw)[:cw], side), Segment(" ", base)]
            segs += [Segment(fmt.compact(r.cum_quote).rjust(qw)[:qw], side), Segment(" ", base),
                     Segment(r.marker.rjust(mw)[:mw], st["marker"] if r.marker else base), Segment(" ", base)]
            if barw:
                segs.append(Segment(bar(r.size / max_size, barw), st[f"bar-{r.side}"]))
            return Strip(segs).adjust_cell_length(width, base)

        blank = Strip.blank(width, base)
        asks = [row_strip(r) for r in reversed(self._asks)]
        bids = [row_strip(r) for r in self._bids]
        spread = Strip([Segment(f" {self._spread_text} ".center(width, "─")[:width], st["spread"])])
        strips = [header, *([blank] * (n - len(asks))), *asks, spread, *bids]
        strips += [blank] * (height - len(strips))
        return strips[:height]
