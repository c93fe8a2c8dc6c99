"""The simulator the loopback tests rest on: a deterministic, realistic market and honest faults."""

from __future__ import annotations

import re
import statistics

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from lcm_tui.core.book import OrderBook
from lcm_tui.core.metrics import compute_sample
from lcm_tui.runtime.http import http_get
from lcm_tui.runtime.sim.faults import FaultKind, FaultPlan
from lcm_tui.runtime.sim.market import MAX_LEVELS, MIN_LEVELS, FairPrices, MarketSim, fmt_units
from lcm_tui.venues.binance.sim import BinanceSim


def _market(seed=7, venue="binance", symbol="BTCUSDT"):
    fair = FairPrices(seed)
    return fair, MarketSim(seed, venue, symbol, BinanceSim([symbol]).market_params(symbol), fair)


def _run(seed, steps):
    fair, m = _market(seed)
    out = []
    for _ in range(steps):
        fair.step()
        out.append(m.step())
    return out


def test_market_is_deterministic_from_the_seed():
    assert _run(7, 300) == _run(7, 300)
    assert _run(7, 300) != _run(8, 300)


def test_fmt_units_is_exact():
    assert fmt_units(6000012, 2, 6) == "60000.12000000"
    assert fmt_units(5, 5) == "0.00005"
    assert fmt_units(7, 0) == "7"


def test_market_invariants_and_churn_near_the_top():
    fair, m = _market()
    book = OrderBook()
    book.load_snapshot(*m.snapshot())
    price_re = re.compile(r"^\d+\.\d{8}$")
    top_hits = changes = 0
    for _ in range(2000):
        fair.step()
        for side, p, q in m.step():
            assert price_re.match(p) and (q == "0" or price_re.match(q))
            s = book.side(side)
            if s.keys and abs(float(p) - s.best_price()) / s.best_price() < 5e-4:  # within 5 bps of the top
                top_hits += 1
            changes += 1
            s.set_level(p, q)
        assert not book.is_crossed()
        assert MIN_LEVELS <= len(book.bids) <= MAX_LEVELS and MIN_LEVELS <= len(book.asks) <= MAX_LEVELS
    assert top_hits / changes > 0.5  # most activity is at the top of the book, as on real venues
    assert book.to_dict() == {"bids": [tuple(x) for x in m.snapshot()[0]], "asks": [tuple(x) for x in m.snapshot()[1]]}


def test_crunch_episodes_drain_depth_and_widen_spread():
    fair, m = _market()
    book = OrderBook()
    book.load_snapshot(*m.snapshot())
    normal, crunch = [], []
    for i in range(6000):
        fair.step()
        for side, p, q in m.step():
            book.side(side).set_level(p, q)
        if i % 10 == 0:
            s = compute_sample(book, "binance", "BTCUSDT", 0, [10], [100_000.0])
            (crunch if m.crunch_left else normal).append((s.spread_bps, s.depth_bid[10] + s.depth_ask[10],
                                                         s.slippage[0].slippage_bps))
    assert m.crunches >= 2 and crunch
    med = [statistics.median(x) for x in zip(*normal, strict=True)]
    cmed = [statistics.median(x) for x in zip(*crunch, strict=True)]
    assert cmed[0] > 3 * med[0]  # spread jumps
    assert cmed[1] < 0.6 * med[1]  # depth near the mid drains
    assert cmed[2] > 1.5 * med[2]  # slippage jumps


def test_fault_plan_consumes_only_what_fired():
    plan = FaultPlan()
    f = plan.schedule("drop", "binance", "BTCUSDT", count=2)
    assert plan.peek({FaultKind.DROP}, "binance", "ETHUSDT") is None
    assert plan.peek({FaultKind.MALFORMED}, "binance", "BTCUSDT") is None
    plan.consume(plan.peek({FaultKind.DROP}, "binance", "BTCUSDT"), "BTCUSDT")
    assert plan.pending() == [f] and f.count == 1
    plan.consume(f, "BTCUSDT")
    assert plan.pending() == [] and plan.fired == [(FaultKind.DROP, "binance", "BTCUSDT")] * 2
    a = FaultPlan(random_rate=0.5, random_kinds=(FaultKind.DROP,))
    for _ in range(20):
        a.roll("binance", "BTCUSDT")
    assert 0 < len(a.pending()) < 20


async def test_server_routes_by_path_and_rejects_unknown(sim_factory):
    sim = await sim_factory({"binance": ["BTCUSDT"]})
    base = f"ws://127.0.0.1:{sim.server.port}"
    async with connect(f"{base}/nowhere/ws") as ws:
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1008
    async with connect(f"{base}/binance/ws-api/v3") as ws:
        await ws.send('{"id":"x1","method":"depth","params":{"symbol":"BTCUSDT","limit":3}}')
        reply = await ws.recv()
        assert '"status":200' in reply and '"rateLimits"' in reply and reply.count("],[") == 4
    assert (await http_get(f"http://127.0.0.1:{sim.server.port}/binance/nope"))[0] == 404
    assert (await http_get(f"http://127.0.0.1:{sim.server.port}/binance/api/v3/depth?symbol=BTCUSDT"))[0] == 200
