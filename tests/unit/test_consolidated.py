"""Consolidated book across venues: hand-computed splits, exclusions, conversion, crossing, provenance, alerts."""

from __future__ import annotations

import json
import math
import random
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lcm_tui.config import Settings, default_venue
from lcm_tui.core.book import OrderBook
from lcm_tui.core.consolidated import (
    BUY,
    MARKET_DEPTH_SIGNAL,
    SELL,
    ConsolidatedBook,
    MarketCrunchDetector,
    classify,
    consolidate,
    consolidated_json,
    greedy_fill,
)
from lcm_tui.core.metrics import walk as core_walk
from lcm_tui.core.model import AlertAction, AlertChange, Severity, StreamStatus, SymbolState

LIVE = StreamStatus.LIVE


def state(venue: str, symbol: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]],
          status: StreamStatus = LIVE, detail: str = "") -> SymbolState:
    book = OrderBook(venue, symbol)
    book.load_snapshot(bids, asks)
    return SymbolState(venue, symbol, book, status=status, status_detail=detail)


def make_settings(fees: dict[str, float], notionals: list[float] | None = None,
                  rates: dict[str, float] | None = None) -> Settings:
    s = Settings()
    for venue, fee in fees.items():
        vc = default_venue(venue)
        vc.enabled, vc.taker_fee_bps = True, fee
        s.venues[venue] = vc
    if notionals is not None:
        s.metrics.notionals = notionals
    if rates is not None:
        s.consolidated.quote_rates = rates
    return s


def only(metrics: list) -> object:
    assert len(metrics) == 1
    return metrics[0]


# ----------------------------------------------------------------------------- best-execution split
def test_fees_change_the_order_of_the_split() -> None:
    # kraken's ask is cheaper on the book (99.80 < 100.00) but dearer after fees:
    # binance 100.00 * 1.001 = 100.100, kraken 99.80 * 1.004 = 100.1992.
    states = [
        state("binance", "BTCUSDT", [("99", "10")], [("100.00", "10")]),
        state("kraken", "BTC/USD", [("98", "10")], [("99.80", "20")]),
    ]
    cfg = make_settings({"binance": 10, "kraken": 40}, notionals=[500.0, 1500.0])
    m = only(consolidate(states, cfg))
    # Without fees the consolidated walk takes kraken first.
    assert m.best_ask == 99.80 and m.best_ask_venues == ["kraken"]

    small = m.split(BUY, 500.0)
    assert [a.venue for a in small.allocations] == ["binance"]
    assert small.vwap_all_in == pytest.approx(100.1)
    assert small.vwap == pytest.approx(100.0)
    assert small.base == pytest.approx(500 / 100.1)
    assert small.best_single_venue == "binance"
    assert small.saving_bps == pytest.approx(0.0, abs=1e-9)

    # 1500 exceeds binance's 10 BTC (1001 cash with fee): binance 1001, kraken the remaining 499.
    big = m.split(BUY, 1500.0)
    by = {a.venue: a for a in big.allocations}
    assert by["binance"].notional == pytest.approx(1001.0)
    assert by["binance"].base == pytest.approx(10.0)
    assert by["binance"].share == pytest.approx(1001 / 1500)
    assert by["binance"].vwap == pytest.approx(100.0)
    assert by["binance"].vwap_all_in == pytest.approx(100.1)
    assert by["kraken"].notional == pytest.approx(499.0)
    assert by["kraken"].gross == pytest.approx(499 / 1.004)
    assert by["kraken"].base == pytest.approx(499 / 100.1992)
    assert by["kraken"].vwap == pytest.approx(99.80)
    total_base = 10 + 499 / 100.1992
    assert big.base == pytest.approx(total_base)
    assert big.vwap_all_in == pytest.approx(1500 / total_base)
    assert big.vwap == pytest.approx((1000 + 499 / 1.004) / total_base)
    # binance alone cannot fill 1500; kraken alone pays 100.1992 all in.
    assert big.single_venue == {"binance": None, "kraken": pytest.approx(100.1992)}
    assert big.best_single_venue == "kraken"
    assert big.saving_bps == pytest.approx(1e4 * (100.1992 - 1500 / total_base) / 100.1992)
    assert big.saving_bps > 0


def test_sell_split_prefers_the_lower_fee() -> None:
    # Sell receives p * (1 - fee): binance 100.00 * 0.999 = 99.900 beats kraken 100.20 * 0.996 = 99.7992.
    states = [
        state("binance", "BTCUSDT", [("100.00", "1")], [("101", "1")]),
        state("kraken", "BTC/USD", [("100.20", "5")], [("101", "1")]),
    ]
    cfg = make_settings({"binance": 10, "kraken": 40}, notionals=[150.0])
    s = only(consolidate(states, cfg)).split(SELL, 150.0)
    by = {a.venue: a for a in s.allocations}
    assert by["binance"].notional == pytest.approx(99.9)  # all of binance's 1 BTC, net of fee
    assert by["kraken"].notional == pytest.approx(150 - 99.9)
    assert by["kraken"].base == pytest.approx((150 - 99.9) / 99.7992)
    assert s.vwap_all_in == pytest.approx(150 / (1 + (150 - 99.9) / 99.7992))
    assert s.best_single_venue == "kraken"  # binance's 99.9 of capacity cannot receive 150
    assert s.single_venue["binance"] is None
    assert s.saving_bps == pytest.approx(1e4 * (s.vwap_all_in - 99.7992) / 99.7992)


def test_unfillable_everywhere_and_on_every_single_venue() -> None:
    states = [
        state("binance", "BTCUSDT", [("99", "1")], [("100", "1")]),
        state("okx", "BTC-USDT", [("99", "1")], [("100", "1")]),
    ]
    cfg = make_settings({"binance": 0, "okx": 0}, notionals=[150.0, 1000.0])
    m = only(consolidate(states, cfg))
    both = m.split(BUY, 150.0)
    assert both.fillable and both.best_single_venue is None and both.saving_bps is None
    assert "no single venue" in both.note
    assert sorted(a.notional for a in both.allocations) == pytest.approx([50.0, 100.0])  # tie: binance first

    none = m.split(BUY, 1000.0)
    assert not none.fillable and none.vwap_all_in is None
    assert none.filled == pytest.approx(200.0)
    assert "only 200 of 1,000" in none.note
    slip = next(s for s in m.slippage if s.side == BUY and s.notional == 1000.0)
    assert slip.slippage_bps is None and slip.filled_quote == pytest.approx(200.0) and slip.levels == 1


