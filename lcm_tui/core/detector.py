"""Crunch detector: EWMA z-scores of four liquidity signals, alerts with K-consecutive open and hysteresis.

docs/metrics.md ("Crunch detector") defines the maths. This module is also the one home of the list of
signals (``SIGNALS``) and of the severity ladder (``severity``, ``level``): the cross-venue market signal,
the alerts panel and the z-score colours all call these, so a threshold means the same everywhere.
It adds only the choices the definition leaves open:

* A signal whose value does not exist in a sample is *skipped* for that sample: its statistics,
  consecutive count and any open alert stay as they were, and ``z`` shows None. That happens for
  slippage when the side cannot fill the middle notional, for depth when the band holds nothing
  (log 0), and for everything when the book has no two-sided top. Feeding a substitute value
  would poison the mean; resetting the streak would let a flickering unfillable book never alert.
  A crunch that empties the book shows up in the signals that still exist (spread, the other side).
* Each signal keeps its own previous sample time, so ``dt`` after a skipped stretch is the real gap
  (a long gap gives alpha close to 1: old statistics are rightly forgotten).
* A sample whose time is not after the signal's previous one carries no new information (dt <= 0)
  and is skipped.
* Variance 0 (a perfectly flat signal) gives no z rather than a division by zero.
* Severity follows the peak |z| of the open alert, so it never drops while the alert is open.
* An open alert *escalates* when a z goes past its peak in the crunch direction: the peak (and with it
  possibly the severity) rises. ``update`` reports that change, like the open and the close, on the
  sample where it happens, so no reader has to compare alert states to find it.
"""

from __future__ import annotations

import math
from collections import deque

from lcm_tui.core.model import Alert, AlertAction, AlertChange, MetricSample, Severity
from lcm_tui.core.settings import DetectorConfig, MetricsConfig

# Every signal an alert can be about. The per-venue detector's, in display order: log depth in the
# detector band, spread, and the buy and sell slippage at the middle notional (``STREAM_SIGNALS``, what
# every stream has a z of); then the cross-venue one, depth draining on several venues of one asset at
# once (``MARKET_DEPTH_SIGNAL``, raised by ``core.consolidated.MarketCrunchDetector`` under the venue
# ``"market"``).
STREAM_SIGNALS: tuple[str, ...] = ("depth", "spread", "slip_buy", "slip_sell")
MARKET_DEPTH_SIGNAL = "market:depth"
SIGNALS: tuple[str, ...] = (*STREAM_SIGNALS, MARKET_DEPTH_SIGNAL)
# Signals whose crunch is a fall (z <= -open_z); every other one crunches by rising (z >= open_z).
# The cross-venue depth signal falls like the venue depth it is made of.
FALLING: frozenset[str] = frozenset({"depth", MARKET_DEPTH_SIGNAL})
# How many recent z values each signal keeps for sparklines.
HISTORY_LEN = 120
_LN2 = math.log(2.0)


def stress(signal: str, z: float) -> float:
    """``z`` turned so that positive means "towards a crunch": depth falls, spread and slippage rise."""
    return -z if signal in FALLING else z


def severity(z: float, cfg: DetectorConfig) -> Severity:
    """The severity of an alert whose (peak) z is ``z``: by |z|, >= high_z high, >= critical_z critical."""
    a = abs(z)
    if a >= cfg.critical_z:
        return Severity.CRITICAL
    if a >= cfg.high_z:
        return Severity.HIGH
    return Severity.WARNING


def level(signal: str, z: float | None, cfg: DetectorConfig) -> Severity | None:
    """How bad the current ``z`` of ``signal`` is, on the alerts' ladder.

    None when there is no z yet or it is not past ``open_z`` in the crunch direction: a depth z of +6
    (depth surging) is no crunch at all.
    """
    if z is None:
        return None
    d = stress(signal, z)
    if d < cfg.open_z:
        return None
    return severity(d, cfg)


def signal_values(sample: MetricSample, band_bps: int, notional: float) -> dict[str, float | None]:
    """The detector's inputs from one sample; None where the value does not exist (see module doc)."""
    depth: float | None = None
    if band_bps in sample.depth_bid and band_bps in sample.depth_ask:
        total = sample.depth_bid[band_bps] + sample.depth_ask[band_bps]
        if total > 0.0:
            depth = math.log(total)
    buy = sample.slip("buy", notional)
    sell = sample.slip("sell", notional)
    return {
        "depth": depth,
        "spread": sample.spread_bps,
        "slip_buy": buy.slippage_bps if buy is not None else None,
        "slip_sell": sell.slippage_bps if sell is not None else None,
    }


