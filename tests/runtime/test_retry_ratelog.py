"""The one backoff and the one rate-limited logger, checked against their stated rules with exact inputs.

The expected delays are worked out here from the rule (double from min per failure, capped at max,
jitter ``base * (1 - j*u1) + min * j*u2``), with a scripted random source, not read back from the code.
"""

from __future__ import annotations

import logging
import random

import pytest

from lcm_tui.core.ratelog import RateLimitedLog
from lcm_tui.core.retry import Backoff


def scripted(*values: float):
    it = iter(values)
    return lambda: next(it)


def test_without_jitter_the_delay_doubles_from_min_and_stops_at_max():
    b = Backoff(0.5, 30.0, jitter=0.0, rand=lambda: 0.0)
    assert [b.next() for _ in range(9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    b.reset()
    assert b.next() == 0.5


def test_jitter_extremes_follow_the_formula_and_stay_within_bounds():
    # failures=3: base = 0.5 * 8 = 4.0. u1 = 1 -> 4 * 0.5 = 2.0; u2 = 1 -> + 0.5 * 0.5 = 2.25.
    b = Backoff(0.5, 30.0, rand=scripted(1.0, 1.0, 0.0, 0.0, 1.0, 0.0))
    assert b.delay(3) == pytest.approx(2.25)
    assert b.delay(3) == pytest.approx(4.0)  # u1 = 0, u2 = 0: the base itself
    # failures=0: base = min; u1 = 1 would give 0.25: clamped up to the floor.
    assert b.delay(0) == 0.5


def test_huge_failure_counts_stay_finite_and_capped():
    b = Backoff(1e-3, 5.0, seed=1)
    assert b.delay(10**9) <= 5.0
    b.failures = 10**6
    assert 1e-3 <= b.next() <= 5.0


def test_seeded_jitter_spreads_clients_apart():
    delays = {Backoff(0.5, 30.0, seed=s).delay(4) for s in range(50)}
    assert len(delays) == 50
    assert all(4.0 <= d <= 8.25 for d in delays)  # base 8: [8 * 0.5, 8 + 0.5 * 0.5]


@pytest.mark.parametrize("args", [(-1.0, 1.0), (2.0, 1.0)])
def test_bad_bounds_are_refused(args):
    with pytest.raises(ValueError):
        Backoff(*args)


def test_rate_limited_warn_writes_one_line_per_key_per_interval(caplog):
    now = [100.0]
    rl = RateLimitedLog(logging.getLogger("t.ratelog"), every=5.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="t.ratelog"):
        for i in range(1000):
            now[0] = 100.0 + i * 0.001  # a malformed frame every millisecond for one second
            rl.warn("binance:malformed", "bad frame %d", i)
            rl.warn("okx:malformed", "bad okx frame %d", i)
        now[0] = 105.0
        rl.warn("binance:malformed", "bad frame %d", 5000)
    assert [r.getMessage() for r in caplog.records] == ["bad frame 0", "bad okx frame 0", "bad frame 5000"]
    assert rl.suppressed == 1998


def test_changed_writes_once_per_change_of_value(caplog):
    rl = RateLimitedLog(logging.getLogger("t.ratelog2"), clock=lambda: 0.0)
    with caplog.at_level(logging.WARNING, logger="t.ratelog2"):
        for why in ["HTTP 414", "HTTP 414", "HTTP 414", "DNS failure", "DNS failure", "HTTP 414"]:
            rl.changed("binance", why, "binance down: %s", why)
        rl.forget("binance")
        rl.changed("binance", "HTTP 414", "binance down: %s", "HTTP 414")
    assert [r.getMessage() for r in caplog.records] == [
        "binance down: HTTP 414", "binance down: DNS failure", "binance down: HTTP 414", "binance down: HTTP 414"]


def test_keys_stay_bounded():
    rl = RateLimitedLog(logging.getLogger("t.ratelog3"), level=logging.DEBUG, clock=random.Random(1).random)
    for i in range(50_000):
        rl.warn(f"k{i}", "x")
    assert len(rl._last) <= 10_000