def _brute_force_split(ladders: list[tuple[list[tuple[float, float]], float]], notional: float) -> tuple[float, list]:
    """Reference: every level of every venue as (all-in price, capacity), sorted, filled in order."""
    levels = sorted((p * mult, v, p, q) for v, (lv, mult) in enumerate(ladders) for p, q in lv)
    rest, base, cash = notional, 0.0, [0.0] * len(ladders)
    for a, v, _p, q in levels:
        take = min(rest, a * q)
        cash[v] += take
        base += take / a
        rest -= take
        if rest <= 0:
            break
    return base, cash


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    data=st.lists(
        st.tuples(
            st.lists(st.tuples(st.integers(1, 400), st.integers(1, 40)), min_size=1, max_size=25,
                     unique_by=lambda x: x[0]),
            st.sampled_from([0.0, 5.0, 10.0, 40.0, 60.0]),
        ),
        min_size=1, max_size=4,
    ),
    notional=st.floats(1.0, 30_000.0),
    seed=st.integers(0, 2**16),
)
def test_greedy_split_is_optimal(data: list, notional: float, seed: int) -> None:
    """The greedy equals the sort-everything reference and no other allocation buys more base."""
    venues = ["binance", "bybit-spot", "okx", "coinbase"]  # VENUES order: ties fill in this order
    states, fees = [], {}
    for v, (levels, fee) in zip(venues, data, strict=False):
        asks = [(f"{1000 + t * 0.25:.2f}", f"{q / 4:g}") for t, q in levels]
        states.append(state(v, "BTC-USDT" if v in ("okx", "coinbase") else "BTCUSDT", [("999", "1")], asks))
        fees[v] = fee
    cfg = make_settings(fees, notionals=[notional])
    m = only(consolidate(states, cfg))
    split = m.split(BUY, notional)
    ladders = [([(float(p), float(q)) for p, q in s.book.asks], 1 + fees[s.venue] / 1e4) for s in states]
    total_cap = sum(p * mult * q for lv, mult in ladders for p, q in lv)
    ref_base, ref_cash = _brute_force_split(ladders, notional)
    if notional > total_cap * (1 + 1e-9):
        assert not split.fillable
        return
    assert split.fillable
    assert split.base == pytest.approx(ref_base, rel=1e-9)
    got = {a.venue: a.notional for a in split.allocations}
    for v, c in zip(venues, ref_cash, strict=False):
        assert got.get(v, 0.0) == pytest.approx(c, rel=1e-9, abs=1e-6)
    # Any other feasible allocation (random shares, each venue walked in its own order) buys no more base.
    rng = random.Random(seed)
    for _ in range(5):
        w = [rng.random() for _ in ladders]
        shares = [notional * x / sum(w) for x in w]
        alt_base = 0.0
        feasible = True
        for (lv, mult), cash in zip(ladders, shares, strict=True):
            for p, q in sorted(lv):
                take = min(cash, p * mult * q)
                alt_base += take / (p * mult)
                cash -= take
            feasible &= cash <= 1e-9 * notional
        if feasible:
            assert split.base >= alt_base * (1 - 1e-12)
    if split.saving_bps is not None:
        assert split.saving_bps >= -1e-9


# ----------------------------------------------------------------------------- exclusions
def test_venue_going_down_mid_way_is_excluded_and_said_so() -> None:
    a = state("binance", "BTCUSDT", [("99", "1")], [("100", "1")])
    b = state("okx", "BTC-USDT", [("99.5", "2")], [("100.5", "2")])
    cfg = make_settings({"binance": 10, "okx": 10}, notionals=[150.0])
    before = only(consolidate([a, b], cfg))
    assert [s.label for s in before.sources] == ["binance", "okx"]
    assert before.best_bid == 99.5 and before.excluded == []
    assert {x.venue for x in before.split(BUY, 150.0).allocations} == {"binance", "okx"}

    # okx hits a sequence gap: its book is discarded and it resyncs.
    b.book.clear()
    b.status, b.status_detail = StreamStatus.RESYNCING, "gap: 10->12"
    after = only(consolidate([a, b], cfg))
    assert [s.label for s in after.sources] == ["binance"]
    assert [(e.venue, e.reason) for e in after.excluded] == [("okx", "resyncing: gap: 10->12")]
    assert after.best_bid == 99.0
    split = after.split(BUY, 150.0)
    assert not split.fillable and [x.venue for x in split.allocations] == ["binance"]

    for status in (StreamStatus.DOWN, StreamStatus.STALE, StreamStatus.CONNECTING, StreamStatus.SYNCING):
        b.status, b.status_detail = status, ""
        m = only(consolidate([a, b], cfg))
        assert [(e.venue, e.reason) for e in m.excluded] == [("okx", status.value)]


def test_other_exclusions_and_labels() -> None:
    states = [
        state("okx", "BTC-USDT-SWAP", [("99", "1")], [("100", "1")]),
        state("coinbase", "BTC-USD", [], []),
        state("binance", "BTCUSDT", [("99", "1")], [("100", "1")]),
        state("binance", "BTCUSDC", [("99", "1")], [("100", "1")]),
        state("binance", "ETHUSDT", [("9", "1")], [("10", "1")]),
    ]
    out = consolidate(states, make_settings({"binance": 10}))
    assert [m.asset for m in out] == ["BTC", "ETH"]
    btc = out[0]
    assert [s.label for s in btc.sources] == ["binance:BTCUSDC", "binance:BTCUSDT"]
    reasons = {e.venue: e.reason for e in btc.excluded}
    assert "contracts" in reasons["okx"]
    assert reasons["coinbase"] == "book empty"
    assert consolidate(states, make_settings({}), assets=["eth"])[0].asset == "ETH"


