"""The fee-aware greedy fill over several venues' ladders (best execution and the consolidated walk).

A market order across venues is a fractional knapsack: every level is a good with a fixed fee-adjusted
price and a capacity, so taking levels in order of fee-adjusted price is optimal (the argument is in
``ConsolidatedBook.split``). ``greedy_fill`` computes that greedy fill as a water level over the ladders' prefix
sums (``core.bands.Ladder``), never popping levels one by one.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from operator import mul, ne

from lcm_tui.core.bands import FILL_TOL, Ladder


@dataclass(slots=True)
class Fill:
    """A greedy fill over merged ladders: per venue cash (at adjusted prices), base and levels touched."""

    filled: float
    cash: list[float]
    base: list[float]
    levels: list[int]
    distinct: int  # distinct adjusted prices touched across all venues
    complete: bool


def greedy_fill(ladders: Sequence[Ladder], mults: Sequence[float], targets: Sequence[float]) -> list[Fill]:
    """Greedy fill of each target (sorted ascending) over the venues' ladders merged by adjusted price.

    The adjusted price of a level is ``mult * price`` (1 for the plain consolidated walk, 1 +/- fee for
    the split). Instead of popping levels one by one this fills like water: for a target N it takes in
    full every level better than the threshold λ*, and the level(s) at λ* in part, where λ* is the best
    adjusted price at which the cumulative cash F(λ) reaches N. F is a sum of per-venue prefix sums
    (a ``bisect`` each), so λ* is found by galloping over prefix lengths and then bisecting over the
    candidate prices: O(venues · log² levels) Python steps however deep the order goes. Ties at λ* fill
    in venue order, as a level-by-level merge would.
    """
    if not targets:
        return []
    sign = ladders[0].sign if ladders else 1.0
    goal = targets[-1] * (1.0 - FILL_TOL)
    scale = [c * sign for c in mults]  # adjusted cash of a level = scale * key * size
    cums = [ld.cum for ld in ladders]  # grown in place by extend()
    adj: list[list[float]] = [[] for _ in ladders]  # adjusted keys of the prefix considered so far

    def cash_within(v: int, k: int) -> float:
        return scale[v] * cums[v][k - 1] if k else 0.0

    def cash_at(lam: float) -> float:
        total = 0.0
        for a, cum, sc in zip(adj, cums, scale, strict=True):
            k = bisect_right(a, lam)
            if k:
                total += sc * cum[k - 1]
        return total

    m = 4
    while True:
        m *= 2
        for ld, a, c in zip(ladders, adj, mults, strict=True):
            ld.extend(m)
            more = ld.keys[len(a):m]
            a.extend(more if c == 1.0 else map(mul, more, repeat(c)))
        # Past this price some venue may hold levels beyond the prefix: the bound must stay below it.
        frontier = [a[-1] for ld, a in zip(ladders, adj, strict=True) if len(ld.keys) > m]
        if not frontier:
            bound = math.inf
            break
        bound = min(frontier)
        if cash_at(bound) >= goal:
            break
    # Sorting already-sorted runs is a C-level merge; duplicates (venues quoting the same price) stay in.
    candidates = sorted(chain.from_iterable(a[: bisect_right(a, bound)] for a in adj))
    out = []
    lo = 0  # F is monotonic and targets ascend: a larger target's λ* is never before a smaller one's
    for t in targets:
        g = t * (1.0 - FILL_TOL)

        def reaches(lam: float, g: float = g) -> bool:
            return cash_at(lam) >= g

        idx = lo = bisect_left(candidates, True, lo=lo, key=reaches)
        complete = idx < len(candidates)
        lam = candidates[idx] if complete else math.inf
        counts = [bisect_left(a, lam) for a in adj]
        cash = [cash_within(v, k) for v, k in enumerate(counts)]
        base = [sum(ld.sizes[:k]) for ld, k in zip(ladders, counts, strict=True)]
        levels = list(counts)
        if complete:
            rest = t - sum(cash)
            for v, (a, k) in enumerate(zip(adj, counts, strict=True)):
                if rest <= t * FILL_TOL:
                    break
                if k < len(a) and a[k] == lam:
                    price = sign * lam
                    take = min(rest, price * ladders[v].sizes[k])
                    cash[v] += take
                    base[v] += take / price
                    levels[v] += 1
                    rest -= take
        # Distinct prices up to λ* (inclusive): 1 + the number of steps in the sorted candidates.
        upto = idx + 1 if complete else len(candidates)
        distinct = 1 + sum(map(ne, candidates[1:upto], candidates[: upto - 1])) if upto else 0
        out.append(Fill(t if complete else sum(cash), cash, base, levels, distinct, complete))
    return out
