"""The sample clock's work: metrics and detectors for every live stream, fanned out to listeners.

The monitor is the one place where books turn into samples and alerts, so the UI, the recorder and
the headless printer all see the same numbers. It does no I/O and imports neither asyncio nor
Textual: whoever owns the clock (the app's timer, headless loop, a test) calls ``sample(t_ns)``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from typing import Any, NamedTuple, cast

from lcm_tui.core.consolidated import HasZ, MarketCrunchDetector
from lcm_tui.core.detector import Detector
from lcm_tui.core.metrics import compute_sample
from lcm_tui.core.model import Alert, FeedEvent, MetricSample, StreamStatus, SymbolState
from lcm_tui.core.settings import Settings

log = logging.getLogger("lcm_tui.core.monitor")

Key = tuple[str, str]  # (venue, symbol)

EVENTS_LEN = 1000
# Samples of spread/depth kept per stream for charts: 10 minutes at the default 1 s clock.
SERIES_LEN = 600


class Point(NamedTuple):
    """One chart point: the sample time, its spread and its depth in the detector's band (quote)."""

    ts_ns: int
    spread_bps: float | None
    depth: float | None


class Monitor:
    """Streams, their latest samples, detectors and alerts; listeners get every sample, alert and event."""

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
        """Register any object implementing some of on_sample(sample, state), on_alert(alert), on_event(ev)."""
        for name, bucket in (("on_sample", self._on_sample), ("on_alert", self._on_alert),
                             ("on_event", self._on_event)):
            fn = getattr(obj, name, None)
            if callable(fn):
                bucket.append(fn)

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
            opened, closed = self.detectors[key].update(s, t_ns)
            out.append(s)
            self._notify(self._on_sample, s, state)
            self._record_alerts(opened, closed)
        # Detector.z is a dict; HasZ only reads it (a mutable Protocol attribute is invariant for mypy).
        detectors = cast("Mapping[Key, HasZ]", self.detectors)
        self._record_alerts(*self.market.update(self.states.values(), detectors, t_ns))
        return out

    def _record_alerts(self, opened: list[Alert], closed: list[Alert]) -> None:
        for alert in opened:
            self.alerts.append(alert)
            self._notify(self._on_alert, alert)
        for alert in closed:
            self._notify(self._on_alert, alert)

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