# ----------------------------------------------------------------------------- quote conversion
def test_quote_conversion_and_missing_rate() -> None:
    states = [
        state("binance", "BTCUSDT", [("99.00", "1")], [("100.00", "1")]),  # USDT at 0.998 USD -> 99.8 ask
        state("kraken", "BTC/USD", [("99.00", "1")], [("99.90", "1")]),
        state("okx", "BTC-EUR", [("90", "1")], [("91", "1")]),
    ]
    cfg = make_settings({"binance": 0, "kraken": 0}, notionals=[150.0],
                        rates={"USD": 1.0, "USDT": 0.998, "USDC": 1.0})
    m = only(consolidate(states, cfg))
    assert m.quote == "USD"
    assert m.best_ask == pytest.approx(99.8) and m.best_ask_venues == ["binance"]
    assert m.best_bid == 99.0 and m.best_bid_venues == ["kraken"]
    src = {s.label: s for s in m.sources}
    assert src["binance"].rate == 0.998 and src["binance"].best_bid == pytest.approx(98.802)
    assert [(e.venue, e.reason) for e in m.excluded] == [("okx", "quote EUR has no rate in consolidated.quote_rates")]
    # Buy 150 USD: 99.8 USD/BTC for binance's 1 BTC, then 50.2 at kraken's 99.90.
    slip = next(s for s in m.slippage if s.side == BUY)
    assert slip.vwap == pytest.approx(150 / (1 + 50.2 / 99.9))
    assert slip.levels == 2

    no_usdt = make_settings({}, rates={"USD": 1.0})
    reasons = {e.venue: e.reason for e in only(consolidate(states, no_usdt)).excluded}
    assert reasons["binance"] == "quote USDT has no rate in consolidated.quote_rates"


# ----------------------------------------------------------------------------- crossed venues and the mid
def test_crossed_venues_are_listed_not_netted() -> None:
    states = [
        state("binance", "BTCUSDT", [("101.0", "1")], [("102.0", "1")]),
        state("okx", "BTC-USDT", [("100.0", "1")], [("100.5", "2")]),
        state("kraken", "BTC/USD", [("99.0", "1")], [("103.0", "1")]),
    ]
    cfg = make_settings({"binance": 10, "okx": 10, "kraken": 40}, notionals=[50.0])
    m = only(consolidate(states, cfg))
    assert len(m.crossed) == 1
    c = m.crossed[0]
    assert (c.bid_venue, c.bid_price, c.ask_venue, c.ask_price) == ("binance", 101.0, "okx", 100.5)
    assert c.cross_bps == pytest.approx(1e4 * 0.5 / 100.75)
    assert c.net_bps == pytest.approx(1e4 * (101 * 0.999 - 100.5 * 1.001) / 100.75)
    # Crossed: mid is still (b1 + a1) / 2, the spread is negative and a small buy fills below the mid.
    assert m.mid == pytest.approx(100.75)
    assert m.spread_bps == pytest.approx(1e4 * (100.5 - 101.0) / 100.75)
    buy = next(s for s in m.slippage if s.side == BUY)
    assert buy.vwap == pytest.approx(100.5) and buy.slippage_bps < 0
    # Both sides of the book keep every venue's levels: nothing is netted away.
    assert [lv.price for lv in m.top_bids] == [101.0, 100.0, 99.0]
    assert [lv.price for lv in m.top_asks] == [100.5, 102.0, 103.0]


# ----------------------------------------------------------------------------- provenance and metrics.md
def test_levels_remember_their_venues() -> None:
    states = [
        state("binance", "BTCUSDT", [("99", "0.5")], [("100", "1"), ("101", "3")]),
        state("okx", "BTC-USDT", [("99", "0.25")], [("100", "2"), ("102", "1")]),
    ]
    cfg = make_settings({}, notionals=[300.0, 301.0])
    book = ConsolidatedBook("BTC", *classify(states, cfg)["BTC"])
    asks = book.levels("asks")
    assert [(lv.price, lv.size, lv.venues) for lv in asks] == [
        (100.0, 3.0, {"binance": 1.0, "okx": 2.0}),
        (101.0, 3.0, {"binance": 3.0}),
        (102.0, 1.0, {"okx": 1.0}),
    ]
    assert book.levels("asks", 1) == asks[:1]
    bids = [(lv.price, lv.size, lv.venues) for lv in book.levels("bids")]
    assert bids == [(99.0, 0.75, {"binance": 0.5, "okx": 0.25})]
    # "levels" counts consolidated price levels: 300 = exactly the 100 level (both venues), 301 reaches 101.
    s300, s301 = book.slippage(BUY, [300.0, 301.0])
    assert (s300.levels, s300.vwap) == (1, pytest.approx(100.0))
    assert s301.levels == 2 and s301.vwap == pytest.approx(301 / (3 + 1 / 101))


def test_depth_bands_around_the_consolidated_mid() -> None:
    states = [
        state("binance", "BTCUSDT", [("99.95", "1"), ("99.0", "2")], [("100.05", "1"), ("101.5", "4")]),
        state("okx", "BTC-USDT", [("99.90", "3")], [("100.10", "1")]),
    ]
    cfg = make_settings({})
    cfg.metrics.depth_bands_bps = [10, 100, 200]
    m = only(consolidate(states, cfg))
    assert m.mid == pytest.approx(100.0)
    # 10 bps: bids >= 99.9, asks <= 100.1 (both venues); 100 bps adds binance's 99.0; 200 bps adds 101.5.
    assert m.depth_bid == {10: pytest.approx(99.95 + 3 * 99.90), 100: pytest.approx(99.95 + 299.7 + 198.0),
                           200: pytest.approx(99.95 + 299.7 + 198.0)}
    assert m.depth_ask == {10: pytest.approx(100.05 + 100.10), 100: pytest.approx(200.15),
                           200: pytest.approx(200.15 + 406.0)}


