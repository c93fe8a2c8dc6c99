"""Crunch alerts, newest first, each with whether it is still open.

Rows are ordered by opening time only, so they never reshuffle: an alert that closes stays where it was
and its state cell says so (a list that moves closed alerts away makes the eye lose its place).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from lcm_tui.core.model import Alert, Severity
from lcm_tui.frontends.tui import fmt
from lcm_tui.frontends.tui.widgets.textgrid import Col, grid

SEVERITY_STYLE = {Severity.WARNING: "bold yellow", Severity.HIGH: "bold dark_orange", Severity.CRITICAL: "bold red"}


def ordered(alerts: Sequence[Alert], limit: int) -> list[Alert]:
    """Newest first by opening time; alerts opened at the same time keep the order they were raised in."""
    return sorted(reversed(alerts), key=lambda a: -a.opened_ns)[:limit]


def alerts_table(alerts: Sequence[Alert], limit: int, width: int) -> Text:
    """One line per alert; narrow panels (a 40-column side column) give each alert a second line with its
    venue and symbol in full, since a column of its own would cut them to a few letters."""
    wide = width >= 70
    cols = [Col("time"), *([Col("venue", flex=True), Col("symbol", flex=True)] if wide else []),
            Col("signal"), Col("peak z", right=True), *([Col("sev")] if wide else []), Col("state")]
    shown = ordered(alerts, limit if wide else max(1, (limit + 1) // 2))
    rows: list[list[str | Text]] = []
    styles: list[str] = []
    for a in shown:
        sev_style = SEVERITY_STYLE.get(a.severity, "") if a.is_open else ""
        # The detector's own signal name, as JSON, the recorder and the README spell it.
        row: list[str | Text] = [fmt.clock_time(a.opened_ns), *([a.venue, a.symbol] if wide else []), a.signal,
                                 f"{a.peak_z:+.1f}"]
        if wide:
            row.append(Text(a.severity.value.upper(), style=sev_style))
            row.append(Text("open", style=sev_style) if a.is_open else f"closed {fmt.clock_time(a.closed_ns or 0)}")
        else:
            row.append(Text(f"open {a.severity.value.upper()[:4]}", style=sev_style) if a.is_open else "closed")
        rows.append(row)
        styles.append("" if a.is_open else "dim")
    if not rows:
        rows.append([Text("none", style="dim"), *([""] * (len(cols) - 1))])
        styles.append("")
    table = grid(cols, rows, width, row_styles=styles)
    if wide or not shown:
        return table
    lines = table.split("\n")
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append_text(Text("\n").join(lines[:2]))
    for a, line, style in zip(shown, lines[2:], styles, strict=True):
        out.append("\n")
        out.append_text(line)
        out.append(f"\n  {a.venue} {a.symbol}", style=style or "")
    return out


class AlertsPanel(Widget):
    """Every alert of the run (``MarketView.alerts``); redraws only when one opened, changed or closed."""

    DEFAULT_CSS = """
    AlertsPanel { height: 1fr; min-height: 4; }
    """
    # Open alerts change in place (peak_z, severity): the key holds what is drawn of them.
    key: reactive[tuple[object, ...]] = reactive((), layout=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._alerts: list[Alert] = []

    def show(self, alerts: Sequence[Alert]) -> None:
        self._alerts = list(alerts)
        # By value: a view hands out copies, so an unchanged alert is a new object at every call.
        self.key = tuple((a.venue, a.symbol, a.signal, a.opened_ns, a.peak_z, a.severity, a.closed_ns) for a in alerts)

    def render(self) -> Text:
        limit = max(1, self.size.height - 2)
        return alerts_table(self._alerts, limit, self.size.width)
