"""The sample clock's work: metrics and detectors for every live stream, fanned out to listeners.

The monitor is the one place where books turn into samples and alerts, so the UI, the recorder and
the headless printer all see the same numbers. It does no I/O and imports neither asyncio nor
Textual: whoever owns the clock (the app's timer, headless loop, a test) calls ``sample(t_ns)``.

Alert changes are reported here once, as the detectors make them: an :class:`AlertChange` per open,
escalation (the peak |z| or the severity rose) and close, on the sample where it happens, to every
listener with ``on_alert_change`` and into :class:`AlertLog` for readers that poll (``MarketView``).
No consumer keeps its own copy of the open alerts to find escalations by comparison.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, Protocol, cast

from lcm_tui.core.consolidated import HasZ, MarketCrunchDetector
from lcm_tui.core.detector import Detector
from lcm_tui.core.metrics import compute_sample
from lcm_tui.core.model import (
    Alert,
    AlertAction,
    AlertChange,
    FeedEvent,
    MetricSample,
    StreamStatus,
    SymbolState,
)
from lcm_tui.core.settings import Settings

log = logging.getLogger("lcm_tui.core.monitor")

Key = tuple[str, str]  # (venue, symbol)

EVENTS_LEN = 1000
# Samples of spread/depth kept per stream for charts: 10 minutes at the default 1 s clock.
SERIES_LEN = 600
# Alert changes kept for polling readers: far more than a run opens between two reads of a frontend.
ALERT_LOG_LEN = 10_000


class AlertChangeListener(Protocol):
    """What a listener implements to get alert changes (``Monitor.add_listener`` finds it by name).

    Called on the sample clock, synchronously: queue work, never block (the router and the recorder
    only append to a queue).
    """

    def on_alert_change(self, change: AlertChange) -> None: ...


class AlertLog:
    """The alert changes of a run, numbered from 0, for readers that poll instead of listening.

    A reader keeps a cursor (start at 0) and calls ``since(cursor)``, which returns the changes after it
    and the next cursor, so any number of readers each see every change once. Only the last ``maxlen``
    changes are kept; a reader that fell further behind gets the ones still held.
    """

    def __init__(self, maxlen: int = ALERT_LOG_LEN) -> None:
        self._log: deque[AlertChange] = deque(maxlen=maxlen)
        self._end = 0  # changes ever added: the cursor after the newest

    def add(self, change: AlertChange) -> None:
        self._log.append(change)
        self._end += 1

    def since(self, cursor: int) -> tuple[list[AlertChange], int]:
        n = min(self._end - max(cursor, 0), len(self._log))
        if n <= 0:
            return [], self._end
        log = self._log
        return [log[i] for i in range(len(log) - n, len(log))], self._end


class Point(NamedTuple):
    """One chart point: the sample time, its spread and its depth in the detector's band (quote)."""

    ts_ns: int
    spread_bps: float | None
    depth: float | None


class Monitor:
    """Streams, their latest samples, detectors and alerts; listeners get every sample, alert change and event."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.states: dict[Key, SymbolState] = {}
        self.latest: dict[Key, MetricSample] = {}
        self.detectors: dict[Key, Detector] = {}
        self.alerts: list[Alert] = []
        self.events: deque[FeedEvent] = deque(maxlen=EVENTS_LEN)
        self.series: dict[Key, deque[Point]] = {}
        self.last_sample_ns: int | None = None  # the sample clock's last tick (None: it never ticked)
        # Cross-venue: depth draining on several LIVE venues of one asset at the same sample.
        self.market = MarketCrunchDetector(settings)
        self._on_sample: list[Any] = []
        self.alert_log = AlertLog()
        self._on_change: list[Callable[[AlertChange], None]] = []
        self._on_alert: list[Any] = []
        self._on_event: list[Any] = []

    def add(self, state: SymbolState) -> None:
        key = state.key
        self.states[key] = state
        if key not in self.detectors:
            self.detectors[key] = Detector(
                self.settings.detector, state.venue, state.symbol, self.settings.metrics.middle_notional
            )
            self.series[key] = deque(maxlen=SERIES_LEN)

    def add_listener(self, obj: object) -> None:
        """Register any object implementing some of on_sample(sample, state), on_alert_change(change), on_event(ev).

        An object with ``on_alert(alert)`` and no ``on_alert_change`` gets the alert of every open and
        close (not the escalations), the interface before changes were reported.
        """
        for name, bucket in (("on_sample", self._on_sample), ("on_alert_change", self._on_change),
                             ("on_event", self._on_event)):
            fn = getattr(obj, name, None)
            if callable(fn):
                bucket.append(fn)
        legacy = getattr(obj, "on_alert", None)
        if callable(legacy) and not callable(getattr(obj, "on_alert_change", None)):
            self._on_alert.append(legacy)

    def on_event(self, ev: FeedEvent) -> None:
        """Adapter EventSink: keep the event and pass it on."""
        self.events.append(ev)
        self._notify(self._on_event, ev)

    def sample(self, t_ns: int) -> list[MetricSample]:
        """Compute a sample for every LIVE stream; others keep their last one (their state says why)."""
        self.last_sample_ns = t_ns
        m = self.settings.metrics
        band = self.settings.detector.depth_band_bps
        out: list[MetricSample] = []
        for key, state in self.states.items():
            if state.status is not StreamStatus.LIVE:
                continue
            s = compute_sample(state.book, state.venue, state.symbol, t_ns, m.depth_bands_bps, m.notionals)
            self.latest[key] = s
            depth = s.depth_bid[band] + s.depth_ask[band] if band in s.depth_bid else None
            self.series[key].append(Point(t_ns, s.spread_bps, depth))
            changes = self.detectors[key].update(s, t_ns)
            out.append(s)
            self._notify(self._on_sample, s, state)
            self.report(changes)
        # Detector.z is a dict; HasZ only reads it (a mutable Protocol attribute is invariant for mypy).
        detectors = cast("Mapping[Key, HasZ]", self.detectors)
        self.report(self.market.update(self.states.values(), detectors, t_ns))
        return out

    def report(self, changes: Iterable[AlertChange]) -> None:
        """Take the detectors' alert changes (holding their live alerts) and tell everyone, once each.

        An opened alert joins ``alerts`` (the live object, which the detector keeps changing); the log
        and the listeners get the alert as of the change, a copy.
        """
        for ch in changes:
            if ch.action is AlertAction.OPEN:
                self.alerts.append(ch.alert)
            snap = AlertChange(ch.action, dataclasses.replace(ch.alert))
            self.alert_log.add(snap)
            self._notify(self._on_change, snap)
            if ch.action is not AlertAction.ESCALATE:
                self._notify(self._on_alert, ch.alert)

    def alert_changes(self, cursor: int) -> tuple[list[AlertChange], int]:
        """The alert changes after ``cursor`` (start at 0) and the next cursor: see :class:`AlertLog`."""
        return self.alert_log.since(cursor)

    def open_alerts(self) -> list[Alert]:
        return [a for a in self.alerts if a.is_open]

    @staticmethod
    def _notify(fns: list[Any], *args: object) -> None:
        # One failing listener (a UI bug, a recorder hiccup) must not stop sampling for the others.
        for fn in fns:
            try:
                fn(*args)
            except Exception:
                log.exception("monitor listener %r failed", fn)
