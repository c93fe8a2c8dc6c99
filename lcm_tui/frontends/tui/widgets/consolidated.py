"""The consolidated page: one asset across every LIVE venue, its best-execution split and what is left out.

All numbers come from the core (``MarketView.consolidated``, computed by ``lcm_tui.core.consolidated``); this
module only lays them out, and redraws only when they changed.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, Static

from lcm_tui.config import Settings
from lcm_tui.core.consolidated import BUY, SELL, ConsolidatedMetrics, Split
from lcm_tui.frontends.tui import fmt

BAR_WIDTH = 12
TOP_LEVELS = 5  # consolidated levels shown per side
MAX_NOTIONAL = 1e12  # a typed notional beyond this is a typo, not an order
_NOTIONAL = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([kmb]?)", re.IGNORECASE)
_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9}


def parse_notional(text: str) -> float:
    """A typed order size in the quote currency: ``250000``, ``250,000``, ``250k``, ``1.5m``, ``2b``.

    ValueError with a one-line message for anything else (zero, negative, beyond ``MAX_NOTIONAL``).
    """
    t = text.strip().replace(",", "").replace("_", "").replace(" ", "")
    m = _NOTIONAL.fullmatch(t)
    if m is None:
        raise ValueError(f"{text.strip()!r} is not an amount: give e.g. 250000, 250k or 1.5m")
    x = float(m[1]) * _SUFFIX[m[2].lower()]
    if not 0 < x <= MAX_NOTIONAL:
        raise ValueError(f"{text.strip()!r}: the notional must be above 0 and at most {fmt.notional(MAX_NOTIONAL)}")
    return x


def share_bar(share: float, width: int = BAR_WIDTH) -> str:
    """A fixed-width bar: eighths of a cell so a 3 % share is still visible."""
    eighths = round(max(0.0, min(1.0, share)) * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")
    return bar.ljust(width)


@dataclass(frozen=True, slots=True)
class Sides:
    """The colours of the bid (buy) and ask (sell) side: the theme's success and error colours in the app.

    Plain ANSI green/red blend into some themes' backgrounds, most of all in 16-colour terminals."""

    bid: str = "green"
    ask: str = "red"


def summary(m: ConsolidatedMetrics, assets: list[str], sides: Sides = Sides()) -> RenderableType:
    head = Text()
    head.append(f"{m.asset}", style="bold")
    head.append(f"  in {m.quote}-equivalent · {len(m.sources)} LIVE venue(s)")
    if len(assets) > 1:
        head.append(f" · assets: {' '.join(assets)}", style="dim")
    top = Text()
    top.append("bid ", style="dim")
    top.append(fmt.price(m.best_bid), style=sides.bid)
    top.append(f" ({', '.join(m.best_bid_venues) or '-'})  ", style="dim")
    top.append("ask ", style="dim")
    top.append(fmt.price(m.best_ask), style=sides.ask)
    top.append(f" ({', '.join(m.best_ask_venues) or '-'})  ", style="dim")
    top.append(f"mid {fmt.price(m.mid)}  spread {fmt.bps(m.spread_bps)} bps")
    if m.crossed:
        top.append("  CROSSED", style="bold yellow")
    depth = Text()
    depth.append("depth ", style="dim")  # a dim label, not a dim line
    for band in m.depth_bid:
        depth.append(f"±{band}bps ")
        depth.append(fmt.compact(m.depth_bid[band]), style=sides.bid)
        depth.append("/")
        depth.append(fmt.compact(m.depth_ask.get(band)), style=sides.ask)
        depth.append("  ")
    lines: list[RenderableType] = [head, top, depth]
    if m.market is not None:
        mk = m.market
        line = Text()
        line.append("market depth: ", style="dim")  # a dim label, not a dim line
        if mk.firing:
            line.append(f"CRUNCH on {len(mk.draining)} of {mk.live} venues ", style="bold red")
        else:
            line.append(f"{len(mk.draining)} of {mk.live} venues draining ")
        line.append(f"(fires at {mk.required})", style="dim")
        if mk.draining:
            line.append("  " + ", ".join(f"{v} z {z:.1f}" for v, z in sorted(mk.draining.items())))
        lines.append(line)
    return Group(*lines)


def top_levels(m: ConsolidatedMetrics, sides: Sides = Sides()) -> Table:
    """The best consolidated levels, asks above bids, each with the venues quoting it (level provenance)."""
    t = Table(box=box.SIMPLE_HEAD, expand=False, pad_edge=False, padding=(0, 1), show_edge=False,
              title="top of the consolidated book", title_justify="left", title_style="dim")
    t.add_column("price", justify="right", no_wrap=True)
    t.add_column("size", justify="right", no_wrap=True)
    t.add_column("venues (size)", no_wrap=True)
    for levels, style in ((list(reversed(m.top_asks)), sides.ask), (m.top_bids, sides.bid)):
        for lv in levels:
            by = ", ".join(f"{v} {fmt.size(q)}" for v, q in sorted(lv.venues.items(), key=lambda x: -x[1]))
            t.add_row(Text(fmt.price(lv.price), style=style), fmt.size(lv.size), by)
    return t


