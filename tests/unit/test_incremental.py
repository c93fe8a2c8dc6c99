"""Per-sample work only for what changed: the results must be exactly those of computing afresh.

The monitor re-stamps a stream's previous sample while its book is unchanged and rebuilds an asset's
consolidated entry only when one of its streams changed. The reference here is the full computation
run on every tick (``compute_sample`` on the book, a detector fed those samples, ``consolidate`` on
the states), which the metrics and consolidated tests check against docs/metrics.md; a seeded random
walk of book updates, untouched books, a resync (a new book object), a stream going STALE and back
must give equal samples, z-scores, alert changes and consolidated entries at every tick.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import cast

from lcm_tui.config import Settings
from lcm_tui.core.book import OrderBook
from lcm_tui.core.consolidated import HasZ, consolidate
from lcm_tui.core.detector import Detector
from lcm_tui.core.metrics import compute_sample
from lcm_tui.core.model import AlertChange, StreamStatus, SymbolState
from lcm_tui.core.monitor import Monitor

S = 1_000_000_000
STREAMS = [("binance", "BTCUSDT"), ("bybit-spot", "BTCUSDT"), ("binance", "ETHUSDT"), ("okx", "SOL-USDT")]


def _levels(rng: random.Random, mid: float, side: int, n: int) -> list[tuple[str, str]]:
    return [(f"{mid + side * (0.5 + i) * 0.01 * mid / 100:.2f}", f"{rng.uniform(0.1, 5):.3f}") for i in range(n)]


def _snapshot(book: OrderBook, rng: random.Random, mid: float) -> None:
    book.load_snapshot(_levels(rng, mid, -1, 60), _levels(rng, mid, 1, 60))


def _nudge(book: OrderBook, rng: random.Random) -> None:
    """One venue update: a few levels resized or removed near the top of one side."""
    side = book.bids if rng.random() < 0.5 else book.asks
    top = side.top(10)
    ups = [(p, "0" if rng.random() < 0.2 and len(top) > 5 else f"{rng.uniform(0.1, 5):.3f}")
           for p, _ in rng.sample(top, min(3, len(top)))]
    if side is book.bids:
        book.apply(ups, [])
    else:
        book.apply([], ups)


def test_unchanged_books_reuse_samples_and_results_equal_fresh_computation() -> None:
    rng = random.Random(20261201)
    settings = Settings()
    # A short detector window so z-scores and alerts appear within the run.
    settings.detector.half_life_s = 5.0
    settings.detector.warmup_samples = 5
    settings.detector.open_z = 2.0
    settings.detector.close_z = 1.0
    m = Monitor(settings)
    mids = {"BTC": 97_000.0, "ETH": 3_500.0, "SOL": 180.0}
    states: list[SymbolState] = []
    for venue, symbol in STREAMS:
        book = OrderBook(venue, symbol)
        _snapshot(book, rng, mids[symbol[:3]])
        st = SymbolState(venue, symbol, book, status=StreamStatus.LIVE)
        states.append(st)
        m.add(st)
    mc = settings.metrics
    ref_det = {st.key: Detector(settings.detector, st.venue, st.symbol, mc.middle_notional) for st in states}
    changes: list[AlertChange] = []
    m.add_listener(type("L", (), {"on_alert_change": lambda self, c: changes.append(c)})())

    dirty: set[tuple[str, str]] = set()
    computed_total = 0
    reused_total = 0
    for tick in range(1, 61):
        t = tick * S
        changed: set[tuple[str, str]] = set()
        for st in states:
            r = rng.random()
            if r < 0.4:
                for _ in range(rng.randint(1, 3)):
                    _nudge(st.book, rng)
                changed.add(st.key)
            elif r < 0.43:  # a resync: a new book object, its version counting from zero again
                new_book = OrderBook(st.venue, st.symbol)
                _snapshot(new_book, rng, mids[st.symbol[:3]])
                st.book = new_book
                changed.add(st.key)
        if tick == 40:  # a crunch: the ETH book loses most of its depth at once
            eth = states[2].book
            eth.apply([(p, "0") for p, _ in eth.bids.top(50)[1:]], [(p, "0") for p, _ in eth.asks.top(50)[1:]])
            changed.add(states[2].key)
        stale = states[1]
        stale.status = StreamStatus.STALE if 20 <= tick < 25 else StreamStatus.LIVE
        stale.status_detail = "no data for 10s" if stale.status is StreamStatus.STALE else ""
        before = m.computed
        n_changes = len(changes)
        out = m.sample(t)
        live = [st for st in states if st.status is StreamStatus.LIVE]
        assert [s.venue + s.symbol for s in out] == [st.venue + st.symbol for st in live]
        expected_changes: list[AlertChange] = []
        for s, st in zip(out, live, strict=True):
            fresh = compute_sample(st.book, st.venue, st.symbol, t, mc.depth_bands_bps, mc.notionals)
            assert s == fresh, (tick, st.key)
            assert m.latest[st.key] == fresh
            expected_changes += ref_det[st.key].update(fresh, t)
            assert m.detectors[st.key].z == ref_det[st.key].z
        stream_changes = [c for c in changes[n_changes:] if c.alert.venue != "market"]
        assert [(c.action, c.alert.venue, c.alert.signal, c.alert.peak_z) for c in stream_changes] == \
            [(c.action, c.alert.venue, c.alert.signal, c.alert.peak_z) for c in expected_changes]
        # Computed: every live stream whose book changed since its last computed sample (all, at first).
        dirty |= changed
        live_keys = {st.key for st in live}
        computed = m.computed - before
        assert computed == len(live_keys if tick == 1 else live_keys & dirty), tick
        dirty -= live_keys
        computed_total += computed
        reused_total += len(live) - computed
        dets = cast("Mapping[tuple[str, str], HasZ]", m.detectors)
        for asset in m.assets():
            want = consolidate(states, settings, dets, assets=[asset])[0]
            assert m.consolidated(asset) == want, (tick, asset)
            assert m.consolidated(asset, top=3) == consolidate(states, settings, dets, top=3, assets=[asset])[0]
    # Both paths were exercised: books recomputed when they changed, re-stamped when they did not.
    assert computed_total > 0 and reused_total > 0
    assert sum(1 for c in changes if c.alert.venue != "market") > 0  # the detector compared had alerts to make


def test_first_sample_of_a_stream_and_a_stream_back_from_stale_are_computed() -> None:
    rng = random.Random(7)
    m = Monitor(Settings())
    book = OrderBook("binance", "BTCUSDT")
    _snapshot(book, rng, 97_000.0)
    st = SymbolState("binance", "BTCUSDT", book, status=StreamStatus.LIVE)
    m.add(st)
    m.sample(1 * S)
    assert m.computed == 1
    m.sample(2 * S)  # unchanged: re-stamped, a copy with its own containers
    assert m.computed == 1
    assert m.latest[st.key].ts_ns == 2 * S
    first, again = m.latest[st.key], m.sample(3 * S)[0]
    assert first.depth_bid == again.depth_bid and first.depth_bid is not again.depth_bid
    _nudge(book, rng)
    m.sample(4 * S)
    assert m.computed == 2


def test_consolidated_entry_is_reused_until_a_member_changes() -> None:
    rng = random.Random(11)
    settings = Settings()
    m = Monitor(settings)
    states = []
    for venue in ("binance", "bybit-spot"):
        book = OrderBook(venue, "BTCUSDT")
        _snapshot(book, rng, 97_000.0)
        st = SymbolState(venue, "BTCUSDT", book, status=StreamStatus.LIVE)
        states.append(st)
        m.add(st)
    m.sample(S)
    a, b = m.consolidated("BTC"), m.consolidated("btc")
    assert a is not None and b is not None and a == b
    assert a.splits is b.splits  # the same build, not a second one
    _nudge(states[1].book, rng)
    c = m.consolidated("BTC")
    assert c is not None and c.splits is not a.splits
    dets = cast("Mapping[tuple[str, str], HasZ]", m.detectors)
    assert c == consolidate(states, settings, dets, assets=["BTC"])[0]
    states[0].status, states[0].status_detail = StreamStatus.RESYNCING, "gap 5->9"
    d = m.consolidated("BTC")
    assert d == consolidate(states, settings, dets, assets=["BTC"])[0]
    assert d is not None and [e.venue for e in d.excluded] == ["binance"]
    assert m.consolidated("DOGE") is None
