"""Crunch alerts, open ones first (newest first), then the most recent closed ones."""

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
    opened = [a for a in reversed(alerts) if a.is_open]
    closed = [a for a in reversed(alerts) if not a.is_open]
    return (opened + closed)[:limit]


def alerts_table(alerts: Sequence[Alert], limit: int, width: int) -> Text:
    """Narrow panels put venue and symbol in one column so a 40-column panel still shows both."""
    wide = width >= 70
    cols = [Col("time"), *([Col("venue", flex=True), Col("symbol", flex=True)] if wide else [Col("stream", flex=True)]),
            Col("signal"), Col("peak z", right=True), Col("sev"), *([Col("closed")] if wide else [])]
    rows: list[list[str | Text]] = []
    styles: list[str] = []
    for a in ordered(alerts, limit):
        sev = Text(a.severity.value.upper() if wide else a.severity.value.upper()[:4],
                   style=SEVERITY_STYLE.get(a.severity, "") if a.is_open else "")
        stream: list[str | Text] = [a.venue, a.symbol] if wide else [f"{a.venue} {a.symbol}"]
        # The detector's own signal name, as JSON, the recorder and the README spell it.
        row: list[str | Text] = [fmt.clock_time(a.opened_ns), *stream, a.signal, f"{a.peak_z:+.1f}", sev]
        if wide:
            row.append("open" if a.is_open else fmt.clock_time(a.closed_ns or 0))
        rows.append(row)
        styles.append("" if a.is_open else "dim")
    if not rows:
        rows.append([Text("none", style="dim"), *([""] * (len(cols) - 1))])
        styles.append("")
    return grid(cols, rows, width, row_styles=styles)


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
