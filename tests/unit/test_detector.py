"""Crunch detector: EWMA/z arithmetic by hand, warm-up, K-consecutive open, hysteresis close, severities."""

from __future__ import annotations

import math

import pytest

from lcm_tui.config import DetectorConfig
from lcm_tui.core.detector import Detector, Ewma, signal_values
from lcm_tui.core.model import Alert, AlertAction, AlertChange, MetricSample, Severity, Slippage

approx = pytest.approx
S = 1_000_000_000  # ns per second


def sample(spread: float | None = 1.0, depth: float | None = 1000.0, slip_buy: float | None = 2.0,
           slip_sell: float | None = 2.0, notional: float = 100_000.0) -> MetricSample:
    """A sample carrying just the detector's inputs (depth split evenly over the two sides of band 50)."""
    s = MetricSample("v", "s", 0, "1", "2", 1.5, spread)
    if depth is not None:
        s.depth_bid[50] = depth / 2
        s.depth_ask[50] = depth / 2
    s.slippage = [
        Slippage("buy", notional, None if slip_buy is None else 1.0, slip_buy, 1, 1.0),
        Slippage("sell", notional, None if slip_sell is None else 1.0, slip_sell, 1, 1.0),
    ]
    return s


def test_ewma_by_hand_with_alpha_one_half() -> None:
    # H = 1 s and dt = 1 s: alpha = 1 - exp(-ln2) = 0.5.
    e = Ewma(half_life_s=1.0)
    e.update(0.0, 0)  # first sample: mean 0, var 0
    assert (e.mean, e.var) == (0.0, 0.0)
    assert e.z(2.0) is None  # variance 0: no z, no division by zero
    e.update(2.0, 1 * S)  # d = 2: mean = 0 + 0.5*2 = 1; var = 0.5 * (0 + 0.5*4) = 1
    assert e.mean == approx(1.0) and e.var == approx(1.0)
    assert e.z(4.0) == approx(3.0)  # (4 - 1) / sqrt(1), pre-sample stats
    e.update(4.0, 2 * S)  # d = 3: mean = 2.5; var = 0.5 * (1 + 0.5*9) = 2.75
    assert e.mean == approx(2.5) and e.var == approx(2.75)
    assert e.z(0.0) == approx(-2.5 / math.sqrt(2.75))  # -1.5076
    e.update(0.0, 3 * S)  # d = -2.5: mean = 1.25; var = 0.5 * (2.75 + 0.5*6.25) = 2.9375
    assert e.mean == approx(1.25) and e.var == approx(2.9375)


def test_ewma_alpha_follows_elapsed_time() -> None:
    # H = 1 s, dt = 2 s: alpha = 1 - exp(-2 ln2) = 0.75. From mean 0, var 0, x = 4:
    # mean = 3, var = 0.25 * (0 + 0.75 * 16) = 3.
    e = Ewma(half_life_s=1.0)
    e.update(0.0, 0)
    e.update(4.0, 2 * S)
    assert e.mean == approx(3.0) and e.var == approx(3.0)


def test_detector_z_sequence_and_warmup() -> None:
    cfg = DetectorConfig(half_life_s=1.0, warmup_samples=2, consecutive=3)
    d = Detector(cfg, "v", "s", notional=100_000.0)
    # Spread 0, 2, 4, 0 at 1 s steps: as in the Ewma test; z is reported from the 3rd sample (2 folded in).
    zs = []
    for i, x in enumerate([0.0, 2.0, 4.0, 0.0]):
        d.update(sample(spread=x), i * S)
        zs.append(d.z["spread"])
    assert zs[:2] == [None, None]
    assert zs[2] == approx(3.0)
    assert zs[3] == approx(-2.5 / math.sqrt(2.75))
    assert list(d.history["spread"]) == [approx(3.0), approx(-2.5 / math.sqrt(2.75))]