def slippage_table(m: ConsolidatedMetrics, notionals: list[float], sides: Sides = Sides()) -> Table:
    """Consolidated vs single-venue slippage, all against the consolidated mid (lower is cheaper)."""
    t = Table(box=box.SIMPLE_HEAD, expand=False, pad_edge=False, padding=(0, 1), show_edge=False,
              title="slippage bps vs consolidated mid", title_justify="left", title_style="dim")
    t.add_column("order", no_wrap=True)
    t.add_column("all venues", justify="right", no_wrap=True)
    labels = list(m.venue_slippage)
    for label in labels:
        t.add_column(label, justify="right", no_wrap=True)
    for side, style in ((BUY, sides.bid), (SELL, sides.ask)):
        for n in notionals:
            row: list[Text] = [Text(f"{side} {fmt.notional(n)}", style=style)]
            cons = next((s for s in m.slippage if s.side == side and s.notional == n), None)
            row.append(_bps_cell(cons.slippage_bps if cons else None, bold=True))
            for label in labels:
                s = next((x for x in m.venue_slippage[label] if x.side == side and x.notional == n), None)
                row.append(_bps_cell(s.slippage_bps if s else None))
            t.add_row(*row)
    return t


def _bps_cell(x: float | None, bold: bool = False) -> Text:
    if x is None:
        return Text("n/a", style="dim red")
    return Text(fmt.bps(x), style="bold" if bold else "")


def split_table(m: ConsolidatedMetrics, notional: float, sides: Sides = Sides()) -> RenderableType:
    """Per-venue allocation of a buy and of a sell of ``notional`` (fees included), with share bars."""
    parts: list[RenderableType] = [
        Text(f"best execution of {fmt.notional(notional)} incl. taker fees ([ ] to step, = to type)", style="dim")
    ]
    for side, style in ((BUY, sides.bid), (SELL, sides.ask)):
        split = m.split(side, notional)
        if split is None:
            continue
        t = Table(box=box.SIMPLE_HEAD, expand=False, pad_edge=False, padding=(0, 1), show_edge=False)
        t.add_column(Text(side, style=style), no_wrap=True)
        t.add_column("fee", justify="right", no_wrap=True)
        t.add_column("share", no_wrap=True)
        t.add_column("quote", justify="right", no_wrap=True)
        t.add_column("base", justify="right", no_wrap=True)
        t.add_column("VWAP", justify="right", no_wrap=True)
        t.add_column("all-in", justify="right", no_wrap=True)
        allocs = {a.venue: a for a in split.allocations}
        for src in m.sources:
            a = allocs.get(src.label)
            fee = f"{src.taker_fee_bps:g}"
            if a is None:
                t.add_row(src.label, fee, Text(share_bar(0.0) + "   0%", style="dim"), "-", "-", "-", "-")
            else:
                t.add_row(src.label, fee, Text(f"{share_bar(a.share)} {a.share:4.0%}", style=style),
                          fmt.compact(a.notional), fmt.size(a.base), fmt.price(a.vwap), fmt.price(a.vwap_all_in))
        if split.fillable:
            t.add_row(Text("split", style="bold"), "", "", fmt.compact(split.filled), fmt.size(split.base),
                      fmt.price(split.vwap), Text(fmt.price(split.vwap_all_in), style="bold"))
        else:
            t.add_row(Text("split", style="bold"), "", Text("unfillable", style="bold red"),
                      fmt.compact(split.filled), fmt.size(split.base), "", "")
        parts.append(t)
        if split.saving_bps is not None:
            parts.append(Text(f"saves {fmt.bps(split.saving_bps)} bps vs {split.best_single_venue} alone "
                              f"(all-in {fmt.price(split.best_single_vwap_all_in)})"))
        else:
            parts.append(Text(split.note or "-", style="yellow"))
    return Group(*parts)


def savings_line(splits: Iterable[Split]) -> Text:
    """Saving of the split over the best single venue for every notional, both sides."""
    line = Text()
    line.append("saving vs best single venue: ", style="dim")  # a dim label, not a dim line
    for s in splits:
        value = f"{fmt.bps(s.saving_bps)}bps" if s.saving_bps is not None else ("split only" if s.fillable
                                                                                 else "unfillable")
        line.append(f"{s.side} {fmt.notional(s.notional)} ")
        line.append(value, style="bold" if s.saving_bps else "")
        line.append("  ")
    return line


