"""The C fast path (lcm_tui.core._fastbook) against the pure-Python path it replaces.

The Python path defines the semantics; these tests feed both the same updates, including odd ones
the C code hands back to Python, and require identical books, identical errors and exact numbers.
"""

from __future__ import annotations

import orjson
import pytest
from book_impls import C_APPLY, NEEDS_C, use_impl
from hypothesis import example, given, settings
from hypothesis import strategies as st

from benches.core import workload
from lcm_tui.core.book import OrderBook

pytestmark = NEEDS_C


def state(book: OrderBook) -> tuple:
    """Everything another module can read: key lists, level dicts, exact strings, versions."""
    return (book.bids.keys, book.asks.keys, book.bids.levels, book.asks.levels, book.to_dict(), book.version)


def run(impl: str, steps: list[tuple[list, list]]) -> tuple[OrderBook, list[str]]:
    """Apply the steps to a new book on one path; the outcome of each step ('ok' or the error)."""
    book = OrderBook()
    outcomes = []
    with use_impl(impl):
        for bids, asks in steps:
            try:
                book.apply(bids, asks)
                outcomes.append("ok")
            except (ValueError, TypeError, IndexError) as e:
                outcomes.append(f"{type(e).__name__}: {e}")
    return book, outcomes


def test_identical_books_on_the_benchmark_workload() -> None:
    bids, asks, frames = workload(400)
    books = {}
    for impl in ("c", "python"):
        with use_impl(impl):
            book = OrderBook("binance", "BTCUSDT")
            book.load_snapshot(bids, asks)
            trail = []
            for i, f in enumerate(frames):
                m = orjson.loads(f)
                book.apply(m["b"], m["a"])
                if i % 50 == 0:
                    trail.append((state(book), book.best_bid(), book.best_ask(), book.mid()))
            books[impl] = (state(book), trail)
    assert books["c"] == books["python"]
    assert len(books["c"][0][0]) > 900  # the workload really exercised a deep book


# Texts float() reads in its own ways (whitespace, underscores, exponents, signs, non-ASCII digits,
# too many digits for the fast decimal path) and texts it refuses.
_ODD = [" 7", "7 ", "1_000", "1e-5", "2.5E+1", "+7.5", "-0", "-0.0", "0", "0.0", "00.000", "5.", ".5", ".",
        "", "nan", "inf", "-inf", "Infinity", "1e999", "0x10", "--5", "\u0663", "\u0663.5", "٣",
        "9007199254740993", "9007199254740993.5", "0.1000000000000000000001", "123456789012345678901",
        "67000.01000000", "0.00000001", "1.2.3", "1,2", "null", "-1"]
_text = st.one_of(
    st.sampled_from(_ODD),
    st.builds(lambda i, f, nd: f"{i}.{f:0{nd}d}" if nd else str(i),
              st.integers(0, 10**12), st.integers(0, 10**10 - 1), st.integers(0, 10)),
    st.builds(lambda t, nd: f"{t / 10:.{nd}f}", st.integers(0, 40), st.integers(0, 3)),
)
# Mostly well-formed [price, size] levels; sometimes a tuple, extra fields, a non-str or a short level,
# which the C code must hand back to the Python path untouched.
_level = st.one_of(
    st.lists(_text, min_size=2, max_size=3),
    st.sampled_from([{}, {"0": "1", "1": "1"}, None, "12"]),
    st.tuples(_text, _text),
    st.tuples(st.sampled_from([3, 2.5, None, b"4"]), _text),
    st.tuples(_text, st.sampled_from([1, 0, 0.5, None])),
    st.lists(_text, min_size=0, max_size=1),
)
_side = st.lists(_level, max_size=12)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(steps=st.lists(st.tuples(_side, _side), min_size=1, max_size=8))
# An integral price above 2**53: orjson alone reads it as an exact int, float() as the nearest double.
@example(steps=[([], [(" 7", "9007199254740993")])])
@example(steps=[([("9007199254740993", "1")], [("9007199254740995", "9007199254740993")])])
@example(steps=[([{}], []), ([], [{"0": "1", "1": "2"}]), ([("1", "1")], [["2"]])])
def test_same_books_and_errors_as_python_on_odd_input(steps) -> None:
    c_book, c_out = run("c", steps)
    py_book, py_out = run("python", steps)
    assert c_out == py_out
    assert state(c_book) == state(py_book)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(steps=st.lists(st.tuples(st.lists(st.tuples(st.sampled_from(["1", "1.5", "2", "2.0", "3"]),
                                                   st.sampled_from(["0", "0.0", "1", "2.50"])), max_size=10),
                                st.lists(st.tuples(st.sampled_from(["4", "4.5", "5", "5.00"]),
                                                   st.sampled_from(["0", "1", "7"])), max_size=10)),
                      min_size=1, max_size=10))
def test_repeated_prices_last_update_wins_like_python(steps) -> None:
    # Few distinct prices, so one update often sets and deletes the same level several times.
    c_book, c_out = run("c", steps)
    py_book, py_out = run("python", steps)
    assert c_out == py_out == ["ok"] * len(steps)
    assert state(c_book) == state(py_book)