def test_no_z_during_warmup_even_with_variance() -> None:
    d = Detector(DetectorConfig(half_life_s=1.0, warmup_samples=5), "v", "s")
    for i, x in enumerate([0.0, 2.0, 4.0, 0.0, 9.0]):
        d.update(sample(spread=x), i * S)
        assert d.z["spread"] is None
    d.update(sample(spread=1.0), 5 * S)
    assert d.z["spread"] is not None


def test_signal_values_and_missing_values() -> None:
    v = signal_values(sample(spread=3.0, depth=200.0, slip_buy=4.0, slip_sell=None), 50, 100_000.0)
    assert v == {"depth": approx(math.log(200.0)), "spread": 3.0, "slip_buy": 4.0, "slip_sell": None}
    # Wrong notional or an empty band: no value (log 0 does not exist).
    v = signal_values(sample(depth=0.0), 50, 5.0)
    assert v["depth"] is None and v["slip_buy"] is None


def test_missing_value_is_skipped_without_touching_stats() -> None:
    cfg = DetectorConfig(half_life_s=1.0, warmup_samples=2)
    d = Detector(cfg, "v", "s")
    for i, x in enumerate([0.0, 2.0]):
        d.update(sample(slip_buy=x), i * S)
    before = (d.stats["slip_buy"].mean, d.stats["slip_buy"].var, d.stats["slip_buy"].count)
    d.update(sample(slip_buy=None), 2 * S)  # unfillable: skipped
    assert d.z["slip_buy"] is None
    assert (d.stats["slip_buy"].mean, d.stats["slip_buy"].var, d.stats["slip_buy"].count) == before
    # Next value: dt is measured from the last folded sample (t=1 s), 2 s ago: alpha = 0.75.
    d.update(sample(slip_buy=4.0), 3 * S)
    assert d.z["slip_buy"] == approx(3.0)  # (4 - 1) / sqrt(1)
    assert d.stats["slip_buy"].mean == approx(1 + 0.75 * 3)


def test_repeated_timestamp_is_ignored() -> None:
    d = Detector(DetectorConfig(half_life_s=1.0, warmup_samples=1), "v", "s")
    d.update(sample(spread=1.0), S)
    d.update(sample(spread=5.0), S)
    assert d.stats["spread"].count == 1


# ------------------------------------------------------------------------- the alert state machine


def machine(**kw) -> Detector:
    return Detector(DetectorConfig(**kw), "binance", "BTCUSDT")


def opened_by(change: AlertChange | None) -> Alert:
    assert change is not None and change.action is AlertAction.OPEN
    return change.alert


def test_opens_only_after_k_consecutive_samples_beyond_threshold() -> None:
    d = machine(consecutive=3)
    assert d.step("spread", 3.5, 1) is None
    assert d.step("spread", 3.1, 2) is None
    opened = opened_by(d.step("spread", 3.2, 3))
    assert (opened.venue, opened.symbol, opened.signal, opened.opened_ns) == ("binance", "BTCUSDT", "spread", 3)
    assert opened.peak_z == 3.5  # the streak's peak
    assert opened.severity is Severity.WARNING and opened.is_open
    assert d.open_alerts == [opened]


def test_one_noisy_tick_resets_the_streak() -> None:
    d = machine(consecutive=3)
    for t, z in enumerate([4.0, 4.0, 2.9, 4.0, 4.0]):  # 2.9 is below open_z: streak starts over
        assert d.step("spread", z, t) is None
    opened_by(d.step("spread", 4.0, 5))


def test_depth_opens_on_negative_z_only() -> None:
    d = machine(consecutive=1)
    assert d.step("depth", 3.5, 1) is None  # more depth is no crunch
    opened = opened_by(d.step("depth", -3.0, 2))  # z <= -open_z
    assert opened.signal == "depth" and opened.peak_z == -3.0
    # Spread/slippage open on positive z only.
    assert d.step("slip_sell", -6.0, 3) is None


