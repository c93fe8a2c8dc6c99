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


def greedy_fill(ladders: Sequence[Ladder], mults: Sequence[float], targets: Sequence[float], *,
                count_distinct: bool = True) -> list[Fill]:
    """Greedy fill of each target (sorted ascending) over the venues' ladders merged by adjusted price.

    The adjusted price of a level is ``mult * price`` (1 for the plain consolidated walk, 1 +/- fee for
    the split). Instead of popping levels one by one this fills like water: for a target N it takes in
    full every level better than the threshold λ*, and the level(s) at λ* in part, where λ* is the best
    adjusted price at which the cumulative cash F(λ) reaches N. F is a sum of per-venue prefix sums
    (a ``bisect`` each), so λ* is found by galloping over prefix lengths and then bisecting over the
    candidate prices: O(venues · log² levels) Python steps however deep the order goes. Ties at λ* fill
    in venue order, as a level-by-level merge would.

    The search is the cheap part only when each probe is: it is written out (no Python call per probe,
    two venues without a loop) and starts inside the bracket the galloping rounds already measured. F never
    decreases in λ for a book (prices and sizes are positive and finite, ``core.book`` refuses the
    rest), so any exact search finds the same first λ with F(λ) >= N: the fill is the one a plain
    ``bisect`` with a key over all candidates gives, to the last bit (the unit tests compare them).
    ``count_distinct=False`` leaves ``Fill.distinct`` at 0 for a caller that does not read it (the split).
    """
    if not targets:
        return []
    sign = ladders[0].sign if ladders else 1.0
    goal = targets[-1] * (1.0 - FILL_TOL)
    scale = [c * sign for c in mults]  # adjusted cash of a level = scale * key * size
    cums = [ld.cum for ld in ladders]  # grown in place by extend()
    adj: list[list[float]] = [[] for _ in ladders]  # adjusted keys of the prefix considered so far
    rows = list(zip(adj, cums, scale, strict=True))
    plan = list(zip(ladders, adj, mults, strict=True))

    m = 4
    seen: list[tuple[float, float]] = []  # (bound, F(bound)) of every round: brackets for the targets
    while True:
        m *= 2
        frontier = []
        for ld, a, c in plan:
            keys = ld.keys
            if len(a) < len(keys):
                ld.extend(m)
                more = keys[len(a):m]
                a.extend(more if c == 1.0 else map(mul, more, repeat(c)))
                if len(keys) > m:
                    # Past this price the venue may hold levels beyond the prefix: the bound stays below it.
                    frontier.append(a[-1])
        if not frontier:
            bound = math.inf
            break
        bound = min(frontier)
        total = 0.0
        for a, cum, sc in rows:
            k = bisect_right(a, bound)
            if k:
                total += sc * cum[k - 1]
        seen.append((bound, total))
        if total >= goal:
            break
    # Sorting already-sorted runs is a C-level merge; duplicates (venues quoting the same price) stay in.
    candidates = sorted(chain.from_iterable(a[: bisect_right(a, bound)] for a in adj))
    n_cand = len(candidates)
    # Where each round's bound sits among the candidates: F there is known, so it narrows the search. A
    # round saw a shorter prefix, which holds every level below its bound but maybe not all of a venue's
    # levels at it (two levels of one venue can convert or fee-adjust to one price), so F(bound) is exact
    # only below the bound: the search starts at the bound, not past it.
    marks = [(bisect_left(candidates, b), f) for b, f in seen]
    pair = (adj[0], adj[1], cums[0], cums[1], scale[0], scale[1]) if len(adj) == 2 else None
    sizes = [ld.sizes for ld in ladders]
    out = []
    lo = 0  # F is monotonic and targets ascend: a larger target's λ* is never before a smaller one's
    for t in targets:
        g = t * (1.0 - FILL_TOL)
        # bisect_left over the candidates for the first λ with F(λ) >= g, inside the known bracket.
        hi = n_cand
        for at, f in marks:
            if f >= g:
                hi = at
                break
            lo = max(lo, at)
        if pair is not None:  # two venues (the common case), written out: F(λ) = cash of each below λ
            a0, a1, c0, c1, s0, s1 = pair
            while lo < hi:
                mid = (lo + hi) // 2
                lam = candidates[mid]
                k0 = bisect_right(a0, lam)
                k1 = bisect_right(a1, lam)
                if (s0 * c0[k0 - 1] if k0 else 0.0) + (s1 * c1[k1 - 1] if k1 else 0.0) >= g:
                    hi = mid
                else:
                    lo = mid + 1
        else:
            while lo < hi:
                mid = (lo + hi) // 2
                lam = candidates[mid]
                total = 0.0
                for a, cum, sc in rows:
                    k = bisect_right(a, lam)
                    if k:
                        total += sc * cum[k - 1]
                if total >= g:
                    hi = mid
                else:
                    lo = mid + 1
        idx = lo
        complete = idx < n_cand
        lam = candidates[idx] if complete else math.inf
        counts = [bisect_left(a, lam) for a in adj]
        cash = [sc * cum[k - 1] if k else 0.0 for (_a, cum, sc), k in zip(rows, counts, strict=True)]
        base = [sum(sz[:k]) for sz, k in zip(sizes, counts, strict=True)]
        levels = counts[:]
        if complete:
            rest = t - sum(cash)
            tol = t * FILL_TOL
            price = sign * lam
            for v, k in enumerate(counts):
                if rest <= tol:
                    break
                a = adj[v]
                if k < len(a) and a[k] == lam:
                    take = min(rest, price * sizes[v][k])
                    cash[v] += take
                    base[v] += take / price
                    levels[v] += 1
                    rest -= take
        distinct = 0
        if count_distinct:
            # Distinct prices up to λ* (inclusive): 1 + the number of steps in the sorted candidates.
            upto = idx + 1 if complete else n_cand
            distinct = 1 + sum(map(ne, candidates[1:upto], candidates[: upto - 1])) if upto else 0
        out.append(Fill(t if complete else sum(cash), cash, base, levels, distinct, complete))
    return out