Levels = list[tuple[str, str]]


def _dec_depth(sides: list[tuple[Levels, Levels, Decimal]], x: int) -> tuple[Decimal, Decimal]:
    """Reference: (depth_bid[x], depth_ask[x]) of merged venues in exact decimals, prices times each venue's rate."""
    bids = [(Decimal(p) * r, Decimal(q)) for b, _, r in sides for p, q in b]
    asks = [(Decimal(p) * r, Decimal(q)) for _, a, r in sides for p, q in a]
    m = (max(p for p, _ in bids) + min(p for p, _ in asks)) / 2
    lo, hi = m * (1 - Decimal(x) / 10_000), m * (1 + Decimal(x) / 10_000)
    return (sum((p * q for p, q in bids if p >= lo), Decimal(0)), sum((p * q for p, q in asks if p <= hi), Decimal(0)))


def test_one_band_definition_for_venue_and_consolidated_depth() -> None:
    # bid 1.019, asks 1.021 / 1.02102: m = 1.02 and +10 bps is 1.02102 exactly, so both asks are inside the
    # band in the venue's metrics, in the consolidated book and for the ladder's marker alike.
    from lcm_tui.core.bands import book_bands
    from lcm_tui.core.metrics import compute_sample

    bids, asks = [("1.019", "1")], [("1.021", "1"), ("1.02102", "1"), ("1.05", "1")]
    st_ = state("binance", "XUSDT", bids, asks)
    cfg = make_settings({})
    cfg.metrics.depth_bands_bps = [10]
    m = only(consolidate([st_], cfg))
    expect = float(Decimal("1.021") + Decimal("1.02102"))
    assert m.depth_ask[10] == pytest.approx(expect, rel=1e-15)
    assert compute_sample(st_.book, "binance", "XUSDT", 0, [10], []).depth_ask[10] == pytest.approx(expect, rel=1e-15)
    band = book_bands(st_.book, [10]).band(10)  # type: ignore[union-attr]
    assert band is not None and band.ask_levels == 2


def test_a_level_on_the_consolidated_band_edge_is_inside() -> None:
    # Kraken's SC/EUR top (0.042950 / 0.043050, mid 0.043) on one venue; another venue's ask sits exactly on
    # the consolidated +200 bps edge, 0.04386 (float thresholds put it just outside).
    a = ([("0.042950", "1000")], [("0.043050", "1500")])
    b = ([("0.042000", "2000")], [("0.043860", "4603"), ("0.0439", "7")])
    states = [state("binance", "SCUSDT", *a), state("okx", "SC-USDT", *b)]
    cfg = make_settings({})
    cfg.metrics.depth_bands_bps = [200]
    m = only(consolidate(states, cfg))
    ref_bid, ref_ask = _dec_depth([(*a, Decimal(1)), (*b, Decimal(1))], 200)
    assert ref_ask == Decimal("0.043050") * 1500 + Decimal("0.043860") * 4603
    assert m.depth_ask[200] == pytest.approx(float(ref_ask), rel=1e-12)
    assert m.depth_bid[200] == pytest.approx(float(ref_bid), rel=1e-12)


def test_converted_prices_are_compared_exactly_on_the_edge() -> None:
    # m = 90.05 from binance (USDT); coinbase quotes EUR at 1.25 USD: its ask 72.7604 EUR is 90.9505 USD
    # exactly, the +100 bps edge. In float, 72.7604 * 1.25 = 90.9505 lies above m * 1.01 = 90.95049999999999.
    a = ([("90", "1")], [("90.1", "1")])
    b = ([("71", "1")], [("72.7604", "2"), ("72.77", "1")])
    states = [state("binance", "BTCUSDT", *a), state("coinbase", "BTC-EUR", *b)]
    cfg = make_settings({}, rates={"USDT": 1.0, "EUR": 1.25})
    cfg.metrics.depth_bands_bps = [100]
    m = only(consolidate(states, cfg))
    ref_bid, ref_ask = _dec_depth([(*a, Decimal(1)), (*b, Decimal("1.25"))], 100)
    assert ref_ask == Decimal("90.1") + 2 * Decimal("90.9505")
    assert m.depth_ask[100] == pytest.approx(float(ref_ask), rel=1e-12)
    assert m.depth_bid[100] == pytest.approx(float(ref_bid), rel=1e-12)


@pytest.mark.parametrize(("price", "size"), [("1e10", "1e12"), ("1e300", "1e300")])
def test_a_far_level_on_one_venue_changes_no_consolidated_band(price: str, size: str) -> None:
    # Most of okx's side is inside the bands: total minus the far level would cancel (or be inf - inf).
    a = ([("99", "1")], [("101", "1"), ("102", "2")])
    b = ([("98", "1")], [("101.5", "1"), ("101.6", "1"), ("101.7", "1"), (price, size)])
    states = [state("binance", "BTCUSDT", *a), state("okx", "BTC-USDT", *b)]
    cfg = make_settings({})
    cfg.metrics.depth_bands_bps = [100, 200, 500]
    m = only(consolidate(states, cfg))
    for x in (100, 200, 500):
        _, ref_ask = _dec_depth([(*a, Decimal(1)), (*b, Decimal(1))], x)
        assert m.depth_ask[x] == pytest.approx(float(ref_ask), rel=1e-12)
    assert m.depth_ask[200] == pytest.approx(101 + 204 + 101.5 + 101.6 + 101.7, rel=1e-15)


_grid = st.lists(st.tuples(st.integers(1, 400), st.integers(1, 5000)), min_size=1, max_size=25,
                 unique_by=lambda lv: lv[0])


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(books=st.lists(st.tuples(_grid, _grid, st.sampled_from(["USDT", "USD", "EUR"])), min_size=1, max_size=3),
       bands=st.lists(st.integers(1, 600), min_size=1, max_size=4, unique=True))
