"""Crunch alerts, newest first, each with whether it is still open; filtered, acknowledged, picked.

Rows are ordered by opening time only, so they never reshuffle: an alert that closes stays where it was
and its state cell says so (a list that moves closed alerts away makes the eye lose its place).

What the user did to the list (filters, acknowledgements, the row the cursor is on) is an
:class:`AlertsState` the app holds, so the book page and the venues page show the same list the same way,
and an alert is named by what never changes about it (venue, symbol, signal, opening time): the view hands
out copies, and an open alert's peak and severity change in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.text import Text
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from lcm_tui.core.model import Alert, Severity
from lcm_tui.frontends.tui import fmt
from lcm_tui.frontends.tui.widgets.textgrid import Col, grid

SEVERITY_STYLE = {Severity.WARNING: "bold yellow", Severity.HIGH: "bold dark_orange", Severity.CRITICAL: "bold red"}
# An acknowledged alert keeps its colour (it is still open) without the bold that calls for attention.
ACKED_STYLE = {Severity.WARNING: "yellow", Severity.HIGH: "dark_orange", Severity.CRITICAL: "red"}
SEVERITY_RANK = {Severity.WARNING: 0, Severity.HIGH: 1, Severity.CRITICAL: 2}
# The minimum-severity filter's steps: WARNING is the lowest severity, so "at least WARNING" is no filter.
MIN_SEVERITY_CYCLE: tuple[Severity | None, ...] = (None, Severity.HIGH, Severity.CRITICAL)
CURSOR_STYLE = "reverse"
HEADER_LINES = 2  # the grid's header and its rule

AlertId = tuple[str, str, str, int]


def alert_id(a: Alert) -> AlertId:
    return (a.venue, a.symbol, a.signal, a.opened_ns)


def ordered(alerts: Sequence[Alert], limit: int | None = None) -> list[Alert]:
    """Newest first by opening time; alerts opened at the same time keep the order they were raised in."""
    out = sorted(reversed(alerts), key=lambda a: -a.opened_ns)
    return out if limit is None else out[:limit]


@dataclass(slots=True)
class AlertFilter:
    open_only: bool = False
    min_severity: Severity | None = None
    venue: str | None = None

    @property
    def active(self) -> bool:
        return self.open_only or self.min_severity is not None or self.venue is not None

    def admits(self, a: Alert) -> bool:
        """Closed alerts are judged by the severity they reached (what the row shows)."""
        if self.open_only and not a.is_open:
            return False
        if self.min_severity is not None and SEVERITY_RANK[a.severity] < SEVERITY_RANK[self.min_severity]:
            return False
        return self.venue is None or a.venue == self.venue

    def describe(self) -> str:
        parts = (["open"] if self.open_only else []) + \
            ([f"≥{self.min_severity.value.upper()}"] if self.min_severity is not None else []) + \
            ([self.venue] if self.venue is not None else [])
        return " ".join(parts)


@dataclass(slots=True)
class AlertsState:
    """Filters, acknowledgements and the cursor, for every alerts panel of the app."""

    filter: AlertFilter = field(default_factory=AlertFilter)
    # The severity each alert had when it was acknowledged: one that escalates past it counts again,
    # since the trader acknowledged a smaller problem than the one now on screen.
    acked: dict[AlertId, Severity] = field(default_factory=dict)
    cursor: AlertId | None = None  # None: no row picked yet (Enter and acknowledge take the newest)

    def is_acked(self, a: Alert) -> bool:
        at = self.acked.get(alert_id(a))
        return at is not None and SEVERITY_RANK[a.severity] <= SEVERITY_RANK[at]

    def unacked_open(self, alerts: Sequence[Alert]) -> int:
        """What the header's ``N ALERTS`` badge counts: open alerts nobody acknowledged."""
        return sum(1 for a in alerts if a.is_open and not self.is_acked(a))

    def shown(self, alerts: Sequence[Alert]) -> list[Alert]:
        return [a for a in ordered(alerts) if self.filter.admits(a)]

    def cursor_index(self, shown: Sequence[Alert]) -> int | None:
        if self.cursor is None:
            return None
        return next((i for i, a in enumerate(shown) if alert_id(a) == self.cursor), None)

    def current(self, alerts: Sequence[Alert]) -> Alert | None:
        """The alert Enter and acknowledge act on: the cursor's, else the newest shown."""
        shown = self.shown(alerts)
        i = self.cursor_index(shown)
        return shown[i] if i is not None else shown[0] if shown else None

    def move(self, alerts: Sequence[Alert], step: int) -> None:
        """Move the cursor ``step`` rows down (negative: up), staying on the list; the first move picks the newest."""
        shown = self.shown(alerts)
        if not shown:
            self.cursor = None
            return
        i = self.cursor_index(shown)
        j = 0 if i is None else min(len(shown) - 1, max(0, i + step))
        self.cursor = alert_id(shown[j])

    def toggle_ack(self, a: Alert) -> bool:
        """Acknowledge ``a`` (or take an acknowledgement back); returns whether it is acknowledged now."""
        if self.is_acked(a):
            del self.acked[alert_id(a)]
            return False
        self.acked[alert_id(a)] = a.severity
        return True

    def cycle_severity(self) -> None:
        steps = MIN_SEVERITY_CYCLE
        self.filter.min_severity = steps[(steps.index(self.filter.min_severity) + 1) % len(steps)]

    def key(self) -> tuple[object, ...]:
        """What of the state is drawn (the panel's reactive key holds it)."""
        f = self.filter
        return (f.open_only, f.min_severity, f.venue, tuple(sorted(self.acked.items())), self.cursor)


