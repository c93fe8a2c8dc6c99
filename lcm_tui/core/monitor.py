"""The sample clock's work: metrics and detectors for every live stream, fanned out to listeners.

The monitor is the one place where books turn into samples and alerts, so the UI, the recorder and
the headless printer all see the same numbers. It does no I/O and imports neither asyncio nor
Textual: whoever owns the clock (the app's timer, headless loop, a test) calls ``sample(t_ns)``.

Alert changes are reported here once, as the detectors make them: an :class:`AlertChange` per open,
escalation (the peak |z| or the severity rose) and close, on the sample where it happens, to every
listener with ``on_alert_change`` and into :class:`AlertLog` for readers that poll (``MarketView``).
No consumer keeps its own copy of the open alerts to find escalations by comparison.

Per-sample work is proportional to what changed, not to the number of streams (thousands of streams
at a 1 s clock): a stream whose book did not change since its last sample (same book object, same
``version``) gets its previous sample re-stamped instead of a whole-book pass, and an asset's
consolidated entry is rebuilt only when one of its streams' book, status or detail changed (the
market signal, which reads the detectors' z of this very sample, is always computed afresh). Both
give exactly what computing afresh gives: the metrics are a function of the book alone.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, cast

from lcm_tui.core.book import OrderBook
from lcm_tui.core.consolidated import ConsolidatedMetrics, HasZ, MarketCrunchDetector, consolidated_entry
from lcm_tui.core.consolidated.market import market_signal
from lcm_tui.core.consolidated.members import Member, classify
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
from lcm_tui.core.symbols import parse_symbol

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


def restamp(s: MetricSample, t_ns: int) -> MetricSample:
    """``s`` at another sample time: a copy whose containers are its own (a listener may keep either)."""
    return MetricSample(s.venue, s.symbol, t_ns, s.best_bid, s.best_ask, s.mid, s.spread_bps, dict(s.depth_bid),
                        dict(s.depth_ask), dict(s.imbalance), list(s.slippage))


# What an asset's consolidated entry depends on, per stream: the book (object and version), status, detail.
_Fingerprint = tuple[tuple[OrderBook, int, StreamStatus, str], ...]


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
        # key -> (book, its version, the sample computed from it): reused while the book is unchanged.
        self._computed: dict[Key, tuple[OrderBook, int, MetricSample]] = {}
        self.computed = 0  # samples computed from a book (the rest were re-stamped): for benchmarks
        # asset -> its streams, and (asset, top, extra split notionals) -> (fingerprint, members, entry
        # without market signal).
        self._by_asset: dict[str, list[SymbolState]] | None = None
        self._consolidated: dict[tuple[str, int, tuple[float, ...]],
                                 tuple[_Fingerprint, list[Member], ConsolidatedMetrics]] = {}

    def add(self, state: SymbolState) -> None:
        key = state.key
        self.states[key] = state
        self._by_asset = None
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
            book = state.book
            version = book.version
            prev = self._computed.get(key)
            if prev is not None and prev[0] is book and prev[1] == version:
                s = restamp(prev[2], t_ns)
            else:
                s = compute_sample(book, state.venue, state.symbol, t_ns, m.depth_bands_bps, m.notionals)
                self._computed[key] = (book, version, restamp(s, t_ns))
                self.computed += 1
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

    # ---- cross-venue -------------------------------------------------------------------------
    def assets(self) -> list[str]:
        """Base assets with at least one stream ("BTC", "ETH"), sorted."""
        return sorted(self._groups())

    def _groups(self) -> dict[str, list[SymbolState]]:
        if self._by_asset is None:
            groups: dict[str, list[SymbolState]] = {}
            for st in self.states.values():
                groups.setdefault(parse_symbol(st.venue, st.symbol)[0], []).append(st)
            self._by_asset = groups
            self._consolidated.clear()
        return self._by_asset

    def consolidated(self, asset: str, top: int = 10, split_notionals: Sequence[float] = ()
                     ) -> ConsolidatedMetrics | None:
        """``core.consolidated.consolidate`` for one asset, rebuilt only when one of its streams changed.

        Before the first sample no detector has a z, so there is no market signal (None); after it, the
        signal is of the detectors as they are now. The entry shares its lists with the next calls'
        while nothing changes: treat it as read-only.
        """
        want = asset.upper()
        states = self._groups().get(want)
        if not states:
            return None
        # Detector.z is a dict; HasZ only reads it (a mutable Protocol attribute is invariant for mypy).
        detectors = cast("Mapping[Key, HasZ]", self.detectors) if self.last_sample_ns is not None else None
        fp = tuple((st.book, st.book.version, st.status, st.status_detail) for st in states)
        ck = (want, top, tuple(split_notionals))
        hit = self._consolidated.get(ck)
        if hit is not None and hit[0] == fp:
            _, members, base = hit
        else:
            groups = classify(states, self.settings, [want])
            if want not in groups:
                return None
            members, excluded = groups[want]
            base = consolidated_entry(want, members, excluded, self.settings, None, top=top,
                                      split_notionals=split_notionals)
            self._consolidated[ck] = (fp, members, base)
        market = market_signal(members, detectors, self.settings) if detectors is not None else None
        return dataclasses.replace(base, market=market)

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
