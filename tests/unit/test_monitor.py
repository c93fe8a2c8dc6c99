"""Monitor: samples LIVE streams only, feeds detectors, fans samples/alerts/events out to listeners."""

from __future__ import annotations

import pytest

from lcm_tui.config import DetectorConfig, MetricsConfig, Settings
from lcm_tui.core.book import OrderBook
from lcm_tui.core.model import (
    Alert,
    AlertAction,
    AlertChange,
    FeedEvent,
    FeedEventKind,
    Severity,
    StreamStatus,
    SymbolState,
)
from lcm_tui.core.monitor import EVENTS_LEN, AlertLog, Monitor

S = 1_000_000_000


class Recorder:
    def __init__(self) -> None:
        self.samples: list = []
        self.alerts: list = []
        self.events: list = []

    def on_sample(self, sample, state) -> None:
        self.samples.append((sample.venue, sample.symbol, sample.ts_ns, state.status))

    def on_alert(self, alert) -> None:
        self.alerts.append((alert.signal, alert.is_open))

    def on_event(self, ev) -> None:
        self.events.append(ev.kind)


class OnlyAlerts:
    def __init__(self) -> None:
        self.alerts: list = []

    def on_alert(self, alert) -> None:
        self.alerts.append(alert)


class Broken:
    def on_sample(self, sample, state) -> None:
        raise RuntimeError("listener bug")


def state(venue: str, symbol: str, status: StreamStatus = StreamStatus.LIVE, spread_ticks: int = 1) -> SymbolState:
    book = OrderBook(venue, symbol)
    set_spread(book, spread_ticks)
    return SymbolState(venue, symbol, book, status=status)


def set_spread(book: OrderBook, ticks: int) -> None:
    # Bids 100.00 and below, asks from 100.00 + ticks * 0.01, 1 unit each: spread = ticks cents around ~100.
    a1 = 10_000 + ticks
    book.load_snapshot([(f"{(10_000 - i) / 100:.2f}", "1") for i in range(20)],
                       [(f"{(a1 + i) / 100:.2f}", "1") for i in range(20)])


def settings() -> Settings:
    s = Settings()
    s.metrics = MetricsConfig(depth_bands_bps=[10, 50], notionals=[100.0, 500.0, 5000.0])
    s.detector = DetectorConfig(half_life_s=60.0, warmup_samples=10, consecutive=2, depth_band_bps=50)
    return s


def test_samples_live_streams_only_and_keeps_last_sample_of_others() -> None:
    m = Monitor(settings())
    live, syncing = state("binance", "BTCUSDT"), state("okx", "BTC-USDT", StreamStatus.SYNCING)
    m.add(live)
    m.add(syncing)
    rec = Recorder()
    m.add_listener(rec)
    out = m.sample(5 * S)
    assert [(s.venue, s.symbol) for s in out] == [("binance", "BTCUSDT")]
    assert set(m.latest) == {("binance", "BTCUSDT")}
    assert rec.samples == [("binance", "BTCUSDT", 5 * S, StreamStatus.LIVE)]
    s = m.latest[("binance", "BTCUSDT")]
    # Settings drive the metrics: bands 10/50, notionals 100/500/5000 on both sides.
    assert sorted(s.depth_bid) == [10, 50]
    assert [(x.side, x.notional) for x in s.slippage] == [
        ("buy", 100.0), ("sell", 100.0), ("buy", 500.0), ("sell", 500.0), ("buy", 5000.0), ("sell", 5000.0)]
    assert not s.slip("buy", 5000.0).fillable  # 20 levels of ~100 quote each
    # The stream goes stale: its last sample stays, untouched, and no new one is made.
    live.status = StreamStatus.STALE
    assert m.sample(6 * S) == []
    assert m.latest[("binance", "BTCUSDT")] is s
    assert len(m.series[("binance", "BTCUSDT")]) == 1
    point = m.series[("binance", "BTCUSDT")][0]
    assert point.ts_ns == 5 * S and point.spread_bps == pytest.approx(s.spread_bps)
    assert point.depth == pytest.approx(s.depth_bid[50] + s.depth_ask[50])


def test_events_are_kept_bounded_and_forwarded() -> None:
    m = Monitor(settings())
    rec = Recorder()
    m.add_listener(rec)
    for i in range(EVENTS_LEN + 5):
        m.on_event(FeedEvent(i, "binance", "BTCUSDT", FeedEventKind.GAP, "x"))
    assert len(m.events) == EVENTS_LEN
    assert m.events[0].ts_ns == 5 and m.events[-1].ts_ns == EVENTS_LEN + 4
    assert len(rec.events) == EVENTS_LEN + 5