_decimal = st.builds(lambda i, f, nd: f"{i}.{f:0{nd}d}" if nd else str(i),
                     st.integers(0, 10**15), st.integers(0, 10**12 - 1), st.integers(0, 12))


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(texts=st.lists(_decimal, min_size=1, max_size=40))
def test_numbers_are_exactly_float_of_the_text(texts) -> None:
    levels = [[t, t] for t in texts if float(t) > 0]
    book = OrderBook()
    with use_impl("c"):
        book.apply(levels, levels)
    for side, sign in ((book.bids, -1.0), (book.asks, 1.0)):
        for k, (size, p, q) in side.levels.items():
            assert type(k) is float and type(size) is float
            assert (sign * k).hex() == float(p).hex()
            assert size.hex() == float(q).hex()


def test_error_names_the_first_invalid_level_and_changes_nothing() -> None:
    book = OrderBook()
    with use_impl("c"):
        book.load_snapshot([["1", "1"]], [["2", "1"]])
        before = state(book)
        with pytest.raises(ValueError, match=r"^invalid level '0\.5' 'nan'$"):
            book.apply([["0.9", "1"], ["0.5", "nan"], ["0.4", "-1"]], [["-3", "1"]])
        with pytest.raises(ValueError, match=r"^invalid level '-3' '1'$"):
            book.apply([["0.9", "1"]], [["3", "0"], ["-3", "1"]])
        assert state(book) == before
        with pytest.raises(ValueError, match="invalid level"):
            book.asks.apply([["3", "1"], ["4", "inf"]])
        assert state(book)[:5] == before[:5]


def test_module_contract() -> None:
    with use_impl("c"):  # fails under CI=true if the module is missing
        pass
    levels: dict = {}
    keys: list = []
    # Not [str, str] levels: False and nothing changed, so the caller runs the Python path.
    assert C_APPLY(levels, keys, [[1, "2"]], None, None, []) is False
    assert C_APPLY(levels, keys, [("1",)], None, None, []) is False
    assert C_APPLY(levels, keys, (("1", "2"),), None, None, []) is False
    assert (levels, keys) == ({}, [])
    assert C_APPLY(levels, keys, [("1", "2")], None, None, []) is True
    assert (levels, keys) == ({-1.0: (2.0, "1", "2")}, [-1.0])
    with pytest.raises(TypeError):
        C_APPLY(levels, keys, [("1", "2")])
    with pytest.raises(TypeError):
        C_APPLY(None, keys, [("1", "2")], None, None, [])


# ------------------------------------------------------------------ prefix sums (core.bands)
def _python_prefix(levels: dict, orig: list, keys: list, upto: int) -> tuple[list, list]:
    """The reference: itertools.accumulate over the products, as bands.Ladder.extend does without C."""
    from itertools import accumulate

    sizes = [levels[k][0] for k in orig[:upto]]
    return sizes, list(accumulate(k * q for k, q in zip(keys, sizes, strict=False)))


def test_prefix_extend_equals_accumulate_bit_for_bit() -> None:
    from lcm_tui.core._fastbook import prefix_extend

    bids, asks, _ = workload(1)
    book = OrderBook()
    book.load_snapshot(bids, asks)
    for side in (book.bids, book.asks):
        for rate in (1.0, 1.0837):
            keys = side.keys if rate == 1.0 else [k * rate for k in side.keys]
            sizes: list[float] = []
            cum: list[float] = []
            for upto in (0, 1, 16, 17, 300, len(keys)):  # grown in steps, as Ladder.extend does
                prefix_extend(side.levels, side.keys, keys, sizes, cum, upto)
            ref_sizes, ref_cum = _python_prefix(side.levels, side.keys, keys, len(keys))
            assert [x.hex() for x in cum] == [x.hex() for x in ref_cum]
            assert sizes == ref_sizes


def test_prefix_extend_refuses_what_it_cannot_read() -> None:
    from lcm_tui.core._fastbook import prefix_extend

    levels = {1.0: (2.0, "1", "2")}
    with pytest.raises(KeyError):
        prefix_extend(levels, [3.0], [3.0], [], [], 1)
    with pytest.raises(IndexError):
        prefix_extend(levels, [1.0], [1.0], [], [], 2)
    with pytest.raises(TypeError):
        prefix_extend(levels, (1.0,), [1.0], [], [], 1)
    with pytest.raises(TypeError):
        prefix_extend({1.0: 5}, [1.0], [1.0], [], [], 1)


def test_metrics_identical_on_both_paths() -> None:
    from benches.core import BANDS, NOTIONALS, wide_book
    from lcm_tui.core.metrics import compute_sample

    bids, asks, _ = workload(1)
    samples = {}
    for impl in ("c", "python"):
        with use_impl(impl):
            b = OrderBook()
            b.load_snapshot(bids, asks)
            samples[impl] = [compute_sample(book, "v", "s", 0, BANDS, NOTIONALS) for book in (b, wide_book())]
    assert samples["c"] == samples["python"]
    assert samples["c"][1].depth_ask[10] < samples["c"][1].depth_ask[200]  # the wide book's bands end inside


