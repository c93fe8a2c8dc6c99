"""Crunch alerts, open ones first (newest first), then the most recent closed ones."""

from __future__ import annotations

from rich import box
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from lcm_tui.model import Alert, Severity
from lcm_tui.ui import fmt

SEVERITY_STYLE = {Severity.WARNING: "bold yellow", Severity.HIGH: "bold dark_orange", Severity.CRITICAL: "bold red"}
SIGNAL_SHORT = {"depth": "depth", "spread": "spread", "slip_buy": "slip+", "slip_sell": "slip-"}


def ordered(alerts: list[Alert], limit: int) -> list[Alert]:
    opened = [a for a in reversed(alerts) if a.is_open]
    closed = [a for a in reversed(alerts) if not a.is_open]
    return (opened + closed)[:limit]


def alerts_table(alerts: list[Alert], limit: int, wide: bool) -> Table:
    """Narrow: venue and symbol share a column so a 40-column panel still shows both."""
    t = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, padding=(0, 1, 0, 0), show_edge=False)
    t.add_column("time", no_wrap=True)
    if wide:
        t.add_column("venue", no_wrap=True, overflow="ellipsis", ratio=1)
        t.add_column("symbol", no_wrap=True, overflow="ellipsis", ratio=1)
    else:
        t.add_column("stream", no_wrap=True, overflow="ellipsis", ratio=1)
    t.add_column("signal", no_wrap=True)
    t.add_column("peak z", justify="right", no_wrap=True)
    t.add_column("sev", no_wrap=True)
    if wide:
        t.add_column("closed", no_wrap=True)
    rows = ordered(alerts, limit)
    for a in rows:
        style = SEVERITY_STYLE.get(a.severity, "")
        sev = Text(a.severity.value.upper()[:4] if not wide else a.severity.value.upper(),
                   style=style if a.is_open else "dim")
        stream = [a.venue, a.symbol] if wide else [f"{a.venue} {a.symbol}"]
        row = [Text(fmt.clock_time(a.opened_ns)), *stream, SIGNAL_SHORT.get(a.signal, a.signal),
               f"{a.peak_z:+.1f}", sev]
        if wide:
            row.append("open" if a.is_open else fmt.clock_time(a.closed_ns or 0))
        t.add_row(*row, style="" if a.is_open else "dim")
    if not rows:
        t.add_row(Text("no alerts", style="dim"))
    return t


class AlertsPanel(Widget):
    """Reads ``monitor.alerts`` (all alerts, newest last); redraws only when something changed."""

    DEFAULT_CSS = """
    AlertsPanel { height: 1fr; min-height: 4; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._alerts: list[Alert] = []
        self._key: object = None

    def show(self, alerts: list[Alert]) -> None:
        # Open alerts change in place (peak_z, severity), so the key includes them.
        key = (len(alerts), tuple((id(a), a.peak_z, a.severity, a.closed_ns) for a in alerts if a.is_open),
               tuple(a.closed_ns for a in alerts[-20:]))
        if key != self._key:
            self._key = key
            self._alerts = list(alerts)
            self.refresh()

    def render(self) -> Table:
        limit = max(1, self.size.height - 2)
        return alerts_table(self._alerts, limit, wide=self.size.width >= 70)
