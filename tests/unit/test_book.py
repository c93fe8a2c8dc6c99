"""OrderBook against a plain reference model (dict of Decimal) on random snapshot + delta streams.

Every test here runs twice: on the C fast path (lcm_tui.core._fastbook) and on the pure-Python path.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from book_impls import IMPLS, use_impl
from hypothesis import given, settings
from hypothesis import strategies as st

import lcm_tui.core.book as book_module
from lcm_tui.core.book import OrderBook


@pytest.fixture(scope="module", autouse=True, params=IMPLS)
def impl(request: pytest.FixtureRequest) -> Iterator[str]:
    with use_impl(request.param):
        yield request.param


def test_the_selected_implementation_runs(impl: str) -> None:
    assert book_module.implementation() == ("pure Python" if impl == "python" else "C (lcm_tui.core._fastbook)")


class RefSide:
    """The obvious model: Decimal price -> the last (price string, size string) the wire sent."""

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.levels: dict[Decimal, tuple[str, str]] = {}

    def apply(self, updates: list[tuple[str, str]]) -> None:
        for p, q in updates:
            if Decimal(q) == 0:
                self.levels.pop(Decimal(p), None)
            else:
                self.levels[Decimal(p)] = (p, q)

    def ordered(self) -> list[tuple[str, str]]:
        return [self.levels[k] for k in sorted(self.levels, reverse=self.is_bid)]

    def truncate(self, n: int) -> None:
        keep = sorted(self.levels, reverse=self.is_bid)[:n]
        self.levels = {k: self.levels[k] for k in keep}


# Prices on a 0.1 grid spelled with 1..8 decimals ("2.5", "2.50000000"): the same level may arrive in
# different spellings and the book must keep the latest one. Bid and ask grids overlap so books cross.
def _price(lo: int, hi: int):
    return st.builds(lambda t, nd: f"{Decimal(t) / 10:.{nd}f}", st.integers(lo, hi), st.integers(1, 8))


_size = st.one_of(
    st.sampled_from(["0", "0.00000000", "0.0"]),  # deletes, also of absent levels
    st.builds(lambda q, nd: f"{Decimal(q) / 1000:.{nd}f}", st.integers(1, 10**7), st.integers(3, 8)),
)
_bids = st.lists(st.tuples(_price(1, 60), _size), max_size=25)
_asks = st.lists(st.tuples(_price(40, 100), _size), max_size=25)
_op = st.one_of(
    st.tuples(st.just("snapshot"), _bids, _asks),
    st.tuples(st.just("delta"), _bids, _asks),
    st.tuples(st.just("delta"), _bids, _asks),
    st.tuples(st.just("delta"), _bids, _asks),
    st.tuples(st.just("truncate"), st.integers(0, 30), st.just(None)),
)


def check(book: OrderBook, rb: RefSide, ra: RefSide) -> None:
    bids, asks = rb.ordered(), ra.ordered()
    assert list(book.bids) == bids  # full ordering, exact strings
    assert list(book.asks) == asks
    assert book.to_dict() == {"bids": bids, "asks": asks}
    assert book.best_bid() == (bids[0] if bids else None)
    assert book.best_ask() == (asks[0] if asks else None)
    assert book.depth() == (len(bids), len(asks))
    assert book.bids.prices() == [float(p) for p, _ in bids]
    assert book.asks.prices() == [float(p) for p, _ in asks]
    assert book.bids.sizes() == [float(q) for _, q in bids]
    assert book.asks.sizes() == [float(q) for _, q in asks]
    assert book.bids.sizes(3) == [float(q) for _, q in bids[:3]]
    assert book.asks.top(5) == asks[:5]
    crossed = bool(bids and asks) and Decimal(bids[0][0]) >= Decimal(asks[0][0])
    assert book.is_crossed() == crossed
    if bids and asks:
        assert book.mid() == pytest.approx((float(Decimal(bids[0][0]) + Decimal(asks[0][0]))) / 2)
    else:
        assert book.mid() is None
    for p, q in bids[:3]:
        assert book.bids.size_at(p) == q
    assert book.is_empty() == (not bids and not asks)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(ops=st.lists(_op, min_size=1, max_size=12))
def test_book_matches_reference_model(ops) -> None:
    book = OrderBook("v", "s")
    rb, ra = RefSide(True), RefSide(False)
    for kind, a, b in ops:
        version = book.version
        if kind == "snapshot":
            book.load_snapshot(a, b)
            rb.levels.clear()
            ra.levels.clear()
            rb.apply(a)
            ra.apply(b)
        elif kind == "delta":
            book.apply(a, b)
            rb.apply(a)
            ra.apply(b)
        else:
            book.truncate(a)
            rb.truncate(a)
            ra.truncate(a)
        check(book, rb, ra)
        if kind != "truncate" and (a or b):
            assert book.version > version  # metrics caches can tell the book changed


def test_generator_style_updates_and_extra_fields() -> None:
    # Venues send [price, size, ...more]; adapters may pass generators.
    book = OrderBook()
    book.apply(iter([["10.0", "1", "extra"], ["9.5", "2", "x", "y"]]), (lv for lv in [["11", "3"]]))
    assert list(book.bids) == [("10.0", "1"), ("9.5", "2")]
    assert list(book.asks) == [("11", "3")]


BAD = ["nan", "NaN", "inf", "-inf", "Infinity", "-1", "-0.00000001", "1e999"]


@pytest.mark.parametrize("bad", [*BAD, "0", "-0", "0.0"])
def test_rejects_bad_prices(bad: str) -> None:
    book = OrderBook()
    book.load_snapshot([("1", "1")], [("2", "1")])
    with pytest.raises(ValueError, match="invalid level"):
        book.apply([(bad, "1")], [])
    with pytest.raises(ValueError, match="invalid level"):
        book.apply([], [(bad, "1")])


@pytest.mark.parametrize("bad", BAD)
def test_rejects_bad_sizes(bad: str) -> None:
    book = OrderBook()
    with pytest.raises(ValueError, match="invalid level"):
        book.apply([("1", bad)], [])
    with pytest.raises(ValueError, match="invalid level"):
        book.load_snapshot([], [("2", bad)])


def test_not_a_number_at_all_is_rejected() -> None:
    book = OrderBook()
    with pytest.raises(ValueError):
        book.apply([("abc", "1")], [])


@pytest.mark.parametrize("bad", ["null", '"5"', "[1]", "{}", "true", "false", "1,2", "5]", "", "--5", "0x10", "1 2"])
def test_non_numbers_are_rejected_and_leave_the_book_unchanged(bad: str) -> None:
    book = OrderBook()
    book.load_snapshot([("1", "1"), ("0.5", "2")], [("2", "1")])
    before = book.to_dict()
    for bids, asks in (([(bad, "1")], []), ([], [(bad, "1")]), ([("0.9", bad)], []), ([], [("3", bad)]),
                       ([("0.9", "1"), (bad, "1")], [("3", "1")]), ([("0.9", "1")], [("3", "1"), ("4", bad)])):
        with pytest.raises(ValueError):
            book.apply(bids, asks)
        assert book.to_dict() == before  # all or nothing, on both sides


@pytest.mark.parametrize(("price", "size"), [("1e-5", "2"), ("2.5E+1", "1e-3"), (" 7", "1"), ("+7.5", "+1"),
                                             ("3", "4"), ("0003.5", "0.5")])
def test_unusual_but_valid_spellings_are_kept(price: str, size: str) -> None:
    book = OrderBook()
    book.apply([(price, size)], [(price, size)])
    assert list(book.bids) == [(price, size)] and list(book.asks) == [(price, size)]
    assert book.bids.prices() == [float(price)] and book.asks.sizes() == [float(size)]


# Decimal strings as exchanges write them, up to 17 significant digits: the fast parser must give
# exactly float(text) (correct rounding), or float keys would stop being an identity for prices.
_decimal_text = st.builds(
    lambda i, f, nd: f"{i}.{f:0{nd}d}" if nd else str(i),
    st.integers(0, 10**9), st.integers(0, 10**8 - 1), st.integers(0, 8),
)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(prices=st.lists(_decimal_text, min_size=1, max_size=30), sizes=st.lists(_decimal_text, min_size=1, max_size=30))
def test_fast_parse_equals_float(prices, sizes) -> None:
    levels = [(p, q) for p, q in zip(prices, sizes, strict=False) if float(p) > 0]
    book = OrderBook()
    book.apply(levels, levels)
    expect = {}
    for p, q in levels:
        expect[float(p)] = float(q)
    for side, sign in ((book.bids, -1.0), (book.asks, 1.0)):
        got = {sign * k: v[0] for k, v in side.levels.items()}
        assert got == {p: q for p, q in expect.items() if q}
        assert all(float(sign * k) == float(v[1]) for k, v in side.levels.items())


@pytest.mark.parametrize("text", ["67000", "0", "9007199254740993", "123456789012345678901", "7"])
def test_keys_and_sizes_are_floats_whatever_the_spelling(text: str) -> None:
    # One key type on both paths: an integral string is float(text), never an int (above 2**53 an int
    # would be a different key from the C path's double for the same level).
    book = OrderBook()
    book.apply([(text if text != "0" else "1", text)], [("9" * 22, text)])
    for side in (book.bids, book.asks):
        for k, (size, p, q) in side.levels.items():
            assert type(k) is float and type(size) is float
            assert abs(k) == float(p) and size == float(q)


@pytest.mark.parametrize("bad", [{}, {"0": "1", "1": "2"}, None, 5, "12", ["1"], [], ("1", 2), [1.5, "2"],
                                 [None, None]])
def test_a_level_that_is_not_strings_is_malformed(bad: object) -> None:
    book = OrderBook()
    book.load_snapshot([("1", "1")], [("2", "1")])
    before = book.to_dict()
    for bids, asks in (([bad], []), ([], [bad]), ([("0.5", "1"), bad], [("3", "1")])):
        with pytest.raises(ValueError, match=r"^malformed level"):
            book.apply(bids, asks)
        assert book.to_dict() == before


def _levels(n: int, is_bid: bool) -> list[tuple[str, str]]:
    # Prices 1000.00 -/+ k cents, sizes k + 1 (so a kept level can be recognised by its size).
    return [(f"{(100_000 - k if is_bid else 100_001 + k) / 100:.2f}", str(k + 1)) for k in range(n)]


def test_a_snapshot_over_max_levels_keeps_the_levels_nearest_the_top(caplog: pytest.LogCaptureFixture) -> None:
    import random

    rng = random.Random(5)
    bids, asks = _levels(50, True), _levels(60, False)
    rng.shuffle(bids)
    rng.shuffle(asks)
    book = OrderBook("binance", "BTCUSDT", max_levels=10)
    with caplog.at_level("WARNING", logger="lcm_tui.core.book"):
        book.load_snapshot(bids, asks)
    ref_bids = sorted(bids, key=lambda lv: -Decimal(lv[0]))[:10]
    ref_asks = sorted(asks, key=lambda lv: Decimal(lv[0]))[:10]
    assert list(book.bids) == ref_bids and list(book.asks) == ref_asks
    assert book.dropped_levels == 40 + 50
    assert "binance BTCUSDT" in caplog.text and "max_levels=10" in caplog.text and "dropped 90" in caplog.text


def test_updates_never_grow_a_side_past_max_levels() -> None:
    book = OrderBook(max_levels=5)
    book.load_snapshot(_levels(5, True), _levels(5, False))
    # Three new bids better than the top push the three worst out; a far ask beyond the fifth is dropped.
    book.apply([("1000.03", "1"), ("1000.02", "1"), ("1000.01", "1")], [("2000", "1")])
    assert [p for p, _ in book.bids] == ["1000.03", "1000.02", "1000.01", "1000.00", "999.99"]
    assert len(book.asks) == 5 and book.asks.size_at("2000") is None
    assert book.dropped_levels == 4
    assert len(book.bids.levels) == 5  # the dict follows the key list


def test_default_cap_on_a_huge_snapshot() -> None:
    from lcm_tui.core.book import DEFAULT_MAX_LEVELS

    bids = _levels(DEFAULT_MAX_LEVELS + 5_000, True)
    book = OrderBook()
    book.load_snapshot(bids[::-1], [("1000.01", "1")])  # worst first: the kept ones are the last in the input
    assert len(book.bids) == DEFAULT_MAX_LEVELS == 20_000
    assert book.bids.best() == ("1000.00", "1") and book.dropped_levels == 5_000
    assert list(book.bids)[-1] == bids[DEFAULT_MAX_LEVELS - 1]


def test_a_refused_snapshot_drops_nothing() -> None:
    book = OrderBook(max_levels=3)
    book.load_snapshot([("1", "1")], [("2", "1")])
    with pytest.raises(ValueError):
        book.load_snapshot([*_levels(5, True)[:4], ("nan", "1")], [])
    assert book.dropped_levels == 0


def test_adapters_build_their_books_with_feeds_max_levels() -> None:
    from lcm_tui.config import parse_settings
    from lcm_tui.venues.registry import adapter_class

    settings = parse_settings({"feeds": {"max_levels": 1234}})
    vc = settings.venue("binance")
    adapter = adapter_class("binance")(vc, ["BTCUSDT"])
    assert adapter.states["BTCUSDT"].book.max_levels == 1234
    assert OrderBook().max_levels == 20_000  # the documented default
