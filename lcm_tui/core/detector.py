"""Crunch detector: EWMA z-scores of four liquidity signals, alerts with K-consecutive open and hysteresis.

metrics.md defines the maths; this module adds only the choices the spec leaves open:

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
"""

from __future__ import annotations

import math
from collections import deque

from lcm_tui.core.model import Alert, MetricSample, Severity
from lcm_tui.core.settings import DetectorConfig, MetricsConfig

SIGNALS: tuple[str, ...] = ("depth", "spread", "slip_buy", "slip_sell")
# How many recent z values each signal keeps for sparklines.
HISTORY_LEN = 120
_LN2 = math.log(2.0)


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
    """Exponentially weighted mean and variance with a half-life in seconds (metrics.md)."""

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
        self.stats: dict[str, Ewma] = {s: Ewma(cfg.half_life_s) for s in SIGNALS}
        self.z: dict[str, float | None] = dict.fromkeys(SIGNALS)
        self.history: dict[str, deque[float]] = {s: deque(maxlen=HISTORY_LEN) for s in SIGNALS}
        self.streak: dict[str, int] = dict.fromkeys(SIGNALS, 0)
        # The z with the largest |z| in the current streak: an alert opens with the streak's peak.
        self._streak_peak: dict[str, float] = dict.fromkeys(SIGNALS, 0.0)
        self.active: dict[str, Alert] = {}  # open alert per signal

    @property
    def open_alerts(self) -> list[Alert]:
        return list(self.active.values())

    def _beyond(self, signal: str, z: float) -> bool:
        # Depth falls in a crunch; spread and slippage rise.
        if signal == "depth":
            return z <= -self.cfg.open_z
        return z >= self.cfg.open_z

    def severity(self, z: float) -> Severity:
        a = abs(z)
        if a >= self.cfg.critical_z:
            return Severity.CRITICAL
        if a >= self.cfg.high_z:
            return Severity.HIGH
        return Severity.WARNING

    def update(self, sample: MetricSample, t_ns: int) -> tuple[list[Alert], list[Alert]]:
        """Fold one sample in; returns (alerts opened, alerts closed) by this sample."""
        cfg = self.cfg
        opened: list[Alert] = []
        closed: list[Alert] = []
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
            o, c = self.step(signal, z, t_ns)
            if o is not None:
                opened.append(o)
            if c is not None:
                closed.append(c)
        return opened, closed

    def step(self, signal: str, z: float, t_ns: int) -> tuple[Alert | None, Alert | None]:
        """The alert state machine for one signal's new z: (alert opened, alert closed)."""
        cfg = self.cfg
        alert = self.active.get(signal)
        if alert is not None:
            if abs(z) < cfg.close_z:
                alert.closed_ns = t_ns
                del self.active[signal]
                self.streak[signal] = 0
                return None, alert
            # The peak is the worst z in the alert's own direction (a depth rebound is not a new peak).
            if (z < alert.peak_z) if signal == "depth" else (z > alert.peak_z):
                alert.peak_z = z
                alert.severity = self.severity(z)
            return None, None
        if not self._beyond(signal, z):
            self.streak[signal] = 0
            return None, None
        self.streak[signal] += 1
        if self.streak[signal] == 1 or abs(z) > abs(self._streak_peak[signal]):
            self._streak_peak[signal] = z
        if self.streak[signal] < cfg.consecutive:
            return None, None
        peak = self._streak_peak[signal]
        alert = Alert(self.venue, self.symbol, signal, t_ns, peak, self.severity(peak))
        self.active[signal] = alert
        return alert, None