def test_hysteresis_close_and_no_flapping() -> None:
    d = machine(consecutive=1, open_z=3.0, close_z=1.5)
    opened = opened_by(d.step("slip_buy", 3.0, 1))
    # Between close_z and open_z the alert stays open: no flapping around the threshold.
    for t, z in enumerate([2.9, 1.6, 2.5, 1.5, -1.5], start=2):
        assert d.step("slip_buy", z, t) is None
    closed = d.step("slip_buy", 1.49, 10)
    assert closed == AlertChange(AlertAction.CLOSE, opened)
    assert closed.alert is opened and opened.closed_ns == 10 and not opened.is_open
    assert d.open_alerts == []
    # After closing, a new alert needs a full new streak.
    assert d.step("slip_buy", 2.0, 11) is None


def test_severity_and_peak_tracked_while_open_each_rise_an_escalation() -> None:
    d = machine(consecutive=1, open_z=3.0, high_z=4.0, critical_z=5.0)
    a = opened_by(d.step("spread", 3.0, 1))
    assert a.severity is Severity.WARNING
    assert d.step("spread", 4.0, 2) == AlertChange(AlertAction.ESCALATE, a)
    assert (a.peak_z, a.severity) == (4.0, Severity.HIGH)
    assert d.step("spread", 3.5, 3) is None  # lower z: peak and severity do not drop, nothing to report
    assert (a.peak_z, a.severity) == (4.0, Severity.HIGH)
    assert d.step("spread", 4.2, 4) == AlertChange(AlertAction.ESCALATE, a)  # a higher peak, same severity
    assert (a.peak_z, a.severity) == (4.2, Severity.HIGH)
    assert d.step("spread", 5.0, 5) == AlertChange(AlertAction.ESCALATE, a)
    assert (a.peak_z, a.severity) == (5.0, Severity.CRITICAL)
    assert d.severity(-4.2) is Severity.HIGH


def test_end_to_end_spread_crunch_opens_and_closes() -> None:
    # Default config: H 300 s, W 60, K 3. A calm spread alternating 1.0/1.2 bps for 100 s, a crunch to
    # 5 bps for 3 s, then calm again.
    cfg = DetectorConfig()
    d = Detector(cfg, "v", "s", notional=100_000.0)
    t = 0
    calm = [1.0 + 0.2 * (i % 2) for i in range(100)]
    for x in calm:
        t += S
        assert d.update(sample(spread=x), t) == []
    # One noisy tick opens nothing.
    t += S
    assert d.update(sample(spread=5.0), t) == []
    t += S
    assert d.update(sample(spread=1.1), t) == []
    changes = []
    for _ in range(3):
        t += S
        changes += d.update(sample(spread=5.0), t)
    # The third crunch sample opens it with the streak's peak (the first: statistics not yet moved).
    assert [(c.action, c.alert.signal) for c in changes] == [(AlertAction.OPEN, "spread")]
    opened = changes[0].alert
    assert opened.opened_ns == t and opened.severity is Severity.CRITICAL
    t += S
    assert d.update(sample(spread=1.1), t) == [AlertChange(AlertAction.CLOSE, opened)]
    assert opened.closed_ns == t
    # Flat depth and slippage have variance 0: never a z, never an alert.
    assert d.z["depth"] is None and d.z["slip_buy"] is None


def _reference_z(xs: list[float], half_life_s: float, warmup: int) -> list[float | None]:
    """docs/metrics.md's EWMA z, one sample a second, written out independently of ``core.detector``."""
    out: list[float | None] = []
    mean = var = 0.0
    alpha = 1.0 - math.exp(-math.log(2.0) * 1.0 / half_life_s)
    for i, x in enumerate(xs):
        if i == 0:
            mean, var = x, 0.0
            out.append(None)
            continue
        out.append((x - mean) / math.sqrt(var) if i >= warmup and var > 0 else None)
        d = x - mean
        mean += alpha * d
        var = (1.0 - alpha) * (var + alpha * d * d)
    return out


