"""The resync backoff schedule, written from its documented formula (docs/protocols.md, "Rules shared
by every venue"), independently of ``lcm_tui.core.retry``, plus a driver that records when an adapter
resubscribes in the in-memory loopback.

The rule: the first resync of a streak acts at once; the k-th (k >= 2) waits the backoff delay for
``n = k - 2`` failures, ``base * U(1 - jitter, 1) + min_s * U(0, jitter)`` with
``base = min(max_s, min_s * 2**n)``, clamped to ``[min_s, max_s]``; min_s 0.5 s, max_s 120 s,
jitter 0.5. A symbol LIVE for 30 s ends its streak.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lcm_tui.core.model import StreamStatus
from lcm_tui.runtime.sim.faults import FaultKind, FaultPlan
from lcm_tui.runtime.sim.inmemory import InMemoryLoopback
from lcm_tui.venues.simbase import SimConn

MIN_S, MAX_S, JITTER, STABLE_S = 0.5, 120.0, 0.5, 30.0
NS = 1_000_000_000
# The loopback calls keepalive once per simulated second, and a failure is seen on the step after the
# resubscribe's snapshot: a deferred resubscribe goes out at most this much later than its delay.
LATE_S = 1.0 + 0.2


def delay_bounds(n: int) -> tuple[float, float]:
    """Smallest and largest delay after ``n`` counted failures, over every jitter draw."""
    base = min(MAX_S, MIN_S * 2.0**n)
    lo = base * (1.0 - JITTER)
    hi = base + MIN_S * JITTER
    return max(MIN_S, min(MAX_S, lo)), max(MIN_S, min(MAX_S, hi))


def max_resubscribes(window_s: float) -> int:
    """The most resubscribes the schedule allows within ``window_s`` of the first one (inclusive)."""
    k, t = 1, 0.0
    while True:
        t += delay_bounds(k - 1)[0]  # the gap before resubscribe k+1 is the delay for n = k - 1
        if t > window_s:
            return k
        k += 1


DETAIL = re.compile(r"^(?P<why>[a-z ]+) x(?P<k>\d+); (?:resubscribe|refetch|retry) in (?P<d>\d+\.\d)s")


def run(lb: InMemoryLoopback, seconds: float, is_resubscribe: Callable[[str], bool] | None,
        symbol: str, count: Callable[[], int] | None = None) -> tuple[list[int], list[str]]:
    """Step the market for ``seconds``; return when each resubscribe was sent (a sent frame that
    ``is_resubscribe``, or each increment of ``count``), and the symbol's status detail after every
    step (what a user would have seen)."""
    times: list[int] = []
    details: list[str] = []
    seen = len(lb.sent)
    before = count() if count is not None else 0
    for _ in range(round(seconds * 10)):
        lb.step()
        if is_resubscribe is not None:
            new = lb.sent[seen:]
            seen = len(lb.sent)
            times += [lb.t_ns] * sum(1 for m in new if is_resubscribe(m))
        if count is not None:
            now = count()
            times += [lb.t_ns] * (now - before)
            before = now
        details.append(lb.adapter.states[symbol].status_detail)
    return times, details


def until_live(lb: InMemoryLoopback, symbol: str, limit_s: float = MAX_S + 2 * LATE_S) -> None:
    """Step until the symbol is LIVE; it must be within the longest wait the schedule allows."""
    for _ in range(round(limit_s * 10)):
        lb.step()
        if lb.adapter.states[symbol].status is StreamStatus.LIVE:
            return
    raise AssertionError(f"{symbol} not LIVE within {limit_s}s: {lb.adapter.states[symbol].status_detail}")


def check_schedule(times: list[int], details: list[str], why: str) -> None:
    """Every gap between resubscribes respects the schedule, and the waits were explained."""
    assert len(times) >= 3, "the symbol stopped retrying"
    for k in range(2, len(times) + 1):  # resubscribe k followed resubscribe k-1 after delay n = k-2
        gap = (times[k - 1] - times[k - 2]) / NS
        lo, hi = delay_bounds(k - 2)
        assert lo <= gap <= hi + LATE_S, (k, gap, lo, hi)
    waits = [m for d in details if (m := DETAIL.match(d))]
    assert waits, "the status never said it was backing off"
    assert {m["why"] for m in waits} == {why}
    for m in waits:
        lo, hi = delay_bounds(int(m["k"]) - 2)
        assert lo - 0.05 <= float(m["d"]) <= hi + 0.05
    assert max(int(m["k"]) for m in waits) >= len(times) - 1


def rewrite_stream(lb: InMemoryLoopback, symbol: str, rewrite: Callable[[str], str]) -> None:
    """Make the venue handler's stream frames for ``symbol`` pass through ``rewrite`` from now on
    (e.g. a sequence that never lines up with the snapshot: a venue bug the client cannot fix)."""
    inner = lb.sim.frames_for

    def frames_for(conn: SimConn, sym: str, payload: Any) -> list[str]:
        frames = inner(conn, sym, payload)
        return [rewrite(f) for f in frames] if sym == symbol else frames

    lb.sim.frames_for = frames_for  # type: ignore[method-assign,assignment]


def check_never_matching_checksum(lb: InMemoryLoopback, plan: FaultPlan, venue: str, symbol: str, other: str,
                                  is_resubscribe: Callable[[str], bool]) -> None:
    """Every update of ``symbol`` fails the checksum for two minutes: its resubscribes follow the
    documented backoff (with none, it was one per step: 1,200), the status says why it waits, one
    failure is counted per resubscribe (updates are not checked while it waits), and ``other`` on the
    same connection is unaffected."""
    plan.schedule(FaultKind.CORRUPT_CHECKSUM, venue, symbol, count=10**9)
    window = 120.0
    times, details = run(lb, window, is_resubscribe, symbol)
    assert len(times) <= max_resubscribes(window)
    check_schedule(times, details, "checksum mismatch")
    st = lb.adapter.states[symbol]
    assert st.counters.checksum_failures == len(times) + lb.adapter.resync_pending(symbol)
    assert lb.adapter.states[other].status is StreamStatus.LIVE and lb.adapter.states[other].counters.resyncs == 0
    assert lb.book_matches(other)


def check_reset_after_stable(lb: InMemoryLoopback, plan: FaultPlan, venue: str, symbol: str,
                             is_resubscribe: Callable[[str], bool]) -> None:
    """A checksum that keeps failing, then recovery: within ``STABLE_S`` of LIVE a new failure continues
    the streak (and waits); after ``STABLE_S`` LIVE the next failure resubscribes at once.

    ``plan`` is the loopback's fault plan; the failing checksums are scheduled here.
    """
    loop = plan.schedule(FaultKind.CORRUPT_CHECKSUM, venue, symbol, count=10**9)
    times, _ = run(lb, 30.0, is_resubscribe, symbol)
    assert len(times) >= 5  # the streak is long: the next wait would be several seconds
    plan.scheduled.remove(loop)  # the venue is fixed
    st = lb.adapter.states[symbol]
    until_live(lb, symbol)  # the pending resubscribe (at most MAX_S away) goes out and syncs
    assert lb.book_matches(symbol)
    # LIVE for less than the stable period: a new failure is the same streak, and waits.
    lb.step(50)
    plan.schedule(FaultKind.CORRUPT_CHECKSUM, venue, symbol)
    lb.step(2)
    m = DETAIL.match(st.status_detail)
    assert m and int(m["k"]) == len(times) + 2 and st.status is StreamStatus.RESYNCING
    until_live(lb, symbol)
    # LIVE for longer than the stable period: the next failure resubscribes at once.
    run(lb, STABLE_S + 1, is_resubscribe, symbol)
    plan.schedule(FaultKind.CORRUPT_CHECKSUM, venue, symbol)
    times, details = run(lb, 0.2, is_resubscribe, symbol)
    assert len(times) == 1 and not any(DETAIL.match(d) for d in details)
    lb.step(1)
    assert st.status is StreamStatus.LIVE and lb.book_matches(symbol)