class Ewma:
    """Exponentially weighted mean and variance with a half-life in seconds (docs/metrics.md)."""

    __slots__ = ("count", "half_life_s", "last_ns", "mean", "var")

    def __init__(self, half_life_s: float) -> None:
        self.half_life_s = half_life_s
        self.count = 0  # samples folded in
        self.mean = 0.0
        self.var = 0.0
        self.last_ns: int | None = None

    def z(self, x: float) -> float | None:
        """z of ``x`` against the current (pre-sample) statistics; None while variance is 0."""
        if self.count == 0 or self.var <= 0.0:
            return None
        return (x - self.mean) / math.sqrt(self.var)

    def update(self, x: float, t_ns: int) -> None:
        if self.count == 0 or self.last_ns is None:
            self.mean = x
            self.var = 0.0
        else:
            dt = (t_ns - self.last_ns) / 1e9
            alpha = 1.0 - math.exp(-_LN2 * dt / self.half_life_s)
            d = x - self.mean
            self.mean += alpha * d
            self.var = (1.0 - alpha) * (self.var + alpha * d * d)
        self.count += 1
        self.last_ns = t_ns


class Detector:
    """One venue+symbol: four signals, their z-scores and the alerts they open and close."""

    def __init__(self, cfg: DetectorConfig, venue: str, symbol: str, notional: float | None = None) -> None:
        self.cfg = cfg
        self.venue = venue
        self.symbol = symbol
        # The slippage signals use the middle notional of metrics.notionals (pass settings.metrics.middle_notional).
        self.notional = notional if notional is not None else MetricsConfig().middle_notional
        self.stats: dict[str, Ewma] = {s: Ewma(cfg.half_life_s) for s in STREAM_SIGNALS}
        self.z: dict[str, float | None] = dict.fromkeys(STREAM_SIGNALS)
        self.history: dict[str, deque[float]] = {s: deque(maxlen=HISTORY_LEN) for s in STREAM_SIGNALS}
        self.streak: dict[str, int] = dict.fromkeys(STREAM_SIGNALS, 0)
        # The z with the largest |z| in the current streak: an alert opens with the streak's peak.
        self._streak_peak: dict[str, float] = dict.fromkeys(STREAM_SIGNALS, 0.0)
        self.active: dict[str, Alert] = {}  # open alert per signal

    @property
    def open_alerts(self) -> list[Alert]:
        return list(self.active.values())

    def _beyond(self, signal: str, z: float) -> bool:
        return stress(signal, z) >= self.cfg.open_z

    def severity(self, z: float) -> Severity:
        return severity(z, self.cfg)

    def update(self, sample: MetricSample, t_ns: int) -> list[AlertChange]:
        """Fold one sample in; returns the alert changes (open, escalate, close) it made, in signal order.

        Each change holds the detector's own alert object, which later samples keep changing.
        """
        cfg = self.cfg
        changes: list[AlertChange] = []
        for signal, x in signal_values(sample, cfg.depth_band_bps, self.notional).items():
            st = self.stats[signal]
            if x is None or (st.last_ns is not None and t_ns <= st.last_ns):
                self.z[signal] = None
                continue
            z = st.z(x) if st.count >= cfg.warmup_samples else None
            st.update(x, t_ns)
            self.z[signal] = z
            if z is None:
                continue
            self.history[signal].append(z)
            change = self.step(signal, z, t_ns)
            if change is not None:
                changes.append(change)
        return changes

    def step(self, signal: str, z: float, t_ns: int) -> AlertChange | None:
        """The alert state machine for one signal's new z: the change it makes to the signal's alert, if any."""
        cfg = self.cfg
        alert = self.active.get(signal)
        if alert is not None:
            if abs(z) < cfg.close_z:
                alert.closed_ns = t_ns
                del self.active[signal]
                self.streak[signal] = 0
                return AlertChange(AlertAction.CLOSE, alert)
            # The peak is the worst z in the alert's own direction (a depth rebound is not a new peak).
            if stress(signal, z) > stress(signal, alert.peak_z):
                alert.peak_z = z
                alert.severity = self.severity(z)
                return AlertChange(AlertAction.ESCALATE, alert)
            return None
        if not self._beyond(signal, z):
            self.streak[signal] = 0
            return None
        self.streak[signal] += 1
        if self.streak[signal] == 1 or abs(z) > abs(self._streak_peak[signal]):
            self._streak_peak[signal] = z
        if self.streak[signal] < cfg.consecutive:
            return None
        peak = self._streak_peak[signal]
        alert = Alert(self.venue, self.symbol, signal, t_ns, peak, self.severity(peak))
        self.active[signal] = alert
        return AlertChange(AlertAction.OPEN, alert)