def test_consolidated_bands_equal_an_exact_reference(books: list, bands: list[int]) -> None:
    # Bids at 100.00 - k cents, asks at 100.00 + k cents on each venue (venues may cross each other);
    # EUR converts at 1.25, so converted prices stay exact binary fractions of cents and edges land on them.
    rates = {"USDT": 1.0, "USD": 1.0, "EUR": 1.25}
    venues = [("binance", "BTC{q}"), ("okx", "BTC-{q}"), ("coinbase", "BTC-{q}")]
    states, sides = [], []
    for (venue, spelling), (bids, asks, quote) in zip(venues, books, strict=False):
        bl = [(f"{(10_000 - k) / 100:.2f}", f"{q / 1000:.3f}") for k, q in bids]
        al = [(f"{(10_000 + k) / 100:.2f}", f"{q / 1000:.3f}") for k, q in asks]
        states.append(state(venue, spelling.format(q=quote), bl, al))
        sides.append((bl, al, Decimal(str(rates[quote]))))
    cfg = make_settings({}, rates=rates)
    cfg.metrics.depth_bands_bps = bands
    m = only(consolidate(states, cfg))
    for x in bands:
        ref_bid, ref_ask = _dec_depth(sides, x)
        assert m.depth_bid[x] == pytest.approx(float(ref_bid), rel=1e-12, abs=1e-12)
        assert m.depth_ask[x] == pytest.approx(float(ref_ask), rel=1e-12, abs=1e-12)


def test_single_venue_slippage_matches_metrics_walk_against_the_consolidated_mid() -> None:
    rng = random.Random(5)

    def ladder(start: float, step: float) -> list[tuple[str, str]]:
        return [(f"{start + step * i:.2f}", f"{rng.uniform(0.01, 2):.4f}") for i in range(300)]

    states = [
        state("binance", "BTCUSDT", ladder(49_999.5, -0.5), ladder(50_000.5, 0.5)),
        state("okx", "BTC-USDT", ladder(49_999.0, -0.7), ladder(50_001.0, 0.7)),
    ]
    notionals = [12_345.0, 987_654.0, 9e7]
    m = only(consolidate(states, make_settings({}, notionals=notionals)))
    for st_ in states:
        for side, bs in ((BUY, st_.book.asks), (SELL, st_.book.bids)):
            for n in notionals:
                ref = core_walk(bs.prices(), bs.sizes(), n, m.mid, side)
                got = next(s for s in m.venue_slippage[st_.venue] if s.side == side and s.notional == n)
                assert got.levels == ref.levels
                assert (got.vwap is None) == (ref.vwap is None)
                if ref.vwap is not None:
                    assert got.vwap == pytest.approx(ref.vwap, rel=1e-12)
                    assert got.slippage_bps == pytest.approx(ref.slippage_bps, rel=1e-9, abs=1e-9)
                else:
                    assert got.filled_quote == pytest.approx(ref.filled_quote, rel=1e-12)


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(st.lists(st.lists(st.tuples(st.integers(-50, 50), st.integers(1, 9)), min_size=1, max_size=30,
                         unique_by=lambda x: x[0]), min_size=1, max_size=5),
       st.lists(st.floats(1.0, 200_000.0), min_size=1, max_size=4))
def test_consolidated_walk_equals_walking_the_merged_book(books: list, notionals: list[float]) -> None:
    venues = ["binance", "okx", "bybit-spot", "coinbase", "kraken"]
    states = []
    for v, levels in zip(venues, books, strict=False):
        asks = [(f"{1000 + t:.1f}", str(q)) for t, q in levels]
        states.append(state(v, "BTC/USD" if v == "kraken" else "BTC-USDT", [("900", "1")], asks))
    m = only(consolidate(states, make_settings({}, notionals=notionals)))
    merged: dict[float, float] = {}
    for s in states:
        for p, q in s.book.asks:
            merged[float(p)] = merged.get(float(p), 0.0) + float(q)
    prices = sorted(merged)
    for n in notionals:
        ref = core_walk(prices, [merged[p] for p in prices], n, m.mid, BUY)
        got = next(s for s in m.slippage if s.side == BUY and s.notional == n)
        assert got.levels == ref.levels
        assert (got.vwap is None) == (ref.vwap is None)
        if ref.vwap is not None:
            assert got.vwap == pytest.approx(ref.vwap, rel=1e-9)