def test_escalations_are_reported_on_the_sample_where_they_happen() -> None:
    """A hand-built spread series through the documented ladder (open 3, high 4, critical 5, close 1.5).

    Calm 1.0 / 1.2 bps long enough for the statistics to settle (mean 1.1, sd 0.1), then a crunch whose
    z is 3.5, 3.55 (K = 2: open, warning), 4.47 (escalate to high), 4.17 (below the peak: nothing),
    5.77 (escalate to critical), 5.19 (nothing), then calm again (close). Depth and slippage are absent
    from the samples: skipped.
    """
    cfg = DetectorConfig(half_life_s=300.0, warmup_samples=60, consecutive=2, open_z=3.0, close_z=1.5,
                         high_z=4.0, critical_z=5.0)
    calm = [1.0 + 0.2 * (i % 2) for i in range(3000)]
    crunch = [1.45, 1.46, 1.56, 1.54, 1.72, 1.68]
    xs = [*calm, *crunch, 1.1, 1.1]
    ref = _reference_z(xs, cfg.half_life_s, cfg.warmup_samples)
    zc = ref[len(calm):]
    # The series does what its docstring says, by the reference (margins well away from the thresholds).
    assert [round(z, 2) for z in zc if z is not None] == [3.5, 3.55, 4.47, 4.17, 5.77, 5.19, -0.06, -0.06]
    d = Detector(cfg, "v", "s")
    got = []
    for i, x in enumerate(xs):
        for ch in d.update(sample(spread=x, depth=None, slip_buy=None, slip_sell=None), (i + 1) * S):
            got.append((i - len(calm), ch.action, ch.alert.severity, ch.alert.peak_z))
    assert [(i, act, sev) for i, act, sev, _ in got] == [
        (1, "open", "warning"), (2, "escalate", "high"), (4, "escalate", "critical"), (6, "close", "critical")]
    assert [peak for _, _, _, peak in got] == pytest.approx([zc[1], zc[2], zc[4], zc[4]], rel=1e-9)


# ------------------------------------------------------------------ the one severity ladder
# docs/metrics.md: severity by |z|: >= 3 warning, >= 4 high, >= 5 critical; depth crunches by falling,
# spread and slippage by rising.
@pytest.mark.parametrize(("signal", "z", "expect"), [
    ("depth", -2.99, None), ("depth", -3.0, Severity.WARNING), ("depth", -4.0, Severity.HIGH),
    ("depth", -5.0, Severity.CRITICAL), ("depth", 6.0, None),
    ("spread", 3.0, Severity.WARNING), ("spread", 4.5, Severity.HIGH), ("spread", -6.0, None),
    ("slip_buy", 5.1, Severity.CRITICAL), ("slip_sell", 3.9, Severity.WARNING),
    ("market:depth", -4.2, Severity.HIGH), ("market:depth", 4.2, None), ("spread", None, None),
])
def test_level_is_the_documented_ladder(signal: str, z: float | None, expect: Severity | None) -> None:
    from lcm_tui.core.detector import level

    assert level(signal, z, DetectorConfig()) == expect


def test_every_user_of_the_ladder_agrees() -> None:
    # The detector's alerts and the z-score colours read one function (the market alert: test_consolidated).
    from lcm_tui.core.detector import SIGNALS, STREAM_SIGNALS, level, severity
    from lcm_tui.frontends.tui.widgets.zscores import STREAM_SIGNALS as PANEL_SIGNALS
    from lcm_tui.frontends.tui.widgets.zscores import severity_class

    cfg = DetectorConfig(open_z=2.5, high_z=3.5, critical_z=6.0)
    assert PANEL_SIGNALS is STREAM_SIGNALS
    assert list(SIGNALS) == [*STREAM_SIGNALS, "market:depth"]
    d = Detector(cfg, "v", "s")
    for z in (2.5, 3.49, 3.5, 5.99, 6.0, 9.0):
        assert d.severity(z) == severity(z, cfg) == severity(-z, cfg)
        for sig in SIGNALS:  # docs/metrics.md: the depth signals crunch by falling, the others by rising
            zz = -z if sig in ("depth", "market:depth") else z
            sev = level(sig, zz, cfg)
            assert sev == severity(z, cfg)
            assert severity_class(sig, zz, cfg) == f"-{sev.value}"
    assert severity_class("spread", 2.0, cfg) == "-ok" and severity_class("depth", None, cfg) == "-warmup"