# ------------------------------------------------------------------ one side of a sample (core.metrics)
def _bits(sample) -> tuple:
    """A sample with every float as its hex spelling: -0.0 against 0.0 or one ulp apart is a difference."""
    def h(x):
        return x.hex() if isinstance(x, float) else x

    return (sample.best_bid, sample.best_ask, h(sample.mid), h(sample.spread_bps),
            [(k, h(v)) for k, v in sample.depth_bid.items()], [(k, h(v)) for k, v in sample.depth_ask.items()],
            [(k, h(v)) for k, v in sample.imbalance.items()],
            [(s.side, h(s.notional), h(s.vwap), h(s.slippage_bps), s.levels, h(s.filled_quote))
             for s in sample.slippage])


_price = st.integers(1, 10**7)
_size = st.sampled_from(["0.00000001", "0.001", "1", "3.3", "17", "250.5", "99999", "123456789"])


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(mid_ticks=st.integers(100, 10**6), scale=st.sampled_from([1, 10, 100, 10**4, 10**8]),
       bid_offsets=st.lists(st.integers(1, 5000), min_size=1, max_size=60, unique=True),
       ask_offsets=st.lists(st.integers(1, 5000), min_size=1, max_size=60, unique=True),
       sizes=st.lists(_size, min_size=120, max_size=120),
       bands=st.lists(st.integers(1, 400), min_size=0, max_size=5),
       notionals=st.lists(st.sampled_from([1.0, 10.0, 1e3, 1e4, 1e5, 1e6, 1e9, 0.0]), min_size=0, max_size=4))
def test_side_sample_gives_the_python_numbers_bit_for_bit(mid_ticks, scale, bid_offsets, ask_offsets, sizes, bands,
                                                         notionals) -> None:
    from lcm_tui.core.metrics import compute_sample

    def px(ticks: int) -> str:
        return str(ticks / scale) if scale > 1 else str(ticks)

    bids = [[px(mid_ticks * 10 - o), sizes[i]] for i, o in enumerate(bid_offsets) if mid_ticks * 10 - o > 0]
    asks = [[px(mid_ticks * 10 + o), sizes[60 + i]] for i, o in enumerate(ask_offsets)]
    out = {}
    for impl in ("c", "python"):
        with use_impl(impl):
            b = OrderBook()
            b.load_snapshot(bids, asks)
            out[impl] = _bits(compute_sample(b, "v", "s", 0, bands, notionals))
    assert out["c"] == out["python"]


def test_side_sample_hands_edges_and_odd_levels_to_python() -> None:
    from lcm_tui.core._fastbook import side_sample

    book = OrderBook()
    # Mid 100: the +100 bps edge is 101 exactly, and an ask sits on it.
    book.load_snapshot([["99", "1"]], [["101", "2"], ["102", "1"]])
    asks = book.asks
    assert side_sample(asks.levels, asks.keys, 1.0, 100.0, [100], [1.0]) is None
    depths, walks = side_sample(asks.levels, asks.keys, 1.0, 100.0, [50, 150], [101.0, 1e9])
    assert depths == [0.0, 202.0]
    assert walks == [(1.0, 101.0, 1), (None, 304.0, 2)]
    assert side_sample({1.0: (1, "1", "1")}, [1.0], 1.0, 0.5, [], [1.0]) is None  # an int size
    assert side_sample({1: (1.0, "1", "1")}, [1], 1.0, 0.5, [], [1.0]) is None  # an int key
    with pytest.raises(KeyError):
        side_sample({}, [1.0], 1.0, 0.5, [10], [1.0])
    with pytest.raises(TypeError):
        side_sample(asks.levels, tuple(asks.keys), 1.0, 100.0, [], [])


class _Str(str):
    """A str subclass: not the exact type the wire gives, so not a level."""


_atom = st.one_of(st.text(max_size=3), st.integers(), st.floats(allow_nan=False), st.none(),
                  st.builds(_Str, st.text(max_size=2)))
_level = st.one_of(st.lists(_atom, max_size=4), st.tuples(_atom, _atom), st.lists(st.text(max_size=3), max_size=4),
                   _atom)


def _python_levels_ok(levels: object) -> bool:
    """venues.base.check_levels' rule, written out: a list of lists whose first two items are str."""
    return type(levels) is list and all(
        type(lv) is list and len(lv) >= 2 and type(lv[0]) is str and type(lv[1]) is str for lv in levels)


@NEEDS_C
@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(levels=st.one_of(st.lists(_level, max_size=5), _atom, st.tuples(_level)))
@example(levels=[["1", "2"]])
@example(levels=[["1", "2", "extra"]])
@example(levels=[["1"]])
@example(levels=[[_Str("1"), "2"]])
@example(levels=[("1", "2")])
def test_c_levels_ok_is_the_check_levels_rule(levels: object) -> None:
    from lcm_tui.core._fastbook import levels_ok
    from lcm_tui.venues.base import check_levels

    assert levels_ok(levels) is _python_levels_ok(levels)
    if _python_levels_ok(levels):
        assert check_levels(levels) is levels
    else:
        with pytest.raises(ValueError):
            check_levels(levels)