def _bisect_key_fill(ladders: list, mults: list[float], targets: list[float]) -> list[tuple]:
    """The water-level fill with the search handed to ``bisect`` with a key (each probe a Python call).

    ``greedy_fill`` writes the bisection out; this is the same algorithm in its plainest form, so the two
    must agree to the last bit on every field (the JSON output of a run is compared byte for byte).
    """
    from bisect import bisect_left, bisect_right
    from itertools import chain, repeat
    from operator import mul, ne

    from lcm_tui.core.bands import FILL_TOL

    sign = ladders[0].sign
    goal = targets[-1] * (1.0 - FILL_TOL)
    scale = [c * sign for c in mults]
    cums = [ld.cum for ld in ladders]
    adj: list[list[float]] = [[] for _ in ladders]

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
        frontier = [a[-1] for ld, a in zip(ladders, adj, strict=True) if len(ld.keys) > m]
        if not frontier:
            bound = math.inf
            break
        bound = min(frontier)
        if cash_at(bound) >= goal:
            break
    candidates = sorted(chain.from_iterable(a[: bisect_right(a, bound)] for a in adj))
    out = []
    lo = 0
    for t in targets:
        g = t * (1.0 - FILL_TOL)
        idx = lo = bisect_left(candidates, True, lo=lo, key=lambda lam, g=g: cash_at(lam) >= g)
        complete = idx < len(candidates)
        lam = candidates[idx] if complete else math.inf
        counts = [bisect_left(a, lam) for a in adj]
        cash = [scale[v] * cums[v][k - 1] if k else 0.0 for v, k in enumerate(counts)]
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
        upto = idx + 1 if complete else len(candidates)
        distinct = 1 + sum(map(ne, candidates[1:upto], candidates[: upto - 1])) if upto else 0
        out.append((t if complete else sum(cash), cash, base, levels, distinct, complete))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_greedy_fill_equals_the_bisect_with_a_key_to_the_last_bit(seed: int) -> None:
    """Shared prices across venues (ties at the threshold), fees, conversion, orders past the whole side."""
    rng = random.Random(seed)
    venues = ["binance", "okx", "bybit-spot", "coinbase", "kraken"][: rng.randint(1, 5)]
    states = []
    for v in venues:
        n = rng.randint(1, 300)
        bids = [(f"{1000 - 0.5 * rng.randint(1, 3) * i - 0.5:.1f}", f"{rng.uniform(0.001, 3):.4f}") for i in range(n)]
        asks = [(f"{1000 + 0.5 * rng.randint(1, 3) * i + 0.5:.1f}", f"{rng.uniform(0.001, 3):.4f}") for i in range(n)]
        states.append(state(v, "BTC/USD" if v == "kraken" else "BTC-USDT", dict(bids).items(), dict(asks).items()))
    cfg = make_settings({v: rng.choice([0.0, 5.0, 10.0, 40.0]) for v in venues},
                        rates={"USD": 1.0, "USDT": rng.choice([1.0, 0.9997]), "USDC": 1.0})
    members, excluded = classify(states, cfg)["BTC"]
    targets = [*sorted(rng.uniform(1.0, 3e5) for _ in range(rng.randint(1, 6))), 1e9]
    for side in (BUY, SELL):
        for fee_adjusted in (False, True):
            book = ConsolidatedBook("BTC", members, excluded)
            ladders = book.asks if side == BUY else book.bids
            mults = [((1.0 + f) if side == BUY else (1.0 - f)) if fee_adjusted else 1.0 for f in book.fees]
            got = greedy_fill(ladders, mults, targets)
            ref_book = ConsolidatedBook("BTC", members, excluded)
            ref = _bisect_key_fill(ref_book.asks if side == BUY else ref_book.bids, mults, targets)
            assert [(f.filled, f.cash, f.base, f.levels, f.distinct, f.complete) for f in got] == ref
            lean = greedy_fill(ladders, mults, targets, count_distinct=False)
            assert [(f.filled, f.cash, f.base, f.levels, f.complete) for f in lean] == [r[:4] + r[5:] for r in ref]


def _exact_target(cash: float) -> float:
    """A notional whose fill threshold ``N * (1 - FILL_TOL)`` is exactly ``cash``."""
    from lcm_tui.core.bands import FILL_TOL

    t = cash / (1.0 - FILL_TOL)
    for direction in (math.inf, -math.inf):
        x = t
        for _ in range(40):
            if x * (1.0 - FILL_TOL) == cash:
                return x
            x = math.nextafter(x, direction)
    raise AssertionError(f"no notional maps onto {cash!r}")


def _plain_fill_check(states: list[SymbolState], cfg: Settings, targets: list[float]) -> None:
    members, excluded = classify(states, cfg)["BTC"]
    for fee_adjusted in (False, True):
        book, ref_book = (ConsolidatedBook("BTC", members, excluded) for _ in range(2))
        mults = [1.0 + f if fee_adjusted else 1.0 for f in book.fees]
        got = greedy_fill(book.asks, mults, targets)
        assert [(f.filled, f.cash, f.base, f.levels, f.distinct, f.complete) for f in got] == \
            _bisect_key_fill(ref_book.asks, mults, targets)


def test_greedy_fill_when_the_cash_at_a_level_is_exactly_the_threshold() -> None:
    """Integer prices and sizes: F at each level is exact, and notionals land exactly on it."""
    asks_a = [(str(100 + 2 * i), "1") for i in range(40)]
    asks_b = [(str(101 + 2 * i), "1") for i in range(40)]
    states = [state("okx", "BTC-USDT", [("99", "1")], asks_a), state("binance", "BTCUSDT", [("99", "1")], asks_b)]
    prices = sorted(float(p) for p, _ in asks_a + asks_b)
    cum = [sum(prices[: k + 1]) for k in range(len(prices))]
    targets = sorted({_exact_target(cum[k]) for k in (0, 1, 6, 7, 8, 15, 16, 17, 31, 40)} | {1e9})
    _plain_fill_check(states, make_settings({"okx": 10.0, "binance": 10.0}), targets)


def test_greedy_fill_when_two_levels_of_one_venue_convert_to_one_price_at_a_prefix_end() -> None:
    """The 16th and 17th asks of one venue convert to one price: the first galloping round ends between them."""
    lo_p, hi_p = 1020.0000000000005, 1020.0000000000006
    assert lo_p * 0.1 == hi_p * 0.1 and math.nextafter(lo_p, math.inf) == hi_p
    asks_a = ([(str(1000 + i), "1") for i in range(15)] + [(repr(lo_p), "1"), (repr(hi_p), "1")]
              + [(str(1021 + i), "1") for i in range(30)])
    asks_b = [(str(110 + i), "1") for i in range(40)]  # in USD, above venue A's converted 16th level
    states = [state("okx", "BTC-USDT", [("999", "1")], asks_a), state("coinbase", "BTC-USD", [("99", "1")], asks_b)]
    cfg = make_settings({}, rates={"USD": 1.0, "USDT": 0.1})
    first16 = sum(float(p) * 0.1 for p, _ in asks_a[:16])
    targets = [first16 * 0.999, first16 * 1.0001, first16 + 10.2, 1e9]
    _plain_fill_check(states, cfg, targets)


def _full_merge(book: ConsolidatedBook, side: str, n: int) -> list:
    """The first ``n`` levels of the whole-book merge (what ``levels`` returns without a limit)."""
    return book.levels(side)[:n]