def test_spread_crunch_alert_opens_and_closes_through_listeners() -> None:
    m = Monitor(settings())
    st = state("binance", "BTCUSDT")
    m.add(st)
    rec, only = Recorder(), OnlyAlerts()
    m.add_listener(Broken())  # a failing listener must not stop the others
    m.add_listener(rec)
    m.add_listener(only)
    t = 0
    for i in range(30):  # calm: spread alternates 1 and 2 ticks
        set_spread(st.book, 1 + i % 2)
        t += S
        m.sample(t)
    assert m.alerts == [] and m.detectors[("binance", "BTCUSDT")].z["spread"] is not None
    for _ in range(2):  # crunch: 40 ticks, K = 2 samples
        set_spread(st.book, 40)
        t += S
        m.sample(t)
    assert [(a.signal, a.is_open) for a in m.alerts if a.signal == "spread"] == [("spread", True)]
    assert ("spread", True) in rec.alerts
    spread_alert = next(a for a in m.alerts if a.signal == "spread")
    assert spread_alert.opened_ns == t and spread_alert in m.open_alerts()
    for _ in range(5):
        set_spread(st.book, 1)
        t += S
        m.sample(t)
    assert not spread_alert.is_open
    assert rec.alerts.count(("spread", False)) == 1  # on_alert on open and on close
    assert spread_alert in only.alerts
    assert len(rec.samples) == 37


def test_adding_a_state_again_keeps_its_detector() -> None:
    m = Monitor(settings())
    st = state("kraken", "BTC/USD")
    m.add(st)
    det = m.detectors[st.key]
    m.add(st)
    assert m.detectors[st.key] is det and m.states[st.key] is st


def test_the_last_tick_of_the_sample_clock_is_known_even_when_nothing_is_live() -> None:
    # The cross-venue market signal is reported only once the clock has ticked (before, no z exists).
    m = Monitor(settings())
    m.add(state("okx", "BTC-USDT", StreamStatus.SYNCING))
    assert m.last_sample_ns is None
    assert m.sample(7 * S) == []
    assert m.last_sample_ns == 7 * S


class Changes:
    """A listener on the typed API; its on_alert must not be called as well."""

    def __init__(self) -> None:
        self.got: list[AlertChange] = []
        self.legacy_calls = 0

    def on_alert_change(self, change: AlertChange) -> None:
        self.got.append(change)

    def on_alert(self, alert) -> None:
        self.legacy_calls += 1  # must stay 0: a listener with on_alert_change gets each change once, there


def test_each_alert_change_is_reported_once_as_it_happens() -> None:
    """Spread ticks 10/14 (mean 12, sd 2 once settled), then a crunch of 19, 20 (K = 2: open at z ~3.7,
    warning), 23 (z ~4.8: high), 22 (lower: nothing), 27 (z ~5.3: critical), 26, then calm (close):
    docs/metrics.md's ladder 3 / 4 / 5 and close below 1.5."""
    m = Monitor(settings())
    st = state("binance", "BTCUSDT")
    m.add(st)
    typed, legacy = Changes(), Recorder()
    m.add_listener(typed)
    m.add_listener(legacy)
    t = 0
    for i in range(400):
        set_spread(st.book, 10 + 4 * (i % 2))
        t += S
        m.sample(t)
    assert typed.got == [] and m.alert_changes(0) == ([], 0)
    seen: list[tuple[int, str, str]] = []  # (crunch sample, action, severity) of the spread alert
    for n, ticks in enumerate([19, 20, 23, 22, 27, 26, 12, 12]):
        set_spread(st.book, ticks)
        t += S
        before = len(typed.got)
        m.sample(t)
        seen += [(n, c.action, c.alert.severity) for c in typed.got[before:] if c.alert.signal == "spread"]
    assert typed.legacy_calls == 0
    assert seen == [(1, "open", "warning"), (2, "escalate", "high"), (4, "escalate", "critical"),
                    (6, "close", "critical")]
    spread = [c for c in typed.got if c.alert.signal == "spread"]
    # Each change holds the alert as of that change (a copy), the live one is in monitor.alerts.
    live = next(a for a in m.alerts if a.signal == "spread")
    assert all(c.alert is not live for c in spread) and spread[0].alert.closed_ns is None
    assert [c.alert.peak_z for c in spread[:3]] == sorted(c.alert.peak_z for c in spread[:3])
    assert spread[-1].alert == live and not live.is_open
    # The old interface still sees opens and closes only.
    assert [x for x in legacy.alerts if x[0] == "spread"] == [("spread", True), ("spread", False)]
    # Polling readers: every change once per reader, from any cursor.
    log, end = m.alert_changes(0)
    assert log == typed.got and end == len(typed.got)
    assert m.alert_changes(end) == ([], end)
    assert m.alert_changes(end - 2) == (typed.got[-2:], end)


def test_the_alert_log_is_bounded_and_a_late_reader_gets_what_remains() -> None:
    log = AlertLog(maxlen=3)
    changes = [AlertChange(AlertAction.OPEN, Alert("v", "s", "spread", i, 3.0, Severity.WARNING)) for i in range(5)]
    for c in changes:
        log.add(c)
    assert log.since(0) == (changes[2:], 5)
    assert log.since(4) == (changes[4:], 5)
    assert log.since(5) == ([], 5)