def notes(m: ConsolidatedMetrics) -> RenderableType:
    """Crossed venues (listed, not netted) and venues left out of the book, with why."""
    lines: list[RenderableType] = []
    if m.crossed:
        lines.append(Text("crossed venues:", style="bold yellow"))
        for c in m.crossed:
            lines.append(Text(f"  {c.bid_venue} bid {fmt.price(c.bid_price)} > {c.ask_venue} ask "
                              f"{fmt.price(c.ask_price)}  +{fmt.bps(c.cross_bps)} bps, "
                              f"{fmt.bps(c.net_bps)} bps after fees"))
    else:
        lines.append(Text("crossed venues: none", style="dim"))
    if m.excluded:
        lines.append(Text("excluded:", style="bold"))
        for e in m.excluded:
            lines.append(Text(f"  {e.venue} {e.symbol}: {e.reason}"))
    else:
        lines.append(Text("excluded: none", style="dim"))
    return Group(*lines)


class ConsolidatedView(VerticalScroll, can_focus=True):
    """The consolidated metrics, the split with share bars, crossed venues and excluded venues.

    ``[`` and ``]`` (while focused) step the split through the configured notionals; ``=`` opens a field
    to type any notional (``250k``, ``1.5m``), enter applies it, escape closes it.
    """

    class NotionalChanged(Message):
        """The split's notional changed: the page asks the core for that split."""

    DEFAULT_CSS = """
    ConsolidatedView { height: 1fr; padding: 0 1; }
    ConsolidatedView > Static { height: auto; margin-bottom: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left_square_bracket", "notional(-1)", "smaller notional", show=False),
        Binding("right_square_bracket", "notional(1)", "larger notional", show=False),
        Binding("escape", "close_notional", "close", show=False),
    ]
    # What the core computed for the asset on screen (``MarketView.consolidated``), and the split's size.
    metrics: reactive[ConsolidatedMetrics | None] = reactive(None, repaint=False, init=False)
    notional: reactive[float] = reactive(0.0, repaint=False, init=False)

    def __init__(self, settings: Settings, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.settings = settings
        self._assets: list[str] = []
        self.set_reactive(ConsolidatedView.notional, settings.metrics.middle_notional)

    def compose(self) -> ComposeResult:
        # The split right under the summary: at 120x40 both of its sides are on screen without scrolling.
        yield Static("waiting for LIVE venues…", id="cons-summary")
        notional = Input(placeholder="notional: 250000, 250k, 1.5m (enter to apply, esc to close)",
                         id="cons-notional")
        notional.display = False
        yield notional
        yield Static(id="cons-split")
        yield Static(id="cons-levels")
        yield Static(id="cons-slippage")
        yield Static(id="cons-notes")

    def on_mount(self) -> None:
        self._redraw()

    def show(self, metrics: ConsolidatedMetrics | None, assets: list[str]) -> None:
        """Draw ``metrics`` (one asset); ``assets`` lists every asset the streams cover, for the header."""
        if assets != self._assets:
            self._assets = list(assets)
            self._redraw()
        self.metrics = metrics

    def watch_metrics(self) -> None:
        self._redraw()

    def watch_notional(self) -> None:
        self._redraw()
        self.post_message(self.NotionalChanged())

    # ---- actions
    def action_notional(self, step: int) -> None:
        ns = sorted(self.settings.metrics.notionals)
        if self.notional in ns:
            self.notional = ns[(ns.index(self.notional) + step) % len(ns)]
        else:  # a typed size: to the configured one next to it
            i = bisect.bisect_left(ns, self.notional)
            self.notional = ns[min(i, len(ns) - 1)] if step > 0 else ns[max(0, i - 1)]

    def open_notional(self) -> None:
        field = self.query_one("#cons-notional", Input)
        field.value = f"{self.notional:g}"
        field.display = True
        field.focus()
        self.scroll_home(animate=False)

    def action_close_notional(self) -> None:
        field = self.query_one("#cons-notional", Input)
        field.display = False
        self.screen.set_focus(None)  # the arrows switch asset again

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            x = parse_notional(event.value)
        except ValueError as e:
            self.notify(str(e), severity="warning", timeout=4)
            return
        self.action_close_notional()
        self.notional = x

    # ---- drawing
    def _redraw(self) -> None:
        if not self.is_mounted:
            return
        m = self.metrics
        summary_w = self.query_one("#cons-summary", Static)
        if m is None:
            summary_w.update("waiting for LIVE venues…")
            for wid in ("#cons-levels", "#cons-slippage", "#cons-split", "#cons-notes"):
                self.query_one(wid, Static).update("")
            return
        tv = self.app.theme_variables
        sides = Sides(tv.get("success", "green"), tv.get("error", "red"))
        summary_w.update(summary(m, self._assets, sides))
        self.query_one("#cons-levels", Static).update(top_levels(m, sides))
        self.query_one("#cons-slippage", Static).update(slippage_table(m, self.settings.metrics.notionals, sides))
        self.query_one("#cons-split", Static).update(Group(split_table(m, self.notional, sides),
                                                           savings_line(m.splits)))
        self.query_one("#cons-notes", Static).update(notes(m))