@pytest.mark.parametrize("seed", range(25))
def test_top_levels_equal_the_whole_book_merge(seed: int) -> None:
    """The best n levels read from each venue's first keys are those of merging whole books."""
    rng = random.Random(seed)
    venues = ["binance", "okx", "bybit-spot", "coinbase", "kraken"][: rng.randint(1, 5)]
    states = []
    for v in venues:
        nb = rng.randint(0, 30)
        bids = {f"{100 - 0.5 * rng.randint(1, 4) * i - 0.5:.1f}": f"{rng.uniform(0.01, 3):.3f}" for i in range(nb)}
        asks = {f"{100 + 0.5 * rng.randint(1, 4) * i + 0.5:.1f}": f"{rng.uniform(0.01, 3):.3f}" for i in range(30)}
        states.append(state(v, "BTC/USD" if v == "kraken" else "BTC-USDT", list(bids.items()), list(asks.items())))
    cfg = make_settings({}, rates={"USD": 1.0, "USDT": rng.choice([1.0, 0.9997]), "USDC": 1.0})
    book = ConsolidatedBook("BTC", *classify(states, cfg)["BTC"])
    for side in ("bids", "asks"):
        for n in (1, 2, 5, 10, 40):
            assert book.levels(side, n) == _full_merge(book, side, n)
    assert book.levels("asks", 0) == book.levels("asks")[:1]  # n <= 0 keeps its old answer: one level


def test_top_levels_when_a_conversion_rounds_two_prices_of_one_venue_together() -> None:
    """Prices one ulp apart that the rate maps onto one converted price: the venue's first keys repeat."""
    close = [1000.0]
    for _ in range(6):
        close.append(math.nextafter(close[-1], math.inf))
    rate = 0.1
    conv = [x * rate for x in close]
    assert conv[4] == conv[5] and len(set(conv)) == 6  # the case under test does happen with these numbers
    asks = [(repr(x), str(i + 1)) for i, x in enumerate(close)] + [("1001", "10"), ("1002", "20")]
    states = [state("okx", "BTC-USDT", [("999", "1")], asks),
              state("binance", "BTCUSDT", [("998", "1")], [("1000.5", "100"), ("1003", "200")])]
    cfg = make_settings({}, rates={"USD": 1.0, "USDT": rate})
    book = ConsolidatedBook("BTC", *classify(states, cfg)["BTC"])
    for n in range(1, 11):
        assert book.levels("asks", n) == _full_merge(book, "asks", n)
    top = book.levels("asks", 6)
    assert [lv.size for lv in top] == [1.0, 2.0, 3.0, 4.0, 11.0, 7.0]  # sizes 5 and 6 share one converted price
    assert top[4].venues == {"okx": 11.0}


# ----------------------------------------------------------------------------- market-wide crunch
def _z(**by_venue: float | None) -> dict[tuple[str, str], SimpleNamespace]:
    symbols = {"binance": "BTCUSDT", "okx": "BTC-USDT", "kraken": "BTC/USD"}
    return {(v, symbols[v]): SimpleNamespace(z={"depth": z}) for v, z in by_venue.items()}


def _three_venues() -> list[SymbolState]:
    return [
        state("binance", "BTCUSDT", [("99", "1")], [("100", "1")]),
        state("okx", "BTC-USDT", [("99", "1")], [("100", "1")]),
        state("kraken", "BTC/USD", [("99", "1")], [("100", "1")]),
    ]


def test_market_signal_fires_on_several_venues_not_on_one() -> None:
    states = _three_venues()
    cfg = make_settings({})  # min 2 venues and half of the LIVE ones; open_z 3
    one = only(consolidate(states, cfg, _z(binance=-6.0, okx=-0.5, kraken=0.2))).market
    assert one.live == 3 and one.required == 2 and not one.firing and one.draining == {"binance": -6.0}
    two = only(consolidate(states, cfg, _z(binance=-6.0, okx=-3.5, kraken=0.2))).market
    assert two.firing and two.draining == {"binance": -6.0, "okx": -3.5} and two.breadth_z == -3.5
    warming = only(consolidate(states, cfg, _z(binance=None, okx=-3.5, kraken=None))).market
    assert not warming.firing

    # An outage is not a crunch: kraken DOWN keeps its last (terrible) z but is excluded and listed.
    states[2].status = StreamStatus.DOWN
    m = only(consolidate(states, cfg, _z(binance=-0.1, okx=-3.5, kraken=-9.0)))
    assert not m.market.firing and m.market.live == 2 and "kraken" not in m.market.z
    assert [e.venue for e in m.excluded] == ["kraken"]


def test_market_alert_opens_after_k_samples_and_closes_with_hysteresis() -> None:
    states = _three_venues()
    cfg = make_settings({})
    cfg.detector.consecutive = 2
    det = MarketCrunchDetector(cfg)
    drain = _z(binance=-4.2, okx=-3.1, kraken=0.0)
    assert det.update(states, drain, 1) == []
    (change,) = det.update(states, drain, 2)
    alert = change.alert
    assert change.action is AlertAction.OPEN
    assert (alert.venue, alert.symbol, alert.signal, alert.opened_ns) == ("market", "BTC", MARKET_DEPTH_SIGNAL, 2)
    assert alert.peak_z == -3.1 and alert.severity is Severity.WARNING
    # Deeper drain raises the peak and says so; |z| 2 is above close_z 1.5 on two venues: stays open.
    assert det.update(states, _z(binance=-5.5, okx=-4.4, kraken=0.0), 3) == [AlertChange(AlertAction.ESCALATE, alert)]
    assert alert.peak_z == -4.4 and alert.severity is Severity.HIGH
    assert det.update(states, _z(binance=-2.0, okx=-2.0, kraken=0.0), 4) == []  # milder: no escalation
    assert det.update(states, _z(binance=-2.0, okx=-1.0, kraken=0.0), 5) == [AlertChange(AlertAction.CLOSE, alert)]
    assert alert.closed_ns == 5