def _window(n: int, rows: int, cursor: int | None) -> int:
    """The first alert drawn: the newest, unless the cursor would be below the panel."""
    if cursor is None or cursor < rows:
        return 0
    return min(cursor - rows + 1, max(0, n - rows))


def alerts_table(alerts: Sequence[Alert], limit: int, width: int, state: AlertsState | None = None) -> Text:
    """One line per alert; narrow panels (a 40-column side column) give each alert a second line with its
    venue and symbol in full, since a column of its own would cut them to a few letters."""
    return _table(alerts, limit, width, state)[0]


def _table(alerts: Sequence[Alert], limit: int, width: int, state: AlertsState | None
           ) -> tuple[Text, list[Alert]]:
    """The table and the alerts it draws, top to bottom (a click's line says which one it hit)."""
    st = state if state is not None else AlertsState()
    wide = width >= 70
    cols = [Col("time"), *([Col("venue", flex=True), Col("symbol", flex=True)] if wide else []),
            Col("signal"), Col("peak z", right=True), *([Col("sev")] if wide else []), Col("state")]
    every = st.shown(alerts)
    cursor = st.cursor_index(every)
    rows_fit = limit if wide else max(1, (limit + 1) // 2)
    start = _window(len(every), rows_fit, cursor)
    shown = every[start:start + rows_fit]
    rows: list[list[str | Text]] = []
    styles: list[str] = []
    for n, a in enumerate(shown, start):
        acked = a.is_open and st.is_acked(a)
        sev_style = (ACKED_STYLE if acked else SEVERITY_STYLE).get(a.severity, "") if a.is_open else ""
        # The detector's own signal name, as JSON, the recorder and the README spell it.
        row: list[str | Text] = [fmt.clock_time(a.opened_ns), *([a.venue, a.symbol] if wide else []), a.signal,
                                 f"{a.peak_z:+.1f}"]
        if wide:
            row.append(Text(a.severity.value.upper(), style=sev_style))
            row.append(Text("acked" if acked else "open", style=sev_style) if a.is_open
                       else f"closed {fmt.clock_time(a.closed_ns or 0)}")
        else:
            row.append(Text(f"{'ack' if acked else 'open'} {a.severity.value.upper()[:4]}", style=sev_style)
                       if a.is_open else "closed")
        rows.append(row)
        styles.append(" ".join(s for s in ("" if a.is_open else "dim", CURSOR_STYLE if n == cursor else "") if s))
    if not rows:
        rows.append([Text("none" if not st.filter.active or not alerts else "none match", style="dim"),
                     *([""] * (len(cols) - 1))])
        styles.append("")
    table = grid(cols, rows, width, row_styles=styles)
    if wide or not shown:
        return table, shown
    lines = table.split("\n")
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append_text(Text("\n").join(lines[:HEADER_LINES]))
    for a, line, style in zip(shown, lines[HEADER_LINES:], styles, strict=True):
        out.append("\n")
        out.append_text(line)
        out.append(f"\n  {a.venue} {a.symbol}", style=style or "")
    return out, shown


class AlertsPanel(Widget):
    """Every alert of the run (``MarketView.alerts``); redraws only when one opened, changed or closed,
    or the user filtered, acknowledged or moved the cursor. A click on a row picks that alert."""

    DEFAULT_CSS = """
    AlertsPanel { height: 1fr; min-height: 4; }
    """
    # Open alerts change in place (peak_z, severity): the key holds what is drawn of them.
    key: reactive[tuple[object, ...]] = reactive((), layout=False)

    class Picked(Message):
        """The user clicked an alert's row: the app selects it and goes to its venue and symbol."""

        def __init__(self, alert: Alert) -> None:
            super().__init__()
            self.alert = alert

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._alerts: list[Alert] = []
        self._state = AlertsState()
        self._drawn: list[Alert] = []  # the alerts on screen, top to bottom
        self._title: str | None = None  # what the page called the panel; a filter adds to it
        self._shown_title = ""

    def show(self, alerts: Sequence[Alert], state: AlertsState | None = None) -> None:
        self._alerts = list(alerts)
        if state is not None:
            self._state = state
        f = self._state.filter
        if self._title is None:
            self._title = self._shown_title = str(self.border_title or "alerts")
        # The filter bar, in the top border (every page draws that one): what is left out, and how much.
        title = (f"{self._title}: {f.describe()}, {len(self._state.shown(alerts))} of {len(alerts)}"
                 if f.active else self._title)
        if title != self._shown_title:  # setting a border title repaints the panel, even to the same text
            self._shown_title = self.border_title = title
        # By value: a view hands out copies, so an unchanged alert is a new object at every call.
        self.key = (tuple((a.venue, a.symbol, a.signal, a.opened_ns, a.peak_z, a.severity, a.closed_ns)
                          for a in alerts), self._state.key())

    def render(self) -> Text:
        limit = max(1, self.size.height - HEADER_LINES)
        table, self._drawn = _table(self._alerts, limit, self.size.width, self._state)
        return table

    def alert_at(self, line: int) -> Alert | None:
        """The alert drawn on content line ``line`` (narrow panels draw each on two lines)."""
        per = 1 if self.size.width >= 70 else 2
        i = (line - HEADER_LINES) // per
        return self._drawn[i] if line >= HEADER_LINES and i < len(self._drawn) else None

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        a = self.alert_at(offset.y) if offset is not None else None
        if a is not None:
            event.stop()
            self.post_message(self.Picked(a))
