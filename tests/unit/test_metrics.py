"""metrics.md numbers on books small enough to compute by hand, plus a reference check on random books."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lcm_tui.core.bands import book_bands
from lcm_tui.core.book import OrderBook
from lcm_tui.core.metrics import compute_sample, walk

approx = pytest.approx

# The hand book. mid m = (99 + 101) / 2 = 100, spread = 10^4 * 2 / 100 = 200 bps.
#   bids: 99 x 1 (quote 99), 98 x 2 (196), 97 x 10 (970)   -> side total 1265
#   asks: 101 x 1 (101), 102 x 2 (204), 110 x 5 (550)      -> side total 855
HAND_BIDS = [("99.00", "1.0"), ("98.00", "2.000"), ("97.00", "10")]
HAND_ASKS = [("101.00", "1.0"), ("102.00", "2"), ("110.00", "5.00000000")]


def hand_book() -> OrderBook:
    b = OrderBook("binance", "TESTUSDT")
    b.load_snapshot(HAND_BIDS, HAND_ASKS)
    return b


def test_top_mid_spread_keep_exact_strings() -> None:
    s = compute_sample(hand_book(), "binance", "TESTUSDT", 123, [100], [200.0])
    assert (s.venue, s.symbol, s.ts_ns) == ("binance", "TESTUSDT", 123)
    assert s.best_bid == "99.00" and s.best_ask == "101.00"
    assert s.mid == 100.0
    assert s.spread_bps == approx(200.0)


def test_depth_and_imbalance_per_band() -> None:
    s = compute_sample(hand_book(), "v", "s", 0, [300, 100, 1000, 200], [])
    # 100 bps: edges 99 and 101 exactly; levels ON the edge are inside (p >= 99, p <= 101).
    #   bid 99 -> 99; ask 101 -> 101; imbalance (99 - 101) / 200 = -0.01
    # 200 bps: bids >= 98 -> 99 + 196 = 295; asks <= 102 -> 101 + 204 = 305; imb -10/600
    # 300 bps: bids >= 97 -> 1265; asks <= 103 -> 305; imb 960/1570
    # 1000 bps: bids >= 90 -> 1265; asks <= 110 -> 855; imb 410/2120
    assert s.depth_bid == {100: approx(99.0), 200: approx(295.0), 300: approx(1265.0), 1000: approx(1265.0)}
    assert s.depth_ask == {100: approx(101.0), 200: approx(305.0), 300: approx(305.0), 1000: approx(855.0)}
    assert s.imbalance[100] == approx(-0.01)
    assert s.imbalance[200] == approx(-10 / 600)
    assert s.imbalance[300] == approx(960 / 1570)
    assert s.imbalance[1000] == approx(410 / 2120)


def test_band_edges_of_the_hand_book_are_exact() -> None:
    # m = 100, 100 bps: 99 and 101 exactly (m * (1 - 0.01) in float would be 98.99999999999999).
    bb = book_bands(hand_book(), [100])
    assert bb is not None and bb.mid_exact == 100
    band = bb.band(100)
    assert band is not None and (band.lower, band.upper) == (99, 101)
    assert (band.bid_levels, band.ask_levels) == (1, 1)


def test_imbalance_is_zero_when_band_is_empty_on_both_sides() -> None:
    b = OrderBook()
    b.load_snapshot([("90", "1")], [("110", "1")])  # m = 100: nothing within 10 bps
    s = compute_sample(b, "v", "s", 0, [10], [])
    assert s.depth_bid[10] == 0.0 and s.depth_ask[10] == 0.0
    assert s.imbalance[10] == 0.0


def test_buy_walk_partial_last_level() -> None:
    s = compute_sample(hand_book(), "v", "s", 0, [], [200.0])
    buy = s.slip("buy", 200.0)
    # 101 x 1 fills 101 quote, 99 quote remain at 102 -> 99/102 base.
    # base = 1 + 99/102 = 201/102, vwap = 200 * 102 / 201, slippage = 10^4 * (vwap - 100) / 100
    vwap = 200 * 102 / 201
    assert buy is not None and buy.fillable
    assert buy.vwap == approx(vwap)
    assert buy.slippage_bps == approx(100 * (vwap - 100))  # = 149.2537...
    assert buy.levels == 2
    assert buy.filled_quote == 200.0


def test_sell_walk_partial_last_level() -> None:
    s = compute_sample(hand_book(), "v", "s", 0, [], [500.0])
    sell = s.slip("sell", 500.0)
    # 99 + 196 = 295 quote from two levels (3 base), 205 quote remain at 97 -> 205/97 base.
    # base = 3 + 205/97 = 496/97, vwap = 500 * 97 / 496, slippage = 10^4 * (100 - vwap) / 100
    vwap = 500 * 97 / 496
    assert sell is not None
    assert sell.vwap == approx(vwap)
    assert sell.slippage_bps == approx(100 * (100 - vwap))  # = 221.7741...
    assert sell.levels == 3
    assert sell.filled_quote == 500.0


def test_walk_ending_exactly_on_a_level() -> None:
    s = compute_sample(hand_book(), "v", "s", 0, [], [101.0, 1265.0])
    buy = s.slip("buy", 101.0)
    assert buy is not None and buy.vwap == approx(101.0) and buy.levels == 1
    assert buy.slippage_bps == approx(100.0)
    # Selling exactly the whole bid side (1265 quote for 13 base) is fillable.
    sell = s.slip("sell", 1265.0)
    assert sell is not None and sell.fillable and sell.levels == 3
    assert sell.vwap == approx(1265 / 13)


def test_unfillable_reports_what_the_side_could_fill() -> None:
    s = compute_sample(hand_book(), "v", "s", 0, [], [1000.0, 1266.0])
    buy = s.slip("buy", 1000.0)  # asks hold 855 quote
    assert buy is not None and not buy.fillable
    assert buy.vwap is None and buy.slippage_bps is None
    assert buy.levels == 3 and buy.filled_quote == approx(855.0)
    sell = s.slip("sell", 1266.0)  # bids hold 1265 quote
    assert sell is not None and sell.vwap is None and sell.slippage_bps is None
    assert sell.filled_quote == approx(1265.0)
    # Every (side, notional) pair is present, buy and sell.
    assert [(x.side, x.notional) for x in s.slippage] == [
        ("buy", 1000.0), ("sell", 1000.0), ("buy", 1266.0), ("sell", 1266.0)]


def test_one_sided_or_empty_book_has_no_mid_metrics() -> None:
    b = OrderBook()
    b.load_snapshot([("99.5", "1")], [])
    s = compute_sample(b, "v", "s", 0, [10, 50], [100.0])
    assert s.best_bid == "99.5" and s.best_ask is None
    assert s.mid is None and s.spread_bps is None
    assert s.depth_bid == {} and s.depth_ask == {} and s.imbalance == {} and s.slippage == []
    e = compute_sample(OrderBook(), "v", "s", 0, [10], [100.0])
    assert e.best_bid is None and e.best_ask is None and e.mid is None


def test_public_walk_on_plain_lists() -> None:
    # Consolidated-style input: positive prices best first. Buy 300 quote: 100 x 1 (100) + 200 at 200 (1 base)
    # -> base 2, vwap 150 against mid 100: +5000 bps.
    w = walk([100.0, 200.0], [1.0, 5.0], 300.0, 100.0, "buy")
    assert (w.vwap, w.levels, w.filled_quote) == (150.0, 2, 300.0)
    assert w.slippage_bps == approx(5000.0)
    w = walk([100.0, 50.0], [1.0, 1.0], 200.0, 100.0, "sell")
    assert w.vwap is None and w.levels == 2 and w.filled_quote == 150.0


def test_long_walk_crosses_chunk_boundaries() -> None:
    # 300 asks of 1 base at 100, 101, ...: buying the quote of the first 200 levels plus half of the 201st.
    asks = [(str(100 + i), "1") for i in range(300)]
    b = OrderBook()
    b.load_snapshot([("99", "1")], asks)
    n = sum(100 + i for i in range(200)) + 300 / 2  # level 201 is priced 300: half of it
    s = compute_sample(b, "v", "s", 0, [], [n])
    buy = s.slip("buy", n)
    assert buy is not None and buy.levels == 201
    assert buy.vwap == approx(n / 200.5)


# ------------------------------------------------------------------ reference check on random books


def reference(bids: dict[int, int], asks: dict[int, int], bands: list[int], notionals: list[float]):
    """docs/metrics.md written as plainly as possible: per-level loops in exact fractions, prices in cents."""
    bp = sorted(((Fraction(p, 100), Fraction(q, 1000)) for p, q in bids.items()), reverse=True)
    ap = sorted((Fraction(p, 100), Fraction(q, 1000)) for p, q in asks.items())
    m = (bp[0][0] + ap[0][0]) / 2
    depth = {}
    for x in bands:
        lo, hi = m * (1 - Fraction(x, 10_000)), m * (1 + Fraction(x, 10_000))
        depth[x] = (sum(p * q for p, q in bp if p >= lo), sum(p * q for p, q in ap if p <= hi))
    slips = {}
    for side, levels in (("buy", ap), ("sell", bp)):
        for n_float in notionals:
            n = Fraction(n_float)
            got = base = Fraction(0)
            touched = 0
            vwap = None
            for p, q in levels:
                touched += 1
                if got + p * q >= n:
                    base += (n - got) / p
                    vwap = n / base
                    break
                got += p * q
                base += q
            slips[(side, n_float)] = (vwap, touched, n if vwap is not None else got)
    return m, depth, slips


book_side = st.dictionaries(st.integers(1, 400), st.integers(1, 5000), min_size=1, max_size=300)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    bids=book_side,
    asks=book_side,
    bands=st.lists(st.integers(1, 600), min_size=1, max_size=5, unique=True),
    notionals=st.lists(st.floats(0.01, 2000.0), min_size=1, max_size=4),
)
def test_matches_plain_reference(bids, asks, bands, notionals) -> None:
    # Bids at 100.00 - k cents, asks at 100.01 + k cents: never crossed, band edges land anywhere.
    bids = {10_000 - k: q for k, q in bids.items()}
    asks = {10_000 + k: q for k, q in asks.items()}
    b = OrderBook()
    b.load_snapshot([(f"{p / 100:.2f}", f"{q / 1000:.3f}") for p, q in bids.items()],
                    [(f"{p / 100:.2f}", f"{q / 1000:.3f}") for p, q in asks.items()])
    m, depth, slips = reference(bids, asks, bands, notionals)
    s = compute_sample(b, "v", "s", 0, bands, notionals)
    assert s.mid == approx(float(m))
    for x in bands:
        assert s.depth_bid[x] == approx(float(depth[x][0]), rel=1e-9, abs=1e-9)
        assert s.depth_ask[x] == approx(float(depth[x][1]), rel=1e-9, abs=1e-9)
    for sl in s.slippage:
        vwap, touched, filled = slips[(sl.side, sl.notional)]
        assert sl.levels == touched
        assert sl.filled_quote == approx(float(filled), rel=1e-9)
        if vwap is None:
            assert sl.vwap is None and sl.slippage_bps is None
        else:
            assert sl.vwap == approx(float(vwap), rel=1e-9)
            sign = 1 if sl.side == "buy" else -1
            assert sl.slippage_bps == approx(float(sign * 10_000 * (vwap - m) / m), rel=1e-6, abs=1e-6)
            assert math.isfinite(sl.slippage_bps)


def test_zero_notional_is_not_a_trade() -> None:
    s = compute_sample(hand_book(), "v", "s", 0, [], [0.0])
    assert [(x.vwap, x.levels, x.filled_quote) for x in s.slippage] == [(None, 0, 0.0), (None, 0, 0.0)]


# ------------------------------------------------------------------ band edges decided exactly


def dec_reference(bids: list[tuple[str, str]], asks: list[tuple[str, str]], x: int) -> tuple[Decimal, Decimal]:
    """(depth_bid[x], depth_ask[x]) in exact decimals: p >= m(1 - x/10^4) for bids, p <= m(1 + x/10^4) for asks."""
    b1 = max(Decimal(p) for p, _ in bids)
    a1 = min(Decimal(p) for p, _ in asks)
    m = (b1 + a1) / 2
    lo = m * (1 - Decimal(x) / 10_000)
    hi = m * (1 + Decimal(x) / 10_000)
    return (sum((Decimal(p) * Decimal(q) for p, q in bids if Decimal(p) >= lo), Decimal(0)),
            sum((Decimal(p) * Decimal(q) for p, q in asks if Decimal(p) <= hi), Decimal(0)))


def test_kraken_sc_eur_ask_on_the_200_bps_edge_is_inside() -> None:
    # Kraken SC/EUR: bid 0.042950, ask 0.043050 -> mid 0.043; +200 bps is 0.043 * 1.02 = 0.04386 exactly,
    # where an ask sits. In float, 0.043 * 10200 / 10000 is 0.043859999999999996 and would leave it out.
    bids = [("0.042950", "1000.0"), ("0.042100", "2500.5")]
    asks = [("0.043050", "1500.0"), ("0.043860", "4603.0"), ("0.043870", "100.0")]
    b = OrderBook("kraken", "SC/EUR")
    b.load_snapshot(bids, asks)
    s = compute_sample(b, "kraken", "SC/EUR", 0, [200], [])
    ref_bid, ref_ask = dec_reference(bids, asks, 200)
    assert ref_ask == Decimal("0.043050") * 1500 + Decimal("0.043860") * 4603  # the edge level counts
    assert s.depth_ask[200] == approx(float(ref_ask), rel=1e-12)
    assert s.depth_bid[200] == approx(float(ref_bid), rel=1e-12)
    assert s.imbalance[200] == approx(float((ref_bid - ref_ask) / (ref_bid + ref_ask)), rel=1e-12)
    band = book_bands(b, [200]).band(200)  # type: ignore[union-attr]
    assert band is not None and band.upper == Fraction("0.04386") and band.ask_levels == 2


def test_one_band_formula_for_metrics_and_markers() -> None:
    # bid 1.019, asks 1.021 and 1.02102: m = 1.02, +10 bps = 1.02102 exactly, so both asks are inside.
    b = OrderBook()
    b.load_snapshot([("1.019", "1")], [("1.021", "1"), ("1.02102", "1"), ("1.03", "1")])
    s = compute_sample(b, "v", "s", 0, [10], [])
    assert s.depth_ask[10] == approx(float(Decimal("1.021") + Decimal("1.02102")), rel=1e-15)
    band = book_bands(b, [10]).band(10)  # type: ignore[union-attr]
    assert band is not None and band.ask_levels == 2 and band.upper == Fraction("1.02102")


_cents = st.integers(1, 10**6)


@settings(max_examples=80, deadline=None, derandomize=True, database=None)
@given(b1=st.integers(10_000, 10**7), spread=st.integers(1, 400), x=st.integers(1, 900),
       scale=st.integers(0, 9), extra=st.lists(st.integers(-3, 3), max_size=6))
@example(b1=4295, spread=10, x=200, scale=5, extra=[0])  # the Kraken SC/EUR book
def test_levels_on_the_exact_edge_are_inside(b1: int, spread: int, x: int, scale: int, extra: list[int]) -> None:
    # Prices are integers / 10^scale; the levels are put exactly on (and one unit either side of) the edges,
    # wherever an edge is representable at that scale.
    unit = Decimal(1).scaleb(-scale)
    bid = Decimal(b1) * unit
    ask = Decimal(b1 + spread) * unit
    m = (bid + ask) / 2
    lo = m * (1 - Decimal(x) / 10_000)
    hi = m * (1 + Decimal(x) / 10_000)
    bids = {bid}
    asks = {ask}
    for d in extra:
        for edge, side, best in ((lo, bids, bid), (hi, asks, ask)):
            p = edge.quantize(unit) + d * unit
            if p > 0 and (p < best if side is bids else p > best):
                side.add(p)
    bl = [(f"{p:f}", "3") for p in sorted(bids, reverse=True)]
    al = [(f"{p:f}", "7") for p in sorted(asks)]
    b = OrderBook()
    b.load_snapshot(bl, al)
    s = compute_sample(b, "v", "s", 0, [x], [])
    ref_bid, ref_ask = dec_reference(bl, al, x)
    assert s.depth_bid[x] == approx(float(ref_bid), rel=1e-12)
    assert s.depth_ask[x] == approx(float(ref_ask), rel=1e-12)
    band = book_bands(b, [x]).band(x)  # type: ignore[union-attr]
    assert band is not None
    assert band.bid_levels == sum(1 for p, _ in bl if Decimal(p) >= lo)
    assert band.ask_levels == sum(1 for p, _ in al if Decimal(p) <= hi)


# ------------------------------------------------------------------ a band is the sum of what is inside it


@pytest.mark.parametrize(("price", "size"), [("1e10", "1e12"), ("1e300", "1e300")])
def test_a_far_ask_changes_no_band(price: str, size: str) -> None:
    # Total minus tail would give 0 (1e22 swallows the inside) or NaN (inf - inf) for every band.
    asks = [("101", "1"), ("102", "2"), (price, size)]
    b = OrderBook()
    b.load_snapshot(HAND_BIDS, asks)
    s = compute_sample(b, "v", "s", 0, [10, 50, 100, 200, 300], [])
    for x in (10, 50, 100, 200, 300):
        _, ref_ask = dec_reference(HAND_BIDS, asks, x)
        assert s.depth_ask[x] == float(ref_ask)  # small integers: exact in float
    assert s.depth_ask[200] == 101 + 204
    assert all(math.isfinite(v) for v in s.imbalance.values())


@pytest.mark.parametrize(("price", "size"), [("1e-10", "1e32"), ("1e-300", "1e300")])
def test_a_far_bid_changes_no_band(price: str, size: str) -> None:
    bids = [("99", "1"), ("98", "2"), (price, size)]
    b = OrderBook()
    b.load_snapshot(bids, HAND_ASKS)
    s = compute_sample(b, "v", "s", 0, [10, 100, 200, 300], [])
    assert s.depth_bid == {10: 0.0, 100: 99.0, 200: 295.0, 300: 295.0}


def test_chart_and_ladder_sums_end_where_the_bands_do() -> None:
    # The cumulative depth the chart and ladder draw, read at a band's last level, is that band's depth.
    from lcm_tui.core.bands import cumulative_depth

    b = hand_book()
    bb = book_bands(b, [100, 200, 300])
    assert bb is not None and bb.mid == 100.0
    s = compute_sample(b, "v", "s", 0, [100, 200, 300], [])
    prices, cum = cumulative_depth(b.bids, len(b.bids))
    assert prices == [99.0, 98.0, 97.0] and cum == [99.0, 295.0, 1265.0]
    prices, cum = cumulative_depth(b.asks, 2)
    assert prices == [101.0, 102.0] and cum == [101.0, 305.0]
    for band in bb.bands:
        assert cumulative_depth(b.bids, band.bid_levels)[1][-1] == s.depth_bid[band.bps]
        assert cumulative_depth(b.asks, band.ask_levels)[1][-1] == s.depth_ask[band.bps]
    assert [(x.bps, x.bid_levels, x.ask_levels) for x in bb.bands] == [(100, 1, 1), (200, 2, 2), (300, 3, 2)]
    assert [(x.lower, x.upper) for x in bb.bands] == [(99, 101), (98, 102), (97, 103)]