def test_market_alert_severity_is_the_detectors_ladder() -> None:
    # A custom ladder (high at 3.5, critical at 6): the market alert follows it, not a copy of the defaults.
    from lcm_tui.core.detector import severity

    states = _three_venues()
    cfg = make_settings({})
    cfg.detector.consecutive = 1
    cfg.detector.high_z, cfg.detector.critical_z = 3.5, 6.0
    det = MarketCrunchDetector(cfg)
    (opened,) = det.update(states, _z(binance=-4.2, okx=-3.6, kraken=0.0), 1)
    alert = opened.alert
    assert alert.peak_z == -3.6 and alert.severity is Severity.HIGH is severity(-3.6, cfg.detector)
    assert det.update(states, _z(binance=-7.0, okx=-6.5, kraken=0.0), 2) == [AlertChange(AlertAction.ESCALATE, alert)]
    assert alert.severity is Severity.CRITICAL


def test_market_alert_not_opened_by_one_venue_outage() -> None:
    states = _three_venues()
    cfg = make_settings({})
    cfg.detector.consecutive = 1
    det = MarketCrunchDetector(cfg)
    states[1].status = StreamStatus.DOWN  # okx's detector still holds its last z from before the outage
    for t in range(5):
        assert det.update(states, _z(binance=-4.0, okx=-8.0, kraken=-0.3), t) == []
    assert det.signals["BTC"].live == 2 and not det.signals["BTC"].firing


# ----------------------------------------------------------------------------- JSON form
def test_consolidated_json_is_json_ready() -> None:
    states = [
        state("binance", "BTCUSDT", [("99", "1")], [("100", "1")]),
        state("okx", "BTC-USDT", [("99", "1")], [("100", "1")], status=StreamStatus.STALE),
    ]
    out = consolidated_json(states, make_settings({}), _z(binance=-1.0))
    text = json.dumps(out, allow_nan=False)
    back = json.loads(text)
    assert back[0]["asset"] == "BTC" and back[0]["excluded"] == [{"venue": "okx", "symbol": "BTC-USDT",
                                                                   "reason": "stale"}]
    assert {(s["side"], s["notional"]) for s in back[0]["splits"]} == {
        (side, n) for side in (BUY, SELL) for n in (10_000.0, 100_000.0, 1_000_000.0)
    }
    assert back[0]["market"]["live"] == 1
    assert back[0]["top_asks"][0] == {"price": 100.0, "size": 1.0, "venues": {"binance": 1.0}}
    assert math.isclose(back[0]["mid"], 99.5)


# ----------------------------------------------------------------------------- widget
def _text(widget: Any) -> str:
    from textual.geometry import Region

    return "\n".join(s.text for s in widget.render_lines(Region(0, 0, widget.size.width, widget.size.height)))


async def test_consolidated_view_renders_split_crossed_and_excluded() -> None:
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    from lcm_tui.frontends.tui.widgets.consolidated import ConsolidatedView

    cfg = make_settings({"binance": 10, "okx": 10, "kraken": 40}, notionals=[50.0, 150.0, 1000.0])
    states = [
        state("binance", "BTCUSDT", [("101.0", "1")], [("102.0", "1")]),
        state("okx", "BTC-USDT", [("100.0", "1")], [("100.5", "2")]),
        state("kraken", "BTC/USD", [("99", "1")], [("103", "1")], status=StreamStatus.DOWN, detail="socket closed"),
    ]

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield ConsolidatedView(cfg, id="consolidated")

    app = Host()
    async with app.run_test(size=(140, 50)) as pilot:
        view = app.query_one(ConsolidatedView)
        # The widget draws what the core computed; it computes nothing itself.
        (metrics,) = consolidate(states, cfg, _z(binance=-4.0, okx=-3.2))
        view.show(metrics, ["BTC"])
        await pilot.pause()
        summary, levels, _slip, split, notes = (_text(view.query_one(f"#cons-{name}", Static))
                                                for name in ("summary", "levels", "slippage", "split", "notes"))
        assert "bid 101.0000 (binance)  ask 100.5000 (okx)" in summary and "CROSSED" in summary
        assert "CRUNCH on 2 of 2 venues" in summary
        assert "100.5000   2.000   okx 2.000" in levels and "101.0000   1.000   binance 1.000" in levels
        assert "best execution of 150" in split
        assert "okx        10   ████████████ 100%     150   1.491   100.5000   100.6005" in split
        # Sell 150 net: binance's 1 BTC at 101 * 0.999 = 100.899 (67 %), then okx at 100 * 0.999.
        assert "binance    10   ████████▏     67%     101     1.000   101.0000   100.8990" in split
        assert "no single venue can fill this order alone" in split
        assert "binance bid 101.0000 > okx ask 100.5000" in notes
        assert "kraken BTC/USD: down: socket closed" in notes

        view.focus()
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert view.notional == 1000.0 and "best execution of 1k" in _text(view.query_one("#cons-split", Static))


def test_market_alert_with_the_real_monitor_and_detectors() -> None:
    """End to end with the real Monitor: a drain on two venues opens the market alert, a drain on one does not."""
    from lcm_tui.core.monitor import Monitor

    def run(drained: set[str]) -> list:
        rng = random.Random(3)
        cfg = make_settings({})
        cfg.detector.warmup_samples = 10
        cfg.detector.consecutive = 2
        states = _three_venues()
        mon = Monitor(cfg)
        for s in states:
            mon.add(s)
        heard = []
        mon.add_listener(type("Listener", (), {"on_alert": staticmethod(heard.append)})())
        for t in range(40):
            for s in states:
                size = rng.uniform(9.0, 11.0) * (0.02 if t >= 30 and s.venue in drained else 1.0)
                s.book.load_snapshot([("99.9", f"{size:.4f}")], [("100.1", f"{size:.4f}")])
            mon.sample(t * 1_000_000_000)
        market = [a for a in mon.alerts if a.venue == "market"]
        # The monitor itself runs the market detector and tells its listeners (the recorder, the UI).
        assert [a for a in heard if a.venue == "market"] == market
        return market

    two = run({"binance", "okx"})
    assert [(a.signal, a.symbol, a.opened_ns) for a in two] == [(MARKET_DEPTH_SIGNAL, "BTC", 31_000_000_000)]
    assert run({"kraken"}) == []
